// authorized_keys options on the SSH bridge mean what sshd(8) says they mean: the real OpenSSH client logs in from
// 127.0.0.1 with keys whose options allow or refuse that, into a real dockerd, and the audit trail says why.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDirSync, runPortcullisCli, type Stack } from '../helpers/index.js'
import { startBridgeStack } from '../helpers/bridge-stack.js'
import { auditRecords } from '../helpers/audit.js'
import { makeSshKey, runSsh, sshArgs, SSH_CLIENT, TmuxSession, type SshKey, type SshOptions } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'
import { waitFor, waitUntil } from '../helpers/wait.js'

const examplePolicy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))

/** alice's keys, each with the options in front of it in the policy. */
const OPTIONS = {
  plain: '',
  fromElsewhere: 'from="10.9.9.9",command="/bin/false"',
  fromLoopback: 'from="127.0.0.0/8"',
  fromNegated: 'from="!127.0.0.1,127.0.0.0/8"',
  fromNegatedElsewhere: 'from="!10.0.0.0/8,127.0.0.*"',
  forced: 'command="echo forced-ran orig=$SSH_ORIGINAL_COMMAND"',
  noPty: 'no-pty',
  expired: 'expiry-time="20200101"',
  notYetExpired: 'expiry-time="29991231Z"',
  restrict: 'restrict',
  restrictPty: 'restrict,pty'
} as const
type KeyName = keyof typeof OPTIONS

let stack: Stack
let keysDir: string
let port: number
let knownHosts: string
const keys = {} as Record<KeyName, SshKey>
let policy: Record<string, any>

function ssh (keyName: KeyName, tty?: boolean | 'force', extra: string[] = []): SshOptions {
  return { port, login: 'alice+pay-1', keyPath: keys[keyName].privatePath, knownHosts, tty, extra }
}

/** `SHA256:…` of a public key line, as ssh-keygen -l and the audit records write it. */
function fingerprint (keyName: KeyName): string {
  const base64 = keys[keyName].publicLine.split(' ')[1]!
  return 'SHA256:' + createHash('sha256').update(Buffer.from(base64, 'base64')).digest('base64').replace(/=+$/, '')
}

const POLL = { timeoutMs: 15_000, intervalMs: 200 }

/** The refused-login record for a key, written when the refused connection closes. */
function refusedLoginOf (keyName: KeyName): Promise<Record<string, any>> {
  return waitFor(`the refused login of key ${keyName}`, async () => (await auditRecords(stack.plugin)).find((r) =>
    r.action === 'session.denied' && r.code === 'SSH_KEY_RESTRICTED' &&
    (r.fields?.refusedKeys as Array<{ key: string }> | undefined)?.some((k) => k.key === fingerprint(keyName))), POLL)
}

async function sessionStartOf (marker: string): Promise<Record<string, any>> {
  return waitFor(`the session.start with ${marker}`, async () => (await auditRecords(stack.plugin)).findLast((r) => r.action === 'session.start' && JSON.stringify(r.fields).includes(marker)), POLL)
}

beforeAll(async () => {
  keysDir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-key-options-'))
  for (const name of Object.keys(OPTIONS) as KeyName[]) keys[name] = await makeSshKey(keysDir, 'ed25519', name)
  port = await freeTcpPort()
  policy = structuredClone(examplePolicy)
  policy.users.alice.sshKeys = (Object.keys(OPTIONS) as KeyName[]).map((name) => `${OPTIONS[name]} ${keys[name].publicLine}`.trim())
  ;({ stack, knownHosts } = await startBridgeStack({ policy, users: ['alice', 'carol', 'ops'], importAs: 'ops', dir: keysDir, port }))
})

afterAll(async () => {
  await stack?.stop()
  if (keysDir !== undefined) removeDirSync(keysDir)
})

describe('from="pattern-list"', () => {
  it('a key limited to another address does not log in from 127.0.0.1, and its command= never runs (the issue\'s key)', async () => {
    const result = await runSsh(ssh('fromElsewhere'), 'echo ran-anyway')
    expect(result.code).toBe(255)
    expect(result.stderr).toMatch(/Permission denied \(publickey\)/)
    expect(result.stdout.toString()).toBe('')
  })

  it('the refusal is recorded as a refused login naming the key, the address and the option', async () => {
    const record = await refusedLoginOf('fromElsewhere')
    expect(record).toMatchObject({ user: 'alice', decision: 'deny', code: 'SSH_KEY_RESTRICTED' })
    expect(record.reason).toBe(`SSH login as "alice+pay-1" refused: key ${fingerprint('fromElsewhere')} is restricted by from="10.9.9.9": the key may not log in from 127.0.0.1`)
    expect(record.fields.client).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(record.fields.refusedKeys).toEqual([
      { key: fingerprint('fromElsewhere'), login: 'alice+pay-1', option: 'from', value: 'from="10.9.9.9"', detail: 'the key may not log in from 127.0.0.1' }
    ])
  })

  it('a key limited to 127.0.0.0/8 logs in from 127.0.0.1', async () => {
    const result = await runSsh(ssh('fromLoopback'), 'echo in-from-loopback')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.toString()).toBe('in-from-loopback\n')
  })

  it('a negated entry that matches refuses the key even though a later entry matches too', async () => {
    const result = await runSsh(ssh('fromNegated'), 'echo ran-anyway')
    expect(result.code).toBe(255)
    expect(result.stdout.toString()).toBe('')
    const record = await refusedLoginOf('fromNegated')
    expect(record.fields.refusedKeys[0]).toMatchObject({ option: 'from', value: 'from="!127.0.0.1,127.0.0.0/8"' })
  })

  it('a negated entry that does not match refuses nothing: the wildcard entry lets the key in', async () => {
    const result = await runSsh(ssh('fromNegatedElsewhere'), 'echo in-past-negation')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.toString()).toBe('in-past-negation\n')
  })
})

