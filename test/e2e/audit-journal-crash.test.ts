// Durable before the reply, on the journal write path (issue 12, item 6): each batch is made durable by one O_DSYNC
// append to the store's journal, while LevelDB gets it without sync. `serve` is killed with SIGKILL under 16-way
// load, three times; after each kill LevelDB's write-ahead logs are also cut to nothing, as a crash of the host
// can leave logs that were never synced. Every call that was answered "allow" still has its decision record after
// the next start, and the chain verifies.
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync, truncateSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postAuthzReq, type AuthzAnswer } from '../helpers/authz-request.js'
import { PORTCULLIS_CLI, portcullisCliOk, REPO_ROOT, removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { signalAndWait } from '../helpers/process.js'
import { onProcessEnd } from '../helpers/safety-net.js'
import { waitUntil } from '../helpers/wait.js'

const examplePolicy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8'))
const KILLS = 3
const WORKERS = 16

let root: string
let keysDir: string
let policyFile: string
let token: string

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-journal-crash-'))
  keysDir = path.join(root, 'keys')
  policyFile = path.join(root, 'policy.json')
  await writeFile(policyFile, JSON.stringify(examplePolicy))
  await portcullisCliOk(['keys', 'init', '--keys', keysDir])
  token = (await portcullisCliOk(['token', 'issue', '--keys', keysDir, '--user', 'alice', '--ttl', '1h'])).trim().split('\n').pop()!.trim()
})

afterAll(() => {
  if (root !== undefined) removeDirSync(root)
})

const socket = (): string => path.join(root, 'plugin.sock')
const data = (): string => path.join(root, 'data')

async function startServe (): Promise<{ child: ChildProcess, cancel: () => void, stderr: () => string }> {
  const child = spawn(process.execPath, [PORTCULLIS_CLI, 'serve', '--config', policyFile, '--socket', socket(), '--admin-socket', path.join(root, 'run', 'admin.sock'),
    '--data', data(), '--keys', keysDir, '--docker-host', `unix://${path.join(root, 'no-dockerd.sock')}`, '--elevation-listen', 'off', '--log-level', 'error'],
  { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const cancel = onProcessEnd(() => child.kill('SIGKILL'))
  const started = Date.now()
  const alive = (): boolean => {
    if (child.exitCode !== null) throw new Error(`serve exited during start:\n${stderr}`)
    return true
  }
  await waitUntil('serve\'s plugin socket', () => alive() && readdirSync(root).includes('plugin.sock'), { timeoutMs: 30_000, intervalMs: 20, detail: () => stderr })
  // The socket exists before start returns: wait for an answer.
  await waitUntil('serve\'s answer', async () => alive() && (await authzReq('/_ping')) !== null,
    { timeoutMs: Math.max(0, started + 30_000 - Date.now()), intervalMs: 20, detail: () => stderr })
  return { child, cancel, stderr: () => stderr }
}

const authzReq = (uri: string): Promise<AuthzAnswer | null> => postAuthzReq(socket(), uri, { token })

/** What a host crash can leave of LevelDB's write-ahead logs when they were never synced: nothing. */
function cutLevelDbLogs (): string[] {
  const logs = readdirSync(data()).filter((name) => /^\d+\.log$/.test(name))
  for (const name of logs) truncateSync(path.join(data(), name), 0)
  return logs
}

describe('kill -9 under load on the journal write path', () => {
  it('every call answered "allow" keeps its decision record, even when LevelDB\'s unsynced logs are lost too', { timeout: 240_000 }, async () => {
    const allowed: string[] = []
    let next = 0
    let unanswered = 0
    for (let kill = 1; kill <= KILLS; kill++) {
      const serve = await startServe()
      let running = true
      const worker = async (): Promise<void> => {
        while (running) {
          const uri = `/v1.41/containers/json?limit=${++next}`
          const answer = await authzReq(uri)
          if (answer?.Allow === true) allowed.push(uri)
          else if (answer === null) unanswered++
        }
      }
      const workers = Array.from({ length: WORKERS }, async () => await worker())
      const before = allowed.length
      await waitUntil(`2000 calls allowed after start ${kill}`, () => allowed.length >= before + 2000,
        { timeoutMs: 60_000, intervalMs: 20, detail: () => `only ${allowed.length - before} allowed (${unanswered} unanswered); serve said:\n${serve.stderr()}` })
      serve.child.kill('SIGKILL')
      await new Promise((resolve) => serve.child.once('exit', resolve))
      serve.cancel()
      running = false
      await Promise.all(workers)
      expect(cutLevelDbLogs().length).toBeGreaterThan(0)
    }

    // The next start puts back from the journal what LevelDB lost, and records it.
    const serve = await startServe()
    expect(await signalAndWait(serve.child, 'SIGTERM', 20_000)).toBe(true)
    serve.cancel()
    const exported = (await portcullisCliOk(['audit', 'export', '--data', data()])).trim().split('\n')
      .map((line) => JSON.parse(line) as { kind: string, action: string | null, decision?: string, uri?: string | null, fields?: Record<string, unknown> | null })
    const recorded = new Set(exported.filter((r) => r.kind === 'decision' && r.decision === 'allow').map((r) => r.uri))
    expect(allowed.filter((uri) => !recorded.has(uri))).toEqual([])
    const starts = exported.filter((r) => r.action === 'portcullis.start')
    expect(starts).toHaveLength(KILLS + 1)
    // Each start after a kill found LevelDB without the records of the cut logs and restored them.
    for (const start of starts.slice(1)) expect(start.fields).toHaveProperty('journalRestored')
    const verify = await runPortcullisCli(['audit', 'verify', '--data', data()])
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    console.log(`journal crash test: ${allowed.length} calls allowed across ${KILLS} kills, ${unanswered} unanswered at the kills, ${exported.length} records`)
  })
})
