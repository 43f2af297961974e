// Access to the audit trail is itself audited (issue 15 item 1; PCI DSS 10.2.1.3): every read through the admin
// socket leaves `audit.read` before its answer and `audit.read.end` after, naming the reader as the kernel reports
// the socket's peer (uid, pid, command line), never as the client claims. Run as root and as another uid, and by a
// client that lies about who it is.
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PORTCULLIS_CLI, REPO_ROOT, type CliResult } from '../helpers/index.js'
import { serveWorkspace, type StartedServe, type ServePaths } from '../helpers/serve-workspace.js'
import { waitUntil } from '../helpers/wait.js'

const workspace = serveWorkspace('portcullis-audit-read-')
const NOBODY = 65534

interface Rec { seq: number, kind: string, action: string | null, user: string | null, tokenId?: string, code: string | null, reason: string | null, fields: Record<string, any> | null }

let paths: ServePaths
let serve: StartedServe

/** Runs the CLI, as root or (setpriv) as another uid; resolves with its output and its pid, which the record must name. */
function cliAs (uid: number | null, args: string[]): Promise<CliResult & { pid: number }> {
  const command = uid === null ? process.execPath : 'setpriv'
  const argv = uid === null ? [PORTCULLIS_CLI, ...args] : [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, PORTCULLIS_CLI, ...args]
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: '/' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, pid: child.pid! })
    })
  })
}

async function records (): Promise<Rec[]> {
  const out = await cliAs(null, ['audit', 'export', '--admin-socket', paths.admin])
  expect(out.code, out.stderr).toBe(0)
  return out.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec)
}

/** The audit.read a CLI process left, and its end record. */
function readOf (all: Rec[], pid: number, route: string): { read: Rec, end: Rec | undefined } {
  const read = all.find((r) => r.action === 'audit.read' && r.fields?.route === route && r.fields?.peer?.pids?.includes(pid))
  expect(read, `no audit.read of ${route} by pid ${pid}`).toBeDefined()
  return { read: read!, end: all.find((r) => r.action === 'audit.read.end' && r.fields?.readSeq === read!.seq) }
}

beforeAll(async () => {
  paths = workspace.pathsIn('reads')
  serve = await workspace.startServe(paths.dir, paths.data)
  await waitUntil('the admin socket', () => existsSync(paths.admin), { timeoutMs: 30_000 })
}, 60_000)

afterAll(async () => {
  await serve?.stop()
})

