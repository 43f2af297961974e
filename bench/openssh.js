// The reference the bridge's throughput is held to (issue 12, item 7): Debian's OpenSSH sshd, on a free loopback
// port, in a mount namespace of its own. Everything it reads or writes is in `dir`: its config, host key,
// authorized_keys, pid file and log. Its privilege-separation dir /run/sshd is a tmpfs inside the namespace
// (over /run itself when the host has no /run/sshd), so the host's /etc/ssh, /run and any system sshd are never
// touched. It is stopped by its pid only.

import { execFile, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { killPids, onProcessEnd, signalAndWait } from './cleanup.js'
import { freeLoopbackPort, waitForTcp } from './loopback.js'

const SSHD_BINARY = '/usr/sbin/sshd'
export const SCRIPT_BINARY = '/usr/bin/script'
const UNSHARE = '/usr/bin/unshare'
const SSH_KEYGEN = '/usr/bin/ssh-keygen'
const SSHD_INSTALL = 'apt-get install -y --no-install-recommends openssh-server (or `make system-deps`)'

/** Throws, saying how to get them, unless sshd, script and unshare are installed. */
export function checkOpensshReference () {
  if (!existsSync(SSHD_BINARY)) {
    throw new Error(`${SSHD_BINARY} does not exist: the OpenSSH reference needs Debian's openssh-server; install it with ${SSHD_INSTALL}, or run with --skip-sshd`)
  }
  for (const program of [SCRIPT_BINARY, UNSHARE]) {
    if (!existsSync(program)) throw new Error(`${program} does not exist; install util-linux, or run with --skip-sshd`)
  }
}

/**
 * Starts sshd in `dir` (which the caller owns and removes), letting in `clientPublicKey` as root, and resolves once
 * it listens. `stop()` ends it, and whatever its sessions left running, by pid.
 */
export async function startOpensshd ({ dir, clientPublicKey }) {
  await mkdir(dir, { recursive: true })
  const port = await freeLoopbackPort()
  const hostKey = path.join(dir, 'ssh_host_ed25519_key')
  await rm(hostKey, { force: true }) // ssh-keygen would ask before replacing one
  await promisify(execFile)(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench-sshd', '-f', hostKey])
  const authorizedKeys = path.join(dir, 'authorized_keys')
  await writeFile(authorizedKeys, `restrict ${clientPublicKey.trim()}\n`, { mode: 0o600 })
  const config = path.join(dir, 'sshd_config')
  const logFile = path.join(dir, 'sshd.log')
  // No Include, no PAM, no rc files, no motd: only this file decides.
  await writeFile(config, [
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${hostKey}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    // The keys are in a dir under /tmp, which is world-writable.
    'StrictModes no',
    'AllowUsers root',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'PermitUserRC no',
    'PermitUserEnvironment no',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'AllowAgentForwarding no',
    'PermitTunnel no',
    'LogLevel INFO',
    ''
  ].join('\n'))

  const privsep = existsSync('/run/sshd')
    ? 'mount -t tmpfs -o mode=0755,size=1m bench-sshd /run/sshd'
    : 'mount -t tmpfs -o mode=0755,size=1m bench-sshd /run && mkdir -m 0755 /run/sshd'
  // unshare and sh exec in place: the pid spawned is sshd's.
  const logFd = openSync(logFile, 'a')
  let child
  try {
    child = spawn(UNSHARE, ['--mount', '--propagation', 'private', '/bin/sh', '-c', `${privsep} && exec "$0" -D -f "$1" -E "$2"`, SSHD_BINARY, config, logFile], { stdio: ['ignore', logFd, logFd] })
  } finally {
    closeSync(logFd)
  }
  child.once('error', () => {})
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not start ${UNSHARE} for ${SSHD_BINARY}`)
  // Its sessions (`sshd: root@notty`, the shell, script, the docker CLI) are found as its descendants and ended
  // first, so that sshd reaps them: once it is gone they would belong to init.
  const cancelSafetyNet = onProcessEnd(() => killPids([...descendantsOf(pid), pid]))
  const stop = async () => {
    try {
      const sessions = descendantsOf(pid)
      if (sessions.length > 0) {
        killPids(sessions)
        await sleep(200)
      }
      if (!(await signalAndWait(child, 'SIGTERM', 5_000))) await signalAndWait(child, 'SIGKILL', 5_000)
    } finally {
      cancelSafetyNet()
    }
  }
  const exited = new Promise((resolve, reject) => child.once('exit', (code, signal) => reject(new Error(`sshd exited (${code ?? signal})`))))
  exited.catch(() => {}) // after the start, its end is stop()'s business
  try {
    await Promise.race([waitForTcp(port, logFile), exited])
  } catch (err) {
    await stop()
    const log = await readFile(logFile, 'utf8').catch(() => '')
    throw new Error(`${err.message.replace('the SSH bridge', 'sshd')}; its log:\n${log.trim().split('\n').slice(-10).join('\n')}`)
  }
  const publicHostKey = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ')
  return { port, pid, logFile, knownHostsLine: `[127.0.0.1]:${port} ${publicHostKey}`, stop }
}

/** Pids of the live descendants of `root`, from the parent pids in /proc. */
function descendantsOf (root) {
  const children = new Map()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // exited while we looked
    }
    // The command name is in parentheses and may hold spaces; the parent pid is the second field after it.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (!children.has(ppid)) children.set(ppid, [])
    children.get(ppid).push(Number(entry))
  }
  const found = []
  const queue = [root]
  while (queue.length > 0) {
    for (const pid of children.get(queue.shift()) ?? []) {
      found.push(pid)
      queue.push(pid)
    }
  }
  return found
}
