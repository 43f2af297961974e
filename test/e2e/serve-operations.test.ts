// Operational edges of a running `serve` (issue 11, item 8):
// (a) its sockets are private from the instant they exist, whatever the umask;
// (b) a FIFO at the policy path never blocks the event loop: the reload is refused with a code and a record;
// (c) the policy watcher follows the policy file, not its busy neighbours, and reloads within a bound;
// (d) a graceful restart under load refuses no call that needs a look-up (stop runs in the reverse order of start);
// (e) with dockerd down, refused look-ups log the fault once per state change with a count, not a stack per call.
import { spawn, execFileSync } from 'node:child_process'
import { chmodSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditRecords, headSeq } from '../helpers/audit.js'
import { daemonRequest } from '../helpers/daemon-http.js'
import {
  PORTCULLIS_CLI, portcullisCliOk, REPO_ROOT, removeDirSync, startDockerd, startPortcullis, startStack, TEST_IMAGE, TOKEN_HEADER, type Stack
} from '../helpers/index.js'
import { onProcessEnd } from '../helpers/safety-net.js'
import { waitUntil } from '../helpers/wait.js'

const examplePolicy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8'))
const NOBODY = 65534

describe('sockets are private from the start', () => {
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-umask-'))
    // Only the sockets' own modes may keep other users out: every directory on the way is open to them.
    chmodSync(dir, 0o755)
  })

  afterAll(() => {
    if (dir !== undefined) removeDirSync(dir)
  })

  it('under umask 000, the admin socket is 0600 and the plugin socket 0660 when they appear, and a non-root user never connects to either', { timeout: 120_000 }, async () => {
    const keysDir = path.join(dir, 'keys')
    await portcullisCliOk(['keys', 'init', '--keys', keysDir])
    const policyFile = path.join(dir, 'policy.json')
    await writeFile(policyFile, JSON.stringify(examplePolicy))
    const sockets = path.join(dir, 'run')
    mkdirSync(sockets)
    chmodSync(sockets, 0o777)
    const admin = path.join(sockets, 'admin.sock')
    const plugin = path.join(sockets, 'plugin.sock')

    // A user without privileges tries to connect to both sockets, as fast as it can, from before they exist.
    const prober = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', PROBE, admin, plugin, '15000'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    prober.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    const probed = new Promise<string>((resolve) => prober.on('close', () => resolve(out.slice(out.indexOf('\n') + 1))))
    const cancelProber = onProcessEnd(() => prober.kill('SIGKILL'))
    await waitUntil('the prober\'s first attempts', () => out.includes('\n') || prober.exitCode !== null)

    const serve = spawn('sh', ['-c', `umask 000; exec "$0" "$@"`, process.execPath, PORTCULLIS_CLI, 'serve',
      '--config', policyFile, '--socket', plugin, '--admin-socket', admin, '--data', path.join(dir, 'data'), '--keys', keysDir,
      '--docker-host', `unix://${path.join(dir, 'no-dockerd.sock')}`, '--elevation-listen', 'off', '--log-level', 'warn'], { stdio: 'ignore' })
    const cancelServe = onProcessEnd(() => serve.kill('SIGKILL'))
    try {
      // The first mode each socket is seen with, polled without yielding.
      const firstModes = new Map<string, number>()
      const deadline = Date.now() + 30_000
      while (firstModes.size < 2 && Date.now() < deadline) {
        for (const socket of [admin, plugin]) {
          if (firstModes.has(socket)) continue
          try {
            firstModes.set(socket, lstatSync(socket).mode & 0o777)
          } catch {}
        }
      }
      expect(firstModes.get(admin)?.toString(8)).toBe('600')
      expect(firstModes.get(plugin)?.toString(8)).toBe('660')

      const outcome = JSON.parse(await probed) as Record<string, Record<string, number>>
      for (const socket of [admin, plugin]) {
        expect(outcome[socket]?.connected ?? 0, JSON.stringify(outcome)).toBe(0)
        // It did try while the socket existed, and was refused by its mode.
        expect(outcome[socket]?.EACCES ?? 0, JSON.stringify(outcome)).toBeGreaterThan(0)
      }
    } finally {
      serve.kill('SIGTERM')
      await new Promise((resolve) => serve.once('exit', resolve))
      cancelServe()
      prober.kill('SIGKILL')
      cancelProber()
    }
  })
})

