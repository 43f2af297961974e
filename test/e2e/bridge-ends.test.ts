// When a bridge session ends for any reason of portcullis's own (its grant ran out or was revoked, it was idle,
// it reached its maximum length, portcullis is stopping, a policy reload took the access away), the program it
// ran is gone from the container (as `docker top` shows) within 10 s, and the bridge's own look-ups of the exec are
// recorded as the bridge's, never as refused calls "by" the user. Real OpenSSH client, real dockerd, real docker CLI.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectOk, removeDirSync, runPortcullisCli, type Stack } from '../helpers/index.js'
import { startBridgeStack } from '../helpers/bridge-stack.js'
import { auditRecords, type Record as AuditRecord } from '../helpers/audit.js'
import { daemonRequest } from '../helpers/daemon-http.js'
import { makeSshKey, runSsh, sshArgs, SSH_CLIENT, TmuxSession, type SshKey, type SshOptions } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'
import { waitUntil } from '../helpers/wait.js'

/** The documented bound: from the end of a session's access to its program being gone. */
const GONE_WITHIN_MS = 10_000

let stack: Stack
let scratch: string
let url: string
let sshPort: number
let knownHosts: string
let policy: Record<string, any>
const keys: Record<string, SshKey> = {}

const ssh = (login: string, key: string, tty?: boolean | 'force'): SshOptions => ({ port: sshPort, login, keyPath: keys[key]!.privatePath, knownHosts, tty })

const request = async (user: string, args: string[]) => {
  const result = await runPortcullisCli(['request', ...args, '--url', url, '--token', stack.tokens[user]!, '--json'])
  expect(result.code, result.stderr).toBe(0)
  return JSON.parse(result.stdout)
}

/** dave (no role in payments) gets developer there for `ttl`, approved by ops; returns the grant. */
async function grantDave (ttl: string): Promise<{ id: string, request: string, expiresAt: number }> {
  const made = await request('dave', ['create', '--project', 'payments', '--role', 'developer', '--ttl', ttl, '--reason', 'incident 11'])
  const approved = await request('ops', ['approve', made.id])
  return { id: approved.grant.id, request: approved.id, expiresAt: new Date(approved.grant.expiresAt).getTime() }
}

async function processes (): Promise<string> {
  const top = await stack.docker('ops', ['top', 'pay-1', '-o', 'pid,args'])
  expectOk(top)
  return top.stdout
}

/** How the tests look for a process: `docker top` every 100 ms for up to 30 s. */
const POLL = { timeoutMs: 30_000, intervalMs: 100 }

/** Waits until `docker top` no longer shows `marker`; returns when (epoch ms), so the poll is the measurement. Fails past the documented bound. */
async function goneAt (marker: string, since: number): Promise<number> {
  await waitUntil(`${marker} gone from docker top within ${GONE_WITHIN_MS + 5_000} ms of the end`, async () => !(await processes()).includes(marker), {
    timeoutMs: Math.max(0, since + GONE_WITHIN_MS + 5_000 - Date.now()),
    intervalMs: POLL.intervalMs,
    detail: async () => `it still runs ${Date.now() - since} ms after the end:\n${await processes()}`
  })
  return Date.now()
}

async function writePolicy (change: (p: Record<string, any>) => void): Promise<void> {
  change(policy)
  const since = await stack.plugin.logOffset()
  await writeFile(stack.policyFile, JSON.stringify(policy, null, 2))
  stack.plugin.reload()
  await stack.plugin.waitForLog(/policy reloaded/, { since })
}

/** Starts `ssh login command` in the background and waits until the container runs `marker`. */
async function background (login: string, key: string, command: string, marker: string): Promise<{ child: ChildProcess, done: Promise<{ code: number | null, stderr: string }> }> {
  const child = spawn(SSH_CLIENT, [...sshArgs(ssh(login, key, false)), command], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const done = new Promise<{ code: number | null, stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })))
  await waitUntil(`${marker} running`, async () => (await processes()).includes(marker), POLL)
  return { child, done }
}

const sessionEnd = (records: AuditRecord[], session: string): AuditRecord | undefined =>
  records.find((r) => r.action === 'session.end' && r.fields?.session === session)