describe('reads through the admin socket are recorded with the kernel\'s peer', () => {
  it('root\'s tail, export, verify, sessions, replay and bundle each leave audit.read (uid 0, the CLI\'s pid) and audit.read.end', { timeout: 90_000 }, async () => {
    const admin = ['--admin-socket', paths.admin]
    const tail = await cliAs(null, ['audit', 'tail', '--all', '-n', '3', '--json', ...admin])
    expect(tail.code, tail.stderr).toBe(0)
    // The read is written before the answer, so the tail already holds its own audit.read.
    expect(tail.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec).at(-1)).toMatchObject({ action: 'audit.read', fields: { route: 'tail', peer: { uid: 0 } } })
    const exported = await cliAs(null, ['audit', 'export', '--user', 'nobody-in-particular', ...admin])
    const verify = await cliAs(null, ['audit', 'verify', ...admin])
    const sessions = await cliAs(null, ['audit', 'sessions', ...admin])
    const replay = await cliAs(null, ['audit', 'replay', 's-00000000000000a1', ...admin])
    const bundleDir = path.join(paths.dir, 'bundle')
    const bundle = await cliAs(null, ['audit', 'bundle', '--out', bundleDir, ...admin])
    for (const run of [exported, verify, sessions, bundle]) expect(run.code, run.stderr).toBe(0)
    expect(replay.stderr).toContain('PORTCULLIS_SESSION_NOT_FOUND')

    const all = await records()
    const cases: Array<[CliResult & { pid: number }, string, Record<string, unknown>]> = [
      [tail, 'tail', { query: { n: '3', follow: 'false' } }],
      [exported, 'export', { query: { user: 'nobody-in-particular', format: 'jsonl' } }],
      [verify, 'verify', {}],
      [sessions, 'sessions', {}],
      [replay, 'session', { session: 's-00000000000000a1' }],
      [bundle, 'bundle', {}]
    ]
    for (const [run, route, what] of cases) {
      const { read, end } = readOf(all, run.pid, route)
      expect(read).toMatchObject({ kind: 'system', user: null, fields: { route, via: 'admin-socket', ...what, peer: { uid: 0, gid: 0, pids: [run.pid] } } })
      expect(read.fields!.peer.processes[0]).toMatchObject({ pid: run.pid, uid: 0, euid: 0, exe: process.execPath })
      expect(read.fields!.peer.processes[0].cmdline).toContain(`audit ${route === 'session' ? 'replay' : route}`)
      expect(read.reason).toMatch(new RegExp(`^audit ${route} read through the admin socket by uid 0 \\(pid ${run.pid} `))
      expect(end, `no audit.read.end for ${route}`).toMatchObject({ kind: 'system', fields: { route, readSeq: read.seq, complete: true } })
      expect(end!.seq).toBeGreaterThan(read.seq)
    }
    // How much went out: the filtered export matched nothing; the bundle holds every record up to its checkpoint.
    expect(readOf(all, exported.pid, 'export').end).toMatchObject({ fields: { records: 0, bytes: 0 } })
    expect(readOf(all, tail.pid, 'tail').end).toMatchObject({ fields: { records: tail.stdout.trim().split('\n').length } })
    expect(readOf(all, bundle.pid, 'bundle').end!.fields!.records).toBeGreaterThan(5)
    expect(readOf(all, bundle.pid, 'bundle').end!.fields!.bytes).toBeGreaterThan(1000)
    expect(readOf(all, replay.pid, 'session').end).toMatchObject({ status: 404 } as Partial<Rec>)
    // Root's bundle marks its records bundled (retention may then remove them once old): recorded, with who.
    expect(all.find((r) => r.action === 'audit.bundled')).toMatchObject({ kind: 'system', fields: { via: 'admin-socket', peer: { uid: 0, pids: [bundle.pid] } } })
  })

  it('a followed tail shows its own read once, and when the reader goes away its end record says it was cut off', { timeout: 60_000 }, async () => {
    const child = spawn(process.execPath, [PORTCULLIS_CLI, 'audit', 'tail', '--all', '-n', '1', '-f', '--json', '--admin-socket', paths.admin], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    try {
      await waitUntil('the tail\'s own audit.read', () => out.includes('"action":"audit.read"'), { timeoutMs: 20_000 })
      // Other reads go on while it follows: each shows up once, and nothing loops.
      expect((await cliAs(null, ['audit', 'sessions', '--admin-socket', paths.admin])).code).toBe(0)
      await waitUntil('the sessions read, followed', () => out.includes('"route":"sessions"'), { timeoutMs: 20_000 })
    } finally {
      child.kill('SIGTERM')
    }
    await new Promise((resolve) => child.once('close', resolve))
    let end: Rec | undefined
    await waitUntil('the followed tail\'s audit.read.end', async () => {
      const all = await records()
      end = all.find((r) => r.action === 'audit.read.end' && r.fields?.readSeq === readOf(all, child.pid!, 'tail').read.seq)
      return end !== undefined
    }, { timeoutMs: 10_000 })
    expect(end).toMatchObject({ fields: { route: 'tail', complete: false } })
    expect(end!.fields!.records).toBeGreaterThanOrEqual(2)
    expect(end!.reason).toContain('cut off after')
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Rec)
    expect(lines.filter((r) => r.action === 'audit.read' && r.fields?.route === 'tail' && r.fields?.peer?.pids?.includes(child.pid))).toHaveLength(1)
  })

  it('another uid that can reach the socket is recorded as that uid, whatever the client says about itself', { timeout: 60_000 }, async () => {
    // Only this test opens the socket to others: the directories on the way and the socket itself.
    for (const dir of [workspace.root, paths.dir, path.dirname(paths.admin)]) chmodSync(dir, 0o711)
    chmodSync(paths.admin, 0o666)
    try {
      const tail = await cliAs(NOBODY, ['audit', 'tail', '--all', '-n', '1', '--json', '--admin-socket', paths.admin])
      expect(tail.code, tail.stderr).toBe(0)
      // A client that claims to be root (a query parameter and headers of its own): the kernel's word is recorded.
      const script = `const http = require('node:http'); http.get({ socketPath: ${JSON.stringify(paths.admin)}, path: '/v1/audit/sessions?requestedBy=root@host&user=root', ` +
        'headers: { "x-portcullis-user": "root", "x-forwarded-user": "root" } }, (res) => { res.resume(); res.on("end", () => process.exit(res.statusCode === 200 ? 0 : 1)) })'
      const lie = await new Promise<{ code: number | null, pid: number }>((resolve) => {
        const child = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', script], { stdio: 'ignore' })
        child.on('close', (code) => resolve({ code, pid: child.pid! }))
      })
      expect(lie.code).toBe(0)

      const all = await records()
      expect(readOf(all, tail.pid, 'tail').read).toMatchObject({ user: null, fields: { peer: { uid: NOBODY, gid: NOBODY, pids: [tail.pid] } } })
      expect(readOf(all, tail.pid, 'tail').read.reason).toContain(`by uid ${NOBODY} (pid ${tail.pid} `)
      const lied = readOf(all, lie.pid, 'sessions').read
      expect(lied).toMatchObject({ user: null, fields: { query: { requestedBy: 'root@host', user: 'root' }, peer: { uid: NOBODY, processes: [{ pid: lie.pid, uid: NOBODY, euid: NOBODY }] } } })
    } finally {
      chmodSync(paths.admin, 0o600)
      for (const dir of [workspace.root, paths.dir, path.dirname(paths.admin)]) chmodSync(dir, 0o700)
    }
  })

  it('token issue and policy reload on the admin socket record the peer, and a change of audit.retention is in the reload\'s diff', { timeout: 60_000 }, async () => {
    const issued = await cliAs(null, ['token', 'issue', '--user', 'alice', '--ttl', '1h', '--admin-socket', paths.admin])
    expect(issued.code, issued.stderr).toBe(0)
    const policy = JSON.parse(readFileSync(workspace.policyFile, 'utf8'))
    const before = policy.audit?.retention ?? null
    policy.audit = { ...policy.audit, retention: '400d' }
    writeFileSync(workspace.policyFile, JSON.stringify(policy))
    const reload = await cliAs(null, ['policy', 'reload', '--admin-socket', paths.admin])
    expect(reload.code, reload.stderr).toBe(0)

    let all: Rec[] = []
    // The file watch may apply the edit before the reload asked for arrives; either way the change is in a record.
    await waitUntil('the policy.reload records', async () => {
      all = await records()
      return all.some((r) => r.action?.startsWith('policy.reload') === true && r.fields?.requestedBy !== undefined) &&
        all.some((r) => r.action === 'policy.reload' && JSON.stringify(r.fields?.changes ?? []).includes('400d'))
    }, { timeoutMs: 10_000 })
    expect(all.find((r) => r.action === 'token.issue')).toMatchObject({ fields: { via: 'admin-socket', peer: { uid: 0, pids: [issued.pid] } } })
    // policy.reload when the request applied the edit, policy.reload-requested when the file watch had already.
    const asked = all.find((r) => ['policy.reload', 'policy.reload-requested'].includes(r.action ?? '') && r.fields?.requestedBy !== undefined)!
    expect(asked.fields!.requestedBy).toMatchObject({ via: 'admin-socket', peer: { uid: 0, pids: [reload.pid] } })
    const changed = all.find((r) => r.action === 'policy.reload' && JSON.stringify(r.fields?.changes ?? []).includes('400d'))!
    expect(changed.fields!.changes).toEqual(expect.arrayContaining([expect.objectContaining({ path: '$.audit.retention', to: '400d' })]))
    expect(before).toBeNull()
  })
})