/** Run as nobody: connect to each socket in a loop until the time is up; print how each attempt ended. */
const PROBE = `
const net = require('node:net')
const [, ...args] = process.argv
const until = Date.now() + Number(args.pop())
const counts = Object.fromEntries(args.map((p) => [p, {}]))
const attempt = (p) => new Promise((resolve) => {
  const s = net.connect(p)
  s.once('connect', () => { counts[p].connected = (counts[p].connected ?? 0) + 1; s.destroy(); resolve() })
  s.once('error', (e) => { counts[p][e.code] = (counts[p][e.code] ?? 0) + 1; resolve() })
})
;(async () => {
  await Promise.all(args.map(attempt))
  process.stdout.write('probing\\n')
  while (Date.now() < until) await Promise.all(args.map(attempt))
  process.stdout.write(JSON.stringify(counts))
})()
`

describe('a running plugin and its policy file', () => {
  let stack: Stack

  beforeAll(async () => {
    stack = await startStack({ policy: examplePolicy, users: ['alice', 'ops'], importAs: 'ops' })
  })

  afterAll(async () => {
    await stack?.stop()
  })

  it('a FIFO at the policy path: decisions go on, and the reload is refused with PORTCULLIS_POLICY_NOT_FILE and a record', { timeout: 120_000 }, async () => {
    const since = await headSeq(stack.plugin)
    const saved = readFileSync(stack.policyFile)
    rmSync(stack.policyFile)
    execFileSync('mkfifo', [stack.policyFile])
    try {
      // The watcher saw the swap; SIGHUP asks again. Neither may wait for a writer on the FIFO.
      await stack.plugin.waitForLog(/"code":"PORTCULLIS_POLICY_NOT_FILE".*policy reload refused/, { timeoutMs: 15_000 })
      stack.plugin.reload()
      const ps = await stack.docker('alice', ['ps'], { timeoutMs: 30_000 })
      expect(ps.timedOut).toBe(false)
      expect(ps.code, ps.stderr).toBe(0)

      const refused = (await auditRecords(stack.plugin)).filter((r) => r.seq > since && r.action === 'policy.reload-failed')
      expect(refused.length).toBeGreaterThanOrEqual(1)
      expect(refused[0]).toMatchObject({ kind: 'system', code: 'PORTCULLIS_POLICY_NOT_FILE' })
      expect(refused[0]!.reason).toContain('FIFO')
      const reload = await stack.plugin.cli(['policy', 'reload', '--admin-socket', stack.plugin.adminSocket], { timeoutMs: 15_000 })
      expect(reload.code).not.toBe(0)
      expect(reload.stdout + reload.stderr).toContain('not a regular file')
    } finally {
      rmSync(stack.policyFile, { force: true })
      writeFileSync(stack.policyFile, saved)
    }
  })

  it('a neighbour file written every 50 ms does not delay a policy change: it is reloaded within 5 s', { timeout: 120_000 }, async () => {
    const neighbour = path.join(path.dirname(stack.policyFile), 'neighbour.log')
    let writes = 0
    const busy = setInterval(() => writeFileSync(neighbour, `line ${++writes}\n`, { flag: 'a' }), 50)
    try {
      await waitUntil('the neighbour written 10 times', () => writes >= 10)
      const offset = await stack.plugin.logOffset()
      const changed = structuredClone(examplePolicy)
      changed.projects.payments.members.carol = 'viewer'
      const editedAt = Date.now()
      await writeFile(stack.policyFile, JSON.stringify(changed, null, 2))
      await stack.plugin.waitForLog(/"msg":"policy reloaded"/, { since: offset, timeoutMs: 15_000 })
      const tookMs = Date.now() - editedAt
      console.log(`policy reloaded ${tookMs} ms after the edit, with the neighbour written ${writes} times`)
      expect(tookMs).toBeLessThan(5_000)
    } finally {
      clearInterval(busy)
      rmSync(neighbour, { force: true })
    }
  })

  it('a graceful restart under load refuses no call that needs a look-up: the plugin socket drains before the look-ups stop', { timeout: 300_000 }, async () => {
    const created = await stack.docker('alice', ['create', '--label', 'portcullis.project=payments', '--name', 'drain-web', TEST_IMAGE, 'true'])
    expect(created.code, created.stderr).toBe(0)

    const RESTARTS = 3
    const WORKERS = 4
    // Each restart waits until the new process has answered 50 more calls, so it starts under load.
    let stopLoad = false
    let n = 0
    const outcomes: Array<{ uri: string, status: number | null, body: string }> = []
    const worker = async (): Promise<void> => {
      while (!stopLoad) {
        // Each call names the container: its project comes from a look-up. A distinct query tells the records apart.
        const uri = `/v1.41/containers/drain-web/json?size=${++n % 2}`
        outcomes.push({ uri, ...(await apiCall(stack.dockerd.socket, uri, stack.tokens.alice!)) })
      }
    }
    const succeeded = (): number => outcomes.filter((o) => o.status === 200).length
    const untilSucceeded = async (count: number): Promise<void> => {
      await waitUntil(`${count} calls succeeded`, () => succeeded() >= count, { timeoutMs: 90_000, intervalMs: 20 })
    }
    const workers = Array.from({ length: WORKERS }, () => worker())
    try {
      await untilSucceeded(50)
      for (let i = 0; i < RESTARTS; i++) {
        await stack.plugin.restart()
        await untilSucceeded(succeeded() + 50)
      }
    } finally {
      stopLoad = true
      await Promise.all(workers)
    }
    const refused = outcomes.filter((o) => o.status !== 200)
    console.log(`restart under load with look-ups: ${outcomes.length} calls, ${refused.length} refused`)
    expect(outcomes.length).toBeGreaterThan(200)
    expect(refused.slice(0, 5)).toEqual([])
    const records = await auditRecords(stack.plugin)
    expect(records.filter((r) => r.kind === 'decision' && r.decision === 'deny' && r.user === 'alice' && (r.uri ?? '').includes('drain-web'))).toEqual([])
    const verify = await stack.plugin.cli(['audit', 'verify', '--admin-socket', stack.plugin.adminSocket])
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
  })
})

