// Login floods against the SSH bridge: connections are counted and timed from TCP accept, bounded per source and
// in total (sshd's MaxStartups, PerSourceMaxStartups, LoginGraceTime), the process keeps descriptors in reserve for
// the plugin and the store, and refusals are recorded without becoming a flood of records. The attacker is this
// test's own sockets bound to other loopback addresses (127.0.0.2 and up); the honest user is the real OpenSSH
// client from 127.0.0.1, against a real `portcullis serve` and a real dockerd.
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectOk, removeDirSync, TEST_IMAGE, type Stack } from '../helpers/index.js'
import { startBridgeStack } from '../helpers/bridge-stack.js'
import { auditRecords, type Record as AuditRecord } from '../helpers/audit.js'
import { makeSshKey, runSsh, type SshKey, type SshOptions } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'
import { waitUntil } from '../helpers/wait.js'

const run = promisify(execFile)
const examplePolicy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack
let keysDir: string
let port: number
let knownHosts: string
let alice: SshKey
let policy: Record<string, any>
/** Connections each attacking source saw the server close (not the test): what the records must add up to. */
const closedByServer = new Map<string, number>()

const honest = (): SshOptions => ({ port, login: 'alice+pay-1', keyPath: alice.privatePath, knownHosts, tty: false })

async function setBridge (settings: Record<string, unknown>): Promise<void> {
  policy.bridge = { enabled: true, listen: `127.0.0.1:${port}`, hostname: 'dockerhost', ...settings }
  await writeFile(stack.policyFile, JSON.stringify(policy, null, 2))
  const since = await stack.plugin.logOffset()
  stack.plugin.reload()
  await stack.plugin.waitForLog(/policy reloaded/, { since })
}

/** Attacking TCP connections from `source`: some send an SSH banner and then nothing, the others nothing at all. */
class Flood {
  readonly sockets: net.Socket[] = []
  readonly closedByServer = new Set<net.Socket>()
  connectFailures = 0
  #ours = new Set<net.Socket>()

  constructor (readonly source: string) {}

  async open (count: number, banner: (i: number) => boolean): Promise<void> {
    await Promise.all(Array.from({ length: count }, (_, i) => new Promise<void>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress: this.source })
      this.sockets.push(socket)
      socket.on('error', () => {})
      socket.on('data', () => {})
      let connected = false
      socket.once('connect', () => {
        connected = true
        if (banner(i)) socket.write('SSH-2.0-OpenSSH_9.2p1 flood\r\n')
        resolve()
      })
      socket.once('close', () => {
        if (!connected) this.connectFailures++
        if (!this.#ours.has(socket)) {
          this.closedByServer.add(socket)
          closedByServer.set(this.source, (closedByServer.get(this.source) ?? 0) + 1)
        }
        resolve()
      })
    })))
  }

  get held (): number {
    return this.sockets.filter((s) => !s.destroyed && !this.closedByServer.has(s)).length
  }

  close (): void {
    for (const socket of this.sockets) {
      if (!socket.destroyed) this.#ours.add(socket)
      socket.destroy()
    }
  }
}

function refusalRecords (records: AuditRecord[], source: string): AuditRecord[] {
  return records.filter((r) => r.action === 'bridge.refused' && r.fields?.source === source)
}

beforeAll(async () => {
  keysDir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-flood-keys-'))
  alice = await makeSshKey(keysDir, 'ed25519', 'alice')
  port = await freeTcpPort()
  policy = structuredClone(examplePolicy)
  policy.users.alice.sshKeys = [alice.publicLine]
  // A grace time longer than any test step, so what is held stays held until a test shortens it.
  ;({ stack, knownHosts } = await startBridgeStack({ policy, users: ['alice', 'carol', 'ops'], importAs: 'ops', dir: keysDir, port, bridge: { loginGraceTime: '5m' } }))
})

afterAll(async () => {
  await stack?.stop()
  if (keysDir !== undefined) removeDirSync(keysDir)
})

describe('connections are counted from TCP accept, per source', () => {
  it('an honest user logs in while one address holds 200 silent connections and 64 that sent a banner and went quiet', async () => {
    const attacker = new Flood('127.0.0.2')
    try {
      await attacker.open(264, (i) => i % 4 === 0)
      // perSourceMaxStartups (10) places are held; every other connection from there is closed at accept.
      await waitUntil('the server closes all but 10 of the attacker\'s connections', () => attacker.closedByServer.size >= 254, { timeoutMs: 30_000 })
      expect(attacker.connectFailures).toBe(0)
      expect(attacker.held).toBe(10)

      const result = await runSsh(honest(), 'echo honest-in')
      expect(result.stderr).toBe('')
      expect(result.stdout.toString()).toBe('honest-in\n')
      expect(result.code).toBe(0)
      // The attacker's places were held all along.
      expect(attacker.held).toBe(10)
    } finally {
      attacker.close()
    }
    const burst = refusalRecords(await auditRecords(stack.plugin), '127.0.0.2')
    expect(burst[0]).toMatchObject({ kind: 'system', decision: 'deny', code: 'SSH_CONNECTION_REFUSED', fields: { source: '127.0.0.2', count: 1, reasons: { 'per-source': 1 } } })
  })
})

