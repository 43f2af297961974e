// Running out of file descriptors denies calls only while it lasts (issue 12, item 3): `serve`'s descriptor limit
// is lowered under 16-way load to what it already has open, so the store's next new file (LevelDB's next log, the
// journal's flush) fails with EMFILE. Every call is then denied (fail closed) and the failure is alerted; once the
// limit is raised again the same process takes calls by itself, the trail records the gap, every allowed call has
// its record and the chain verifies.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { postAuthzReq, type AuthzAnswer } from '../helpers/authz-request.js'
import { PORTCULLIS_CLI, portcullisCliOk, REPO_ROOT, removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { signalAndWait } from '../helpers/process.js'
import { onProcessEnd } from '../helpers/safety-net.js'
import { waitFor, waitUntil } from '../helpers/wait.js'

const WORKERS = 16

let root: string
let keysDir: string
let policyFile: string
let token: string
let serve: ChildProcess | undefined
let cancelSafetyNet: (() => void) | undefined
let serveStderr = ''
// The connections to the plugin socket are made before the limit drops: accepting a new one would need a descriptor.
const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS })

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-emfile-'))
  keysDir = path.join(root, 'keys')
  policyFile = path.join(root, 'policy.json')
  await writeFile(policyFile, readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json')))
  await portcullisCliOk(['keys', 'init', '--keys', keysDir])
  token = (await portcullisCliOk(['token', 'issue', '--keys', keysDir, '--user', 'alice', '--ttl', '1h'])).trim().split('\n').pop()!.trim()
})

afterAll(async () => {
  agent.destroy()
  if (serve !== undefined) await signalAndWait(serve, 'SIGKILL', 10_000)
  cancelSafetyNet?.()
  if (root !== undefined) removeDirSync(root)
})

const socket = (): string => path.join(root, 'plugin.sock')
const data = (): string => path.join(root, 'data')

/** One AuthZReq as dockerd sends it, on one of the agent's kept-alive connections. */
const authzReq = (uri: string): Promise<AuthzAnswer | null> => postAuthzReq(socket(), uri, { token, agent })

/** Sets serve's soft limit on open files (the hard one stays), as `prlimit` does to a running process. */
function setOpenFileLimit (pid: number, soft: number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`])
}

/** The lowest descriptor number the process has free: with its limit there, any new open or accept fails. */
function lowestFreeDescriptor (pid: number): number {
  const used = new Set(readdirSync(`/proc/${pid}/fd`).map(Number))
  let fd = 0
  while (used.has(fd)) fd++
  return fd
}

/** The soft limit on open files the process runs with now. */
function openFileLimit (pid: number): number {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'))!
  return Number(line.split(/\s{2,}/)[1])
}

/** Waits on `ok`, polling every 20 ms (the workers move fast); a timeout shows what serve said. */
async function waitOn (what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  await waitUntil(what, ok, { timeoutMs, intervalMs: 20, detail: () => `serve said:\n${serveStderr}` })
}

it('denies calls while descriptors run out, alerts, and takes calls again by itself once the limit is raised', { timeout: 180_000 }, async () => {
  serve = spawn(process.execPath, [PORTCULLIS_CLI, 'serve', '--config', policyFile, '--socket', socket(), '--admin-socket', path.join(root, 'run', 'admin.sock'),
    '--data', data(), '--keys', keysDir, '--docker-host', `unix://${path.join(root, 'no-dockerd.sock')}`, '--elevation-listen', 'off', '--log-level', 'warn'],
  { stdio: ['ignore', 'ignore', 'pipe'] })
  const child = serve
  const pid = child.pid!
  cancelSafetyNet = onProcessEnd(() => child.kill('SIGKILL'))
  child.stderr!.on('data', (chunk: Buffer) => { serveStderr += chunk.toString() })
  await waitOn('the plugin socket', () => readdirSync(root).includes('plugin.sock') || child.exitCode !== null)
  const first = await waitFor('the plugin answering an AuthZReq for /_ping', async () => {
    if (child.exitCode !== null) throw new Error(`serve exited (${child.exitCode}):\n${serveStderr}`)
    return (await authzReq('/_ping')) ?? undefined
  }, { intervalMs: 20 })
  expect(first.Allow, serveStderr).toBe(true)

  const allowed: string[] = []
  const deniedForAudit: string[] = []
  let other = 0
  let next = 0
  let running = true
  const worker = async (): Promise<void> => {
    while (running) {
      const uri = `/v1.41/containers/json?limit=${++next}`
      const answer = await authzReq(uri)
      if (answer?.Allow === true) allowed.push(uri)
      else if (answer !== null && /PORTCULLIS_AUDIT_/.test(answer.Msg ?? '')) deniedForAudit.push(answer.Msg!)
      else other++
    }
  }
  const workers = Array.from({ length: WORKERS }, async () => await worker())
  await waitOn('500 allowed calls', () => allowed.length >= 500)

  // No descriptor to spare: the store's next new file fails (LevelDB's next log or table, the journal's flush).
  const limit = openFileLimit(pid)
  setOpenFileLimit(pid, lowestFreeDescriptor(pid))
  const limitedAt = allowed.length
  await waitOn('calls denied for the audit store', () => deniedForAudit.length >= 200, 120_000)
  console.log(`emfile test: ${allowed.length - limitedAt} calls allowed after the limit dropped, before the first refusal`)
  await waitOn('the alert in the log', () => serveStderr.includes('"alert":"audit-write-failed"'))
  expect(deniedForAudit[0]).toMatch(/could not record this call in its audit store, so it refuses it \(fail closed, PORTCULLIS_AUDIT_/)

  // Descriptors return: the same process takes calls again without a restart.
  setOpenFileLimit(pid, limit)
  const before = allowed.length
  await waitOn('calls allowed again', () => allowed.length >= before + 500)
  running = false
  await Promise.all(workers)
  expect(child.exitCode).toBeNull()
  expect(other, 'every answer is an allow or an audit refusal').toBe(0)

  const status = await runPortcullisCli(['status', '-o', 'json', '--admin-socket', path.join(root, 'run', 'admin.sock')])
  expect(status.code, status.stderr).toBe(0)
  expect(JSON.parse(status.stdout)).toMatchObject({ audit: { state: 'ok', outage: null } })

  expect(await signalAndWait(child, 'SIGTERM', 20_000)).toBe(true)
  const records = (await portcullisCliOk(['audit', 'export', '--data', data()])).trim().split('\n')
    .map((line) => JSON.parse(line) as { seq: number, kind: string, action: string | null, decision?: string, uri?: string | null, code?: string | null, reason?: string | null, fields?: Record<string, unknown> | null })
  const alert = records.find((r) => r.action === 'audit.write-failed')
  expect(alert, 'an alert record for the outage').toBeDefined()
  expect(alert!.reason).toMatch(/too many open files|EMFILE/i)
  const recovered = records.find((r) => r.action === 'audit.write-recovered')
  expect(recovered?.fields).toMatchObject({ failedAt: alert!.fields!.failedAt })
  expect((recovered!.fields as { deniedCalls: number }).deniedCalls).toBeGreaterThanOrEqual(deniedForAudit.length)

  const recorded = new Set(records.filter((r) => r.kind === 'decision' && r.decision === 'allow').map((r) => r.uri))
  expect(allowed.filter((uri) => !recorded.has(uri))).toEqual([])
  const seqs = records.map((r) => r.seq)
  expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i))
  const verify = await runPortcullisCli(['audit', 'verify', '--data', data()])
  expect(verify.code, verify.stdout + verify.stderr).toBe(0)
})