describe('command="..."', () => {
  it('runs the forced command instead of the one asked for, which the program finds in SSH_ORIGINAL_COMMAND', async () => {
    const result = await runSsh(ssh('forced'), 'cat /etc/hostname; echo asked-for-ran')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.toString()).toBe('forced-ran orig=cat /etc/hostname; echo asked-for-ran\n')
  })

  it('records the forced command as the session\'s command and what the client asked for as originalCommand', async () => {
    const start = await sessionStartOf('asked-for-ran')
    expect(start.fields).toMatchObject({
      command: ['echo forced-ran orig=$SSH_ORIGINAL_COMMAND'],
      originalCommand: 'cat /etc/hostname; echo asked-for-ran',
      exec: ['/bin/sh', '-c', 'echo forced-ran orig=$SSH_ORIGINAL_COMMAND'],
      key: fingerprint('forced')
    })
  })

  it('replaces a shell request too: a login without a command runs the forced command, recorded with originalCommand null', async () => {
    const result = await runSsh(ssh('forced', 'force'))
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.toString()).toBe('forced-ran orig=\r\n')
    const starts = (await auditRecords(stack.plugin)).filter((r) => r.action === 'session.start' && r.fields?.key === fingerprint('forced'))
    expect(starts.at(-1)?.fields).toMatchObject({ command: ['echo forced-ran orig=$SSH_ORIGINAL_COMMAND'], originalCommand: null, tty: true })
  })

  it('a client cannot set SSH_ORIGINAL_COMMAND itself to mislead the forced program', async () => {
    const result = await runSsh({ ...ssh('forced'), extra: ['-o', 'SetEnv=SSH_ORIGINAL_COMMAND=forged'] }, 'true')
    expect(result.stdout.toString()).toBe('forced-ran orig=true\n')
  })
})

describe('no-pty, restrict and pty', () => {
  it('no-pty: an interactive login\'s terminal request is refused, and the shell runs without one', async () => {
    const tmux = await TmuxSession.start('key-no-pty', [SSH_CLIENT, ...sshArgs(ssh('noPty'))], { width: 100, height: 30 })
    try {
      await tmux.waitFor(/PTY allocation request failed/)
      await tmux.type('tty; echo "no-pty-$((6*7))"')
      await tmux.sendKeys('Enter')
      await tmux.waitFor(/^not a tty\nno-pty-42$/m)
      await tmux.type('exit')
      await tmux.sendKeys('Enter')
      expect((await tmux.waitForExit()).status).toBe(0)
    } finally {
      await tmux.kill()
    }
    const starts = (await auditRecords(stack.plugin)).filter((r) => r.action === 'session.start' && r.fields?.key === fingerprint('noPty'))
    expect(starts.at(-1)?.fields).toMatchObject({ tty: false, command: null })
  })

  it('no-pty: a terminal the client insists on (-tt) is refused, and OpenSSH then gives up before running anything', async () => {
    const result = await runSsh(ssh('noPty', 'force'), 'echo ran-anyway')
    expect(result.code).toBe(255)
    expect(result.stderr).toMatch(/PTY allocation request failed/)
    expect(result.stdout.toString()).toBe('')
  })

  it('no-pty: a command without a terminal runs as usual', async () => {
    const result = await runSsh(ssh('noPty', false), 'tty; echo no-pty-command')
    expect(result.stdout.toString()).toBe('not a tty\nno-pty-command\n')
  })

  it('a key without options gets its terminal', async () => {
    const result = await runSsh(ssh('plain', 'force'), 'tty')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.toString()).toMatch(/^\/dev\/pts\/\d+\r\n$/)
  })

  it('restrict: no terminal', async () => {
    const result = await runSsh(ssh('restrict', 'force'), 'echo ran-anyway')
    expect(result.code).toBe(255)
    expect(result.stderr).toMatch(/PTY allocation request failed/)
    expect(result.stdout.toString()).toBe('')
    const command = await runSsh(ssh('restrict', false), 'tty; echo restricted')
    expect(command.stdout.toString()).toBe('not a tty\nrestricted\n')
  })

  it('restrict,pty: the terminal is given back', async () => {
    const result = await runSsh(ssh('restrictPty', 'force'), 'tty')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.toString()).toMatch(/^\/dev\/pts\/\d+\r\n$/)
  })
})