const sessionOf = (records: AuditRecord[], user: string, command: string): string =>
  records.filter((r) => r.action === 'session.start' && r.user === user && JSON.stringify(r.fields?.command) === JSON.stringify([command])).at(-1)!.fields!.session as string

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'portcullis-bridge-ends-'))
  for (const user of ['alice', 'dave']) keys[user] = await makeSshKey(scratch, 'ed25519', user)
  keys.alice2 = await makeSshKey(scratch, 'ed25519', 'alice2')
  sshPort = await freeTcpPort()
  const elevationPort = await freeTcpPort()
  url = `http://127.0.0.1:${elevationPort}`
  policy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
  policy.users.alice.sshKeys = [keys.alice!.publicLine, keys.alice2!.publicLine]
  // dave has no role in payments: once a grant ends he may do nothing there, not even look at an exec.
  policy.users.dave = { sshKeys: [keys.dave!.publicLine] }
  policy.projects.payments.elevation = { maxSteps: 2 }
  ;({ stack, knownHosts } = await startBridgeStack({ policy, users: ['alice', 'dave', 'carol', 'ops'], importAs: 'ops', elevationListen: `127.0.0.1:${elevationPort}`, dir: scratch, port: sshPort }))
})

afterAll(async () => {
  await stack?.stop()
  if (scratch !== undefined) removeDirSync(scratch)
})