describe('login grace time', () => {
  it('closes a connection that has not logged in within bridge.loginGraceTime of accept, whether or not it sent a banner', async () => {
    await setBridge({ loginGraceTime: '2s' })
    const quiet = new Flood('127.0.0.3')
    try {
      await quiet.open(8, (i) => i % 2 === 0)
      expect(quiet.connectFailures).toBe(0)
      // Generous bound: 2 s of grace, on a busy machine.
      await waitUntil('every quiet connection is closed by the server', () => quiet.closedByServer.size === 8, { timeoutMs: 20_000 })
    } finally {
      quiet.close()
    }
    const records = refusalRecords(await auditRecords(stack.plugin), '127.0.0.3')
    expect(records[0]).toMatchObject({ code: 'SSH_CONNECTION_REFUSED', fields: { count: 1, reasons: { 'login-grace': 1 } } })
    await setBridge({ loginGraceTime: '5m' })
  })
})

describe('many attacking addresses', () => {
  it('fill every place only until the grace time: then their sources are shut out and an honest user gets in', async () => {
    // A small total so three addresses fill it: 5 each from 127.0.0.5-7 is 15, full.
    // The grace time leaves room for the locked-out login below on a busy machine.
    await setBridge({ maxStartups: '15', perSourceMaxStartups: 5, loginGraceTime: '8s' })
    const attackers = ['127.0.0.5', '127.0.0.6', '127.0.0.7'].map((source) => new Flood(source))
    try {
      for (const attacker of attackers) await attacker.open(5, (i) => i % 2 === 0)
      expect(attackers.map((a) => a.held)).toEqual([5, 5, 5])
      const lockedOut = await runSsh(honest(), 'echo in')
      expect(lockedOut.code).toBe(255)
      // Generous bound: 8 s of grace, on a busy machine.
      await waitUntil('the grace time closes the attackers\' connections', () => attackers.every((a) => a.closedByServer.size === 5), { timeoutMs: 30_000 })

      // 5 expired connections are 50 s of penalty for each source: reconnecting is refused at accept.
      for (const attacker of attackers) await attacker.open(5, () => true)
      await waitUntil('the bridge refuses the shut-out sources at accept', () => attackers.every((a) => a.closedByServer.size === 10), { timeoutMs: 20_000 })
      const result = await runSsh(honest(), 'echo honest-in')
      expect(result.stdout.toString()).toBe('honest-in\n')
      expect(result.code).toBe(0)
    } finally {
      for (const attacker of attackers) attacker.close()
      await setBridge({ loginGraceTime: '5m' })
    }
    const records = await auditRecords(stack.plugin)
    for (const source of ['127.0.0.5', '127.0.0.6', '127.0.0.7']) {
      expect(refusalRecords(records, source)[0], source).toMatchObject({ fields: { count: 1, reasons: { 'login-grace': 1 } } })
    }
  })
})

describe('descriptor reserve', () => {
  it('under a 256-descriptor limit, a flood the startup limits let through leaves the plugin deciding and the store writing', async () => {
    const pid = stack.plugin.pid!
    const limitsBefore = readFileSync(`/proc/${pid}/limits`, 'utf8')
    const before = /Max open files\s+(\d+)\s+(\d+)/.exec(limitsBefore)!
    const openAtStart = readdirSync(`/proc/${pid}/fd`).length
    expect(openAtStart).toBeLessThan(150)
    // Startup limits out of the way: only the descriptor reserve stands between the flood and the limit.
    await setBridge({ maxStartups: '5000', perSourceMaxStartups: 5000, loginGraceTime: '5m' })
    // The soft limit only: raising a hard limit again needs a capability the test may not have.
    await run('prlimit', ['--pid', String(pid), `--nofile=256:${before[2]}`])
    const attacker = new Flood('127.0.0.4')
    try {
      await attacker.open(600, (i) => i % 2 === 0)
      expect(attacker.connectFailures).toBe(0)
      // The reserve is a quarter of the limit (64): the bridge stops taking connections at 192 open descriptors.
      await waitUntil('the bridge closes what would eat into the reserve', () => attacker.closedByServer.size >= 600 - 192, { timeoutMs: 30_000 })
      expect(readdirSync(`/proc/${pid}/fd`).length).toBeLessThanOrEqual(192 + 4)

      // Docker calls through the plugin are still decided and recorded.
      expectOk(await stack.docker('carol', ['run', '-d', '--network', 'none', '--label', 'portcullis.project=payments', '--name', 'pay-2', TEST_IMAGE, 'sleep', '60']))
      expectOk(await stack.docker('alice', ['ps']))
      const records = await auditRecords(stack.plugin)
      expect(records.some((r) => r.kind === 'decision' && r.user === 'carol' && r.action === 'container.create' && r.decision === 'allow')).toBe(true)
      expect(refusalRecords(records, '127.0.0.4')[0]).toMatchObject({ fields: { count: 1, reasons: { descriptors: 1 } } })
    } finally {
      attacker.close()
      await run('prlimit', ['--pid', String(pid), `--nofile=${before[1]}:${before[2]}`])
      await setBridge({ loginGraceTime: '5m' })
    }
  })
})