describe('forwarding is refused to every key, so no-port-forwarding and the rest hold trivially', () => {
  it.each(['plain', 'restrict'] as const)('a remote forward (-R) is refused for the %s key', async (keyName) => {
    const result = await runSsh(ssh(keyName, false, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9']))
    expect(result.code).toBe(255)
    expect(result.stderr).toMatch(/remote port forwarding failed/)
  })

  it.each(['plain', 'restrict'] as const)('a local forward (-L) is refused at the bridge for the %s key', async (keyName) => {
    const localPort = await freeTcpPort()
    // -v: ssh reports a refused channel at INFO level, which the helper's LogLevel=ERROR hides.
    const child = spawn(SSH_CLIENT, sshArgs(ssh(keyName, false, ['-v', '-N', '-L', `${localPort}:127.0.0.1:${port}`])), { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    try {
      // Once ssh listens, a connection to the forwarded port asks the bridge for a direct-tcpip channel.
      await waitFor('the forwarded port', () => new Promise<true | undefined>((resolve) => {
        const socket = net.connect(localPort, '127.0.0.1')
        socket.on('connect', () => { socket.on('close', () => resolve(true)); socket.resume() })
        socket.on('error', () => resolve(undefined))
      }), POLL)
      // The target is the bridge's own port, which listens: a forward the bridge carried out would connect.
      await waitUntil('ssh\'s report of the refused channel', () => /channel \d+: open failed/.test(stderr), POLL)
    } finally {
      child.kill('SIGTERM')
    }
  })
})

describe('expiry-time="timespec"', () => {
  it('an expired key is refused and the refusal recorded with the option', async () => {
    const result = await runSsh(ssh('expired'), 'echo ran-anyway')
    expect(result.code).toBe(255)
    expect(result.stdout.toString()).toBe('')
    const record = await refusedLoginOf('expired')
    expect(record.fields.refusedKeys).toEqual([{
      key: fingerprint('expired'), login: 'alice+pay-1', option: 'expiry-time', value: 'expiry-time="20200101"', detail: expect.stringMatching(/^the key expired at 20(19-12-31|20-01-01)T/)
    }])
  })

  it('a key whose expiry is ahead logs in', async () => {
    const result = await runSsh(ssh('notYetExpired'), 'echo not-expired')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.toString()).toBe('not-expired\n')
  })
})

describe('options the bridge does not carry out are refused, never ignored', () => {
  const invalid = (): Record<string, any> => {
    const doc = structuredClone(policy)
    doc.users.alice.sshKeys = [...doc.users.alice.sshKeys, `environment="LD_PRELOAD=/tmp/evil.so" ${keys.plain.publicLine}`]
    return doc
  }

  it('`policy validate` names the JSON path of the key and the option', async () => {
    const file = path.join(keysDir, 'policy-invalid.json')
    await writeFile(file, JSON.stringify(invalid(), null, 2))
    const result = await runPortcullisCli(['policy', 'validate', '--config', file])
    expect(result.code).not.toBe(0)
    const index = Object.keys(OPTIONS).length
    expect(result.stderr).toContain(`$.users.alice.sshKeys[${index}]: The option environment is not supported`)
  })

  it('`policy validate` refuses a private key pasted by mistake, without printing it', async () => {
    const file = path.join(keysDir, 'policy-private.json')
    const privateKey = await readFile(keys.plain.privatePath, 'utf8')
    const doc = structuredClone(policy)
    doc.users.carol.sshKeys = [privateKey]
    await writeFile(file, JSON.stringify(doc, null, 2))
    const result = await runPortcullisCli(['policy', 'validate', '--config', file])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain('$.users.carol.sshKeys[0]: This is a PRIVATE key: never put it in the policy')
    expect(result.stderr + result.stdout).not.toContain(privateKey.split('\n')[1]!.slice(0, 20))
  })

  it('a reload with such a key is refused and recorded; the last good policy keeps working', async () => {
    await writeFile(stack.policyFile, JSON.stringify(invalid(), null, 2))
    const reload = await runPortcullisCli(['policy', 'reload', '--admin-socket', stack.plugin.adminSocket])
    expect(reload.code).toBe(1)
    expect(reload.stderr).toMatch(/\$\.users\.alice\.sshKeys\[\d+\]: The option environment is not supported/)
    const failed = await waitFor('the policy.reload-failed record', async () => (await auditRecords(stack.plugin)).findLast((r) => r.action === 'policy.reload-failed'), POLL)
    expect(failed.reason).toMatch(/sshKeys\[\d+\]: The option environment is not supported/)
    const result = await runSsh(ssh('plain'), 'echo still-in')
    expect(result.stdout.toString()).toBe('still-in\n')
    await writeFile(stack.policyFile, JSON.stringify(policy, null, 2))
  })
})