describe('a grant\'s end stops what it allowed', () => {
  it('when a grant runs out, the session\'s program and the children it started are gone within 10 s', async () => {
    const grant = await grantDave('8s')
    const { done } = await background('dave+pay-1', 'dave', 'sleep 777 & sleep 7777; echo never', 'sleep 7777')
    expect(await processes()).toContain('sleep 777')
    const ended = await done
    expect(ended.stderr).toMatch(new RegExp(`the grant ${grant.id} \\(developer in payments\\) this session relied on ran out`))
    const gone = await goneAt('sleep 777', grant.expiresAt)
    expect(gone - grant.expiresAt).toBeLessThanOrEqual(GONE_WITHIN_MS)
    expect(await processes()).not.toContain('sleep 7777')

    const records = await auditRecords(stack.plugin)
    const session = sessionOf(records, 'dave', 'sleep 777 & sleep 7777; echo never')
    expect(sessionEnd(records, session)?.fields).toMatchObject({ endedBy: 'grant-ended', kill: 'sent' })
    // The bridge's look-ups of its exec (to find the process, to read its exit status) are its own, and allowed.
    const lookUps = records.filter((r) => r.kind === 'decision' && r.action === 'exec.inspect' && r.fields?.session === session)
    expect(lookUps.length).toBeGreaterThan(0)
    for (const r of lookUps) expect(r).toMatchObject({ user: 'portcullis-bridge', authMethod: 'bridge-housekeeping', decision: 'allow' })
    // Nothing was refused "by" dave that dave never did.
    expect(records.filter((r) => r.kind === 'decision' && r.user === 'dave' && r.decision === 'deny' && r.fields?.session === session)).toEqual([])
  })

  it('what a grant session\'s program leaves running when it exits (nohup … &) does not outlive the session, so nothing outlives the grant', async () => {
    const grant = await grantDave('60s')
    try {
      const result = await runSsh(ssh('dave+pay-1', 'dave'), 'nohup sleep 792 >/dev/null 2>&1 & sleep 793 >/dev/null 2>&1 & echo left', { timeoutMs: 30_000 })
      expect(result.code, result.stderr.toString()).toBe(0)
      expect(result.stdout.toString()).toBe('left\n')
      // Gone while the grant still runs: within the documented bound of the session's end, not of the grant's.
      const exitedAt = Date.now()
      await goneAt('sleep 792', exitedAt)
      await goneAt('sleep 793', exitedAt)
    } finally {
      await request('ops', ['revoke', grant.request])
    }
    const records = await auditRecords(stack.plugin)
    const session = sessionOf(records, 'dave', 'nohup sleep 792 >/dev/null 2>&1 & sleep 793 >/dev/null 2>&1 & echo left')
    expect(sessionEnd(records, session)?.fields).toMatchObject({ endedBy: 'exit', exitCode: 0, kill: 'sent' })
  })

  it('when a grant is revoked, an interactive shell and what it runs are gone within 10 s, and the user is told', async () => {
    const grant = await grantDave('1h')
    const tmux = await TmuxSession.start('ends-revoke', [SSH_CLIENT, ...sshArgs(ssh('dave+pay-1', 'dave', 'force'))], { width: 100, height: 30 })
    try {
      await tmux.waitFor(/^\/ # ?$/m)
      await tmux.type('sleep 778')
      await tmux.sendKeys('Enter')
      await waitUntil('sleep 778 running', async () => (await processes()).includes('sleep 778'), POLL)
      const revokedAt = Date.now()
      await request('ops', ['revoke', grant.request])
      const gone = await goneAt('sleep 778', revokedAt)
      expect(gone - revokedAt).toBeLessThanOrEqual(GONE_WITHIN_MS)
      await tmux.waitFor(/revoked the grant/)
      await tmux.waitForExit()
    } finally {
      await tmux.kill()
    }
    const records = await auditRecords(stack.plugin)
    const start = records.filter((r) => r.action === 'session.start' && r.user === 'dave' && r.fields?.grant === grant.id).at(-1)!
    expect(sessionEnd(records, start.fields!.session as string)?.fields?.endedBy).toBe('grant-ended')
    expect(records.filter((r) => r.kind === 'decision' && r.user === 'dave' && r.decision === 'deny' && r.action === 'exec.inspect')).toEqual([])
  })
})

describe('the other ends stop the program too', () => {
  it('an idle session: the program and its background children are gone within 10 s of the idle timeout', async () => {
    await writePolicy((p) => { p.bridge.idleTimeout = '2s' })
    try {
      const started = Date.now()
      const { done } = await background('alice+pay-1', 'alice', 'sleep 779 & sleep 7779', 'sleep 7779')
      const ended = await done
      expect(ended.stderr).toMatch(/idle for 2s/)
      const gone = await goneAt('sleep 779', started)
      expect(gone - started).toBeLessThanOrEqual(2_000 + GONE_WITHIN_MS)
      expect(await processes()).not.toContain('sleep 7779')
    } finally {
      await writePolicy((p) => { delete p.bridge.idleTimeout })
    }
  })

  it('at the maximum length, even a program that ignores the hang-up is killed', async () => {
    await writePolicy((p) => { p.bridge.maxSession = '3s' })
    try {
      const started = Date.now()
      const { done } = await background('alice+pay-1', 'alice', 'trap "" HUP; while true; do echo tick; sleep 0.3; done & sleep 7780', 'sleep 7780')
      const ended = await done
      expect(ended.stderr).toMatch(/maximum length of 3s/)
      const gone = await goneAt('sleep 7780', started)
      expect(gone - started).toBeLessThanOrEqual(3_000 + GONE_WITHIN_MS)
      await waitUntil('sleep 0.3 gone', async () => !(await processes()).includes('sleep 0.3'), { ...POLL, timeoutMs: GONE_WITHIN_MS })
      const records = await auditRecords(stack.plugin)
      const end = sessionEnd(records, sessionOf(records, 'alice', 'trap "" HUP; while true; do echo tick; sleep 0.3; done & sleep 7780'))
      expect(end?.fields).toMatchObject({ endedBy: 'max-duration', kill: 'sent' })
    } finally {
      await writePolicy((p) => { delete p.bridge.maxSession })
    }
  })

  it('a SIGTERM of portcullis serve stops every session\'s program before it exits', async () => {
    const { done } = await background('alice+pay-1', 'alice', 'sleep 781', 'sleep 781')
    await stack.plugin.restart()
    expect((await done).stderr).toMatch(/portcullis is shutting down/)
    expect(await processes()).not.toContain('sleep 781')
    const records = await auditRecords(stack.plugin)
    expect(sessionEnd(records, sessionOf(records, 'alice', 'sleep 781'))?.fields).toMatchObject({ endedBy: 'shutdown', kill: 'sent' })
  })
})

describe('a policy reload ends the sessions it no longer lets in', () => {
  const reasonOf = async (command: string): Promise<string | null> => {
    const records = await auditRecords(stack.plugin)
    const end = sessionEnd(records, sessionOf(records, 'alice', command))
    expect(end?.fields?.endedBy).toBe('access-removed')
    return end!.reason
  }

  it('a user removed from the project is told why, the program is gone, and session.end says so', async () => {
    const { done } = await background('alice+pay-1', 'alice', 'sleep 782', 'sleep 782')
    const removedAt = Date.now()
    await writePolicy((p) => { delete p.projects.payments.members.alice })
    try {
      const ended = await done
      expect(ended.stderr).toMatch(/the policy was changed and no longer lets alice in: .*alice/)
      expect((await goneAt('sleep 782', removedAt)) - removedAt).toBeLessThanOrEqual(GONE_WITHIN_MS)
      expect(await reasonOf('sleep 782')).toMatch(/no longer lets alice in/)
    } finally {
      await writePolicy((p) => { p.projects.payments.members.alice = 'developer' })
    }
  })

  it('a role that no longer allows exec ends its sessions', async () => {
    const { done } = await background('alice+pay-1', 'alice', 'sleep 783', 'sleep 783')
    const allow = [...policy.roles.developer.allow]
    await writePolicy((p) => { p.roles.developer.allow = allow.filter((a: string) => a !== 'container.exec') })
    try {
      expect((await done).stderr).toMatch(/no longer lets alice in: .*container\.exec/)
      expect(await processes()).not.toContain('sleep 783')
    } finally {
      await writePolicy((p) => { p.roles.developer.allow = allow })
    }
  })

  it('removing the key a session logged in with ends it; sessions on the user\'s other key go on', async () => {
    const removed = await background('alice+pay-1', 'alice', 'sleep 784', 'sleep 784')
    const kept = runSsh(ssh('alice+pay-1', 'alice2'), 'sleep 3; echo still-here', { timeoutMs: 30_000 })
    await waitUntil('sleep 3 running', async () => (await processes()).includes('sleep 3'), POLL)
    await writePolicy((p) => { p.users.alice.sshKeys = [keys.alice2!.publicLine] })
    try {
      expect((await removed.done).stderr).toMatch(/the key this session logged in with \(SHA256:[^)]+\) is no longer one of alice's keys/)
      expect(await processes()).not.toContain('sleep 784')
      const other = await kept
      expect(other.code, other.stderr).toBe(0)
      expect(other.stdout.toString()).toBe('still-here\n')
    } finally {
      await writePolicy((p) => { p.users.alice.sshKeys = [keys.alice!.publicLine, keys.alice2!.publicLine] })
    }
  })

  it('restricting the key a session logged in with (from= elsewhere, or a forced command) ends it, as a login now would be refused or run something else', async () => {
    const restricted = await background('alice+pay-1', 'alice', 'sleep 785', 'sleep 785')
    await writePolicy((p) => { p.users.alice.sshKeys = [`from="10.9.9.9" ${keys.alice!.publicLine}`, keys.alice2!.publicLine] })
    try {
      expect((await restricted.done).stderr).toMatch(/the key this session logged in with \(SHA256:[^)]+\) is now restricted by from="10\.9\.9\.9": the key may not log in from 127\.0\.0\.1/)
      expect(await processes()).not.toContain('sleep 785')
      expect(await reasonOf('sleep 785')).toMatch(/now restricted by from=/)
    } finally {
      await writePolicy((p) => { p.users.alice.sshKeys = [keys.alice!.publicLine, keys.alice2!.publicLine] })
    }

    const forced = await background('alice+pay-1', 'alice', 'sleep 786', 'sleep 786')
    await writePolicy((p) => { p.users.alice.sshKeys = [`command="date" ${keys.alice!.publicLine}`, keys.alice2!.publicLine] })
    try {
      expect((await forced.done).stderr).toMatch(/now may only run command="date"/)
      expect(await processes()).not.toContain('sleep 786')
    } finally {
      await writePolicy((p) => { p.users.alice.sshKeys = [keys.alice!.publicLine, keys.alice2!.publicLine] })
    }
  })

  it('a reload that still lets the user in leaves the session alone', async () => {
    const pending = runSsh(ssh('alice+pay-1', 'alice'), 'sleep 2; echo survived', { timeoutMs: 30_000 })
    await waitUntil('sleep 2 running', async () => (await processes()).includes('sleep 2'), POLL)
    await writePolicy((p) => { p.projects.payments.description = 'Card processing (edited)' })
    const result = await pending
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.toString()).toBe('survived\n')
  })
})