describe('refusal records', () => {
  it('are one per source per interval, and their counts add up to every connection the bridge closed before login', async () => {
    // Stopping flushes what was counted and not yet recorded; then the trail is read from the restarted plugin.
    await stack.plugin.restart()
    const records = await auditRecords(stack.plugin)
    const refused = records.filter((r) => r.action === 'bridge.refused')
    for (const [source, closed] of closedByServer) {
      const ofSource = refusalRecords(records, source)
      // First of the burst, at most one per minute while this file ran, and the rest at shutdown.
      expect(ofSource.length, source).toBeGreaterThanOrEqual(1)
      expect(ofSource.length, source).toBeLessThanOrEqual(4)
      expect(ofSource.reduce((sum, r) => sum + (r.fields!.count as number), 0), source).toBe(closed)
    }
    const total = [...closedByServer.values()].reduce((a, b) => a + b, 0)
    expect(total).toBeGreaterThan(600)
    expect(refused.length).toBeLessThanOrEqual(4 * closedByServer.size)
  })

  it('leave honest logins alone', async () => {
    const before = await auditRecords(stack.plugin)
    const result = await runSsh(honest(), 'echo still-in')
    expect(result.code, result.stderr).toBe(0)
    const after = await auditRecords(stack.plugin)
    expect(refusalRecords(after, '127.0.0.1')).toEqual(refusalRecords(before, '127.0.0.1'))
    expect(after.some((r) => r.seq > before.at(-1)!.seq && r.action === 'session.end' && r.user === 'alice')).toBe(true)
  })
})

describe('logged-in connections', () => {
  /** A connection logged in as alice with ssh2's client (OpenSSH cannot hold one open with no session). */
  async function loggedIn (): Promise<{ client: import('ssh2').Client, closed: Promise<void> }> {
    const { default: ssh2 } = await import('ssh2')
    const client = new ssh2.Client()
    const closed = new Promise<void>((resolve) => client.on('close', () => resolve()))
    await new Promise<void>((resolve, reject) => {
      client.on('ready', () => resolve())
      client.on('error', reject)
      client.connect({ host: '127.0.0.1', port, username: 'alice+pay-1', privateKey: readFileSync(alice.privatePath, 'utf8') })
    })
    return { client, closed }
  }

  it('one user holds at most bridge.maxConnectionsPerUser; the next login is closed and recorded once, with a count', async () => {
    await setBridge({ loginGraceTime: '5m', maxConnectionsPerUser: 3 })
    const held = [await loggedIn(), await loggedIn(), await loggedIn()]
    const before = await auditRecords(stack.plugin)
    try {
      for (let i = 0; i < 5; i++) {
        const extra = await loggedIn()
        await extra.closed
      }
      const denied = (await auditRecords(stack.plugin)).filter((r) => r.seq > before.at(-1)!.seq && r.action === 'session.denied' && r.user === 'alice')
      expect(denied).toHaveLength(1)
      expect(denied[0]!.code).toBe('SSH_CONNECTION_REFUSED')
      expect(denied[0]!.reason).toMatch(/already holds 3 SSH connections.*bridge\.maxConnectionsPerUser/)
      // The held ones still work: a session on one of them runs.
      const out = await new Promise<string>((resolve, reject) => held[0]!.client.exec('echo held-works', (err, stream) => {
        if (err !== undefined && err !== null) return reject(err)
        let text = ''
        stream.on('data', (chunk: Buffer) => { text += chunk.toString() }).on('close', () => resolve(text))
      }))
      expect(out).toContain('held-works')
    } finally {
      for (const { client } of held) client.end()
      await setBridge({ loginGraceTime: '5m' })
    }
  })

  it('one connection opens at most bridge.maxSessionsPerConnection sessions at once', async () => {
    await setBridge({ loginGraceTime: '5m', maxSessionsPerConnection: 2 })
    const { client } = await loggedIn()
    try {
      let opened = 0
      const open = (): Promise<string> => new Promise((resolve) => client.exec('sleep 3', (err, stream) => {
        if (err !== undefined && err !== null) return resolve(`refused: ${err.message}`)
        opened++
        stream.on('close', () => resolve('ran')).resume()
      }))
      const first = open()
      const second = open()
      await waitUntil('both sessions open', () => opened === 2)
      expect(await open()).toMatch(/^refused/)
      expect(await Promise.all([first, second])).toEqual(['ran', 'ran'])
      // Once they are done, the connection may open sessions again.
      expect(await open()).toBe('ran')
    } finally {
      client.end()
      await setBridge({ loginGraceTime: '5m' })
    }
  })

  it('a logged-in connection with no session open is closed after the login grace time', async () => {
    await setBridge({ loginGraceTime: '2s' })
    try {
      const { closed } = await loggedIn()
      // A deadline, not a pause: the race ends as soon as the bridge closes the connection.
      const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('still open'), 15_000))])
      expect(outcome).toBe('closed')
    } finally {
      await setBridge({ loginGraceTime: '5m' })
    }
  })
})
