import { describe, expect, it } from 'vitest'
import { findCommandText } from '../../src/core/command-text.js'

const text = (argv: string[], stdin = false): string | null => findCommandText(argv, stdin)

describe('command text: programs that run a string', () => {
  const strings: string[][] = [
    ['sh', '-c', 'n""senter -t 1'],
    ['/bin/sh', '-c', 'id'],
    ['bash', '-ec', 'id'],
    ['bash', '-xc', 'id'],
    ['bash', '-o', 'errexit', '-c', 'id'],
    ['dash', '-c', 'id'],
    ['ash', '-c', 'id'],
    ['zsh', '-c', 'id'],
    ['ksh', '-c', 'id'],
    ['busybox', 'sh', '-c', 'id'],
    ['/bin/busybox', 'ash', '-c', 'id'],
    ['env', 'sh', '-c', 'id'],
    ['env', '-i', 'PATH=/bin', '/bin/sh', '-c', 'id'],
    ['env', '-S', 'sh -c id'],
    ['nice', '-n', '5', 'sh', '-c', 'id'],
    ['timeout', '5', 'bash', '-c', 'id'],
    ['chroot', '/', 'sh', '-c', 'id'],
    ['nohup', 'setsid', 'sh', '-c', 'id'],
    ['find', '/', '-exec', 'sh', '-c', 'id', ';'],
    ['/lib/ld-musl-x86_64.so.1', '/bin/sh', '-c', 'id'],
    ['fish', '--command=id'],
    ['/bin/bash-static', '-c', 'id'],
    ['/bin/sh.distrib', '-c', 'id'],
    ['bash5', '-c', 'id'],
    ['python3', '-c', 'import os'],
    ['python', '-Ic', 'import os'],
    ['/usr/bin/python3.11', '-c', 'x'],
    ['perl', '-e', 'system 1'],
    ['perl', '-lne', 'print'],
    ['perl', '-E', 'say 1'],
    ['ruby', '-e', 'x'],
    ['node', '-e', 'x'],
    ['node', '-p', 'x'],
    ['node', '--eval', 'x'],
    ['nodejs', '--eval=x'],
    ['php', '-r', 'system("id");'],
    ['lua', '-e', 'os.execute("id")'],
    ['lua5.4', '-e', 'x'],
    ['awk', 'BEGIN{system("id")}'],
    ['gawk', '-F:', '{print}'],
    ['busybox', 'awk', 'BEGIN{}'],
    ['awk', '-vf=1', 'BEGIN{system("id")}'],
    ['awk', '-f', 'prog.awk', '-e', 'BEGIN{system("id")}'],
    ['sed', '1e id', '/etc/hostname'],
    ['su', '-c', 'id'],
    ['su', 'root', '--command=id'],
    ['runuser', '-u', 'root', '-c', 'id'],
    ['flock', '/tmp/l', '-c', 'id'],
    ['script', '-qc', 'id'],
    ['watch', '-n1', 'id'],
    ['capsh', '--', '-c', 'id'],
    ['sudo', '-s'],
    ['expect', '-c', 'spawn sh'],
    ['vim', '-es', '-c', '!id', '-c', 'q'],
    ['vi', '+!id'],
    ['tar', '-cf', '/dev/null', '/etc', '--checkpoint=1', '--checkpoint-action=exec=id'],
    ['tar', '-xf', 'a.tar', '--to-command=id'],
    ['rsync', '-e', 'sh -c id', 'a', 'b:c'],
    ['ssh', '-oProxyCommand=id', 'x'],
    ['ssh', '-o', 'ProxyCommand=id', 'x'],
    ['git', '-c', 'core.pager=id', 'log'],
    ['make', '--eval=x:;id'],
    ['at', 'now']
  ]
  for (const argv of strings) {
    it(`${JSON.stringify(argv)} is command text`, () => {
      expect(text(argv)).not.toBeNull()
    })
  }
})

describe('command text: shells and interpreters reading stdin', () => {
  const stdinShells: string[][] = [
    ['sh'], ['/bin/sh'], ['bash', '-i'], ['bash', '-s', 'x'], ['sh', '-'], ['bash', '-o', 'vi'], ['bash', '--rcfile', 'x'],
    ['python3'], ['python3', '-'], ['python3', '-i', 'x.py'], ['python3', '-m', 'code'], ['python3', '-W', 'ignore'],
    ['perl'], ['ruby'], ['node'], ['node', '-r', 'mod'], ['php'], ['lua'], ['irb'], ['tclsh'], ['vi'], ['ed'], ['gdb'],
    ['xargs', 'ls'], ['su'], ['env', 'nice', 'sh'], ['busybox', 'sh']
  ]
  for (const argv of stdinShells) {
    it(`${JSON.stringify(argv)} with stdin reads command text`, () => {
      expect(text(argv, true)).not.toBeNull()
    })
  }
})

describe('not command text', () => {
  const plain: Array<[string[], boolean]> = [
    [['ls', '/'], false],
    [['ls', '/'], true],
    [['cat', '/etc/hostname'], false],
    [['id'], false],
    [['sh', '/opt/script.sh'], false],
    [['sh', '/opt/script.sh'], true],
    [['bash', '-e', '/opt/script.sh'], true],
    [['bash', '-o', 'errexit', '/opt/x.sh'], true],
    [['python3', 'app.py'], true],
    [['python3', '-m', 'http.server'], false],
    [['python3', '-W', 'ignore', 'app.py'], true],
    [['node', 'server.js'], true],
    [['awk', '-f', 'prog.awk', 'file'], false],
    [['sleep', '600'], false],
    [['ls', '/bin/sh'], false],
    [['grep', '-c', 'sh', 'file'], false],
    [['tar', 'xf', '-'], true],
    [['cat'], true],
    [['sudo', '-u', 'www', 'id'], false],
    [['watch', '-x', 'ls'], false],
    [['tar', '-xf', 'a.tar', '-C', '/tmp'], false],
    [['git', 'status'], false],
    [['ssh', '-p', '22', 'host'], false]
  ]
  for (const [argv, stdin] of plain) {
    it(`${JSON.stringify(argv)}${stdin ? ' with stdin' : ''} is not command text`, () => {
      expect(text(argv, stdin)).toBeNull()
    })
  }
})
