// Durable before the reply, on the journal write path (issue 12, item 6): each batch is made durable by one O_DSYNC
// append to the store's journal, while LevelDB gets it without sync. `serve` is killed with SIGKILL under 16-way
// load, three times; after each kill LevelDB's write-ahead logs are also cut to nothing, as a crash of the host
// can leave logs that were never synced. Every call that was answered "allow" still has its decision record after
// the next start, and the chain verifies.
import { readdirSync, truncateSync } from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { postAuthzReq, type AuthzAnswer } from '../helpers/authz-request.js'
import { portcullisCliOk, runPortcullisCli } from '../helpers/index.js'
import { serveWorkspace, type ServePaths, type StartedServe } from '../helpers/serve-workspace.js'
import { waitUntil } from '../helpers/wait.js'

const KILLS = 3
const WORKERS = 16

const workspace = serveWorkspace('portcullis-journal-crash-')
let paths: ServePaths
let token: string

beforeAll(async () => {
  paths = workspace.pathsIn('serve')
  token = (await portcullisCliOk(['token', 'issue', '--keys', workspace.keysDir, '--user', 'alice', '--ttl', '1h'])).trim().split('\n').pop()!.trim()
})

const data = (): string => paths.data

/** serve, once its plugin socket answers an AuthZReq (the socket exists before its start returns). */
async function startServe (): Promise<StartedServe> {
  const started = Date.now()
  const serve = await workspace.startServe(paths.dir, paths.data, { intervalMs: 20 })
  await waitUntil('serve\'s answer', async () => {
    if (serve.child.exitCode !== null) throw new Error(`serve exited during start:\n${serve.stderr()}`)
    return (await authzReq('/_ping')) !== null
  }, { timeoutMs: Math.max(0, started + 30_000 - Date.now()), intervalMs: 20, detail: serve.stderr })
  return serve
}

const authzReq = (uri: string): Promise<AuthzAnswer | null> => postAuthzReq(paths.socket, uri, { token })

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
      await serve.kill()
      running = false
      await Promise.all(workers)
      expect(cutLevelDbLogs().length).toBeGreaterThan(0)
    }

    // The next start puts back from the journal what LevelDB lost, and records it.
    const serve = await startServe()
    await serve.stop()
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