describe('nobody can pose as the bridge', () => {
  it('a docker client that sends a made-up bridge credential is refused, and the record says so', async () => {
    const answer = await daemonRequest(stack.dockerd.socket, {
      method: 'GET',
      path: `/v1.41/exec/${'e'.repeat(64)}/json`,
      headers: { 'X-Portcullis-Bridge': 'A'.repeat(43), 'X-Portcullis-Token': stack.tokens.alice! }
    })
    expect(answer.status).toBe(403)
    expect(answer.body).toMatch(/the SSH bridge session this call claims is over or unknown/)
    const record = (await auditRecords(stack.plugin)).filter((r) => r.kind === 'decision' && r.uri?.includes('e'.repeat(64))).at(-1)!
    expect(record).toMatchObject({ decision: 'deny', code: 'BAD_TOKEN', authMethod: 'bridge', user: null })
  })

  it('the chain verifies and holds no refused call under any bridge credential', async () => {
    const records = await auditRecords(stack.plugin)
    const bridgeDenials = records.filter((r) => r.kind === 'decision' && r.decision === 'deny' && (r.authMethod === 'bridge-housekeeping' || (r.authMethod === 'bridge' && r.user !== null)))
    expect(bridgeDenials).toEqual([])
    expect((await runPortcullisCli(['audit', 'verify', '--admin-socket', stack.plugin.adminSocket])).code).toBe(0)
  })
})