describe('with dockerd down', () => {
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-down-'))
  })

  afterAll(() => {
    if (dir !== undefined) removeDirSync(dir)
  })

  it('200 refused look-ups log the fault once, and the count once dockerd answers again', { timeout: 180_000 }, async () => {
    const keysDir = path.join(dir, 'keys')
    await portcullisCliOk(['keys', 'init', '--keys', keysDir])
    const policyFile = path.join(dir, 'policy.json')
    await writeFile(policyFile, JSON.stringify(examplePolicy))
    const token = (await portcullisCliOk(['token', 'issue', '--keys', keysDir, '--user', 'alice', '--ttl', '1h'])).trim().split('\n').pop()!
    const dockerdDir = path.join(dir, 'dockerd')
    const plugin = await startPortcullis({ dir: path.join(dir, 'plugin'), policyFile, keysDir, dockerSocket: path.join(dockerdDir, 'docker.sock'), logLevel: 'info' })
    try {
      const offset = await plugin.logOffset()
      const CALLS = 200
      const answers = []
      for (let i = 0; i < CALLS; i++) {
        answers.push(await daemonRequest(plugin.socket, {
          method: 'POST',
          path: '/AuthZPlugin.AuthZReq',
          body: JSON.stringify({ RequestMethod: 'GET', RequestUri: `/v1.41/containers/web-${i}/json`, RequestHeaders: { [TOKEN_HEADER]: token } })
        }))
      }
      expect(answers.every((a) => a.status === 200 && JSON.parse(a.body).Allow === false)).toBe(true)
      const whileDown = (await plugin.readLog()).slice(offset).trim().split('\n').filter((l) => l !== '')
      expect(whileDown.length, whileDown.slice(0, 5).join('\n')).toBeLessThanOrEqual(3)
      expect(whileDown.join('\n')).not.toContain('"stack"')
      // Said once since the start (the event feed found the daemon down first), not once per call.
      expect((await plugin.readLog()).split('\n').filter((l) => l.includes('does not answer'))).toHaveLength(1)
      const denials = (await auditRecords(plugin)).filter((r) => r.kind === 'decision' && r.user === 'alice')
      expect(denials).toHaveLength(CALLS)
      expect(denials.every((r) => r.decision === 'deny' && (r.reason ?? '').includes('Docker daemon failed'))).toBe(true)

      const dockerd = await startDockerd({ dir: dockerdDir, authorizationPlugin: plugin.name })
      try {
        const back = JSON.parse(await plugin.waitForLog(/answers portcullis's look-ups again/, { since: offset, timeoutMs: 30_000 })) as { failures: number }
        expect(back.failures).toBeGreaterThanOrEqual(CALLS)
      } finally {
        await dockerd.stop()
      }
    } finally {
      await plugin.stop()
    }
  })
})

/** One call on the daemon's API socket, on a fresh connection, as the docker CLI sends it. */
function apiCall (socketPath: string, uri: string, token: string): Promise<{ status: number | null, body: string }> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, method: 'GET', path: uri, headers: { [TOKEN_HEADER]: token }, agent: false, timeout: 90_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? null, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', (err) => resolve({ status: null, body: err.message }))
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 90 s')))
    req.on('error', (err) => resolve({ status: null, body: err.message }))
    req.end()
  })
}
