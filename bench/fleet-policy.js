// `node bench/fleet-policy.js [--hosts 20] [--publishes 20]` (after `npm run build`): how long a published policy
// revision takes to be in force on every host (issue 14). A private PostgreSQL (Debian's server, initdb'd into a temp
// dir, socket only), N `serve --policy-from fleet` hosts (default 20, the fleet; fewer with --hosts while
// developing; no dockerd: nothing here asks one), and R publishes,
// alternating two policies. Each publish is committed in-process (the code `portcullis policy publish` runs), and
// from that instant every host's admin socket is asked every 10 ms which revision is in force. Reports p50/p99/max
// of the per-host latency and of the per-publish latency of the slowest host. Target: p99 <= 2 s.
// Everything runs under one temp dir and is stopped by pid at the end.

import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { publishPolicyRevision } from '../dist/fleet/policy-revisions.js'
import { readPolicySigningKey, signPolicy } from '../dist/policy/signed.js'
import { startPostgres } from '../scripts/lib/postgres.js'
import { onProcessEnd } from './cleanup.js'
import { cli, get, prepareHost, startHost } from './fleet-hosts.js'
import { ms, summarize } from './stats.js'

const { values } = parseArgs({ options: { hosts: { type: 'string', default: '20' }, publishes: { type: 'string', default: '20' } } })
const HOSTS = Number(values.hosts)
const PUBLISHES = Number(values.publishes)
const ROOT = path.resolve(import.meta.dirname, '..')
const log = (text) => process.stderr.write(`[fleet-policy] ${text}\n`)
const sleep = (msecs) => new Promise((resolve) => setTimeout(resolve, msecs))

const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-bench-fleet-policy-'))
const children = []
let postgres = null
let exitCode = 0
try {
  const server = await startPostgres(path.join(dir, 'pg'), { onProcessEnd })
  postgres = server
  const { socketDir, port } = server
  const url = (user) => server.url(user)
  cli(['fleet', 'init-db', '--fleet', url('postgres')])
  await server.sql("CREATE ROLE fleet_hosts LOGIN PASSWORD 'host-secret' IN ROLE portcullis_ingest; CREATE ROLE ops LOGIN PASSWORD 'ops-secret' IN ROLE portcullis_publisher")
  writeFileSync(path.join(dir, 'host.pw'), 'host-secret\n', { mode: 0o600 })
  cli(['policy', 'keygen', '--out', path.join(dir, 'policy-keys')])
  const key = readPolicySigningKey(path.join(dir, 'policy-keys', 'policy_ed25519.key'))
  const example = readFileSync(path.join(ROOT, 'examples', 'policy.json'))
  const other = Buffer.from(example.toString().replace('"description": "Card processing"', '"description": "Card processing (edited)"'))

  const publisher = new pg.Client({ host: socketDir, port, user: 'ops', password: 'ops-secret', database: 'portcullis' })
  await publisher.connect()
  const publish = async (bytes) => (await publishPolicyRevision(publisher, (revision) => signPolicy(key, bytes, { revision, publisher: 'bench', publishedAt: new Date().toISOString(), rollback: false }))).revision
  await publish(example)

  log(`starting ${HOSTS} hosts`)
  const hosts = await Promise.all(Array.from({ length: HOSTS }, async (_, i) => {
    const host = prepareHost(path.join(dir, `host-${i + 1}`))
    children.push(await startHost(host, [
      '--fleet', url('fleet_hosts'), '--fleet-password-file', path.join(dir, 'host.pw'), '--policy-from', 'fleet', '--policy-key', path.join(dir, 'policy-keys', 'policy_ed25519.pub')
    ]))
    return host.admin
  }))
  await Promise.all(hosts.map(async (admin) => await revisionReached(admin, 1, 30_000)))

  const perHost = []
  const slowest = []
  for (let i = 0; i < PUBLISHES; i++) {
    await sleep(200) // hosts settle; the poll fallback (10 s) stays out of the way
    const start = performance.now()
    const revision = await publish(i % 2 === 0 ? other : example)
    const committed = performance.now()
    const times = await Promise.all(hosts.map(async (admin) => (await revisionReached(admin, revision, 30_000)) - committed))
    perHost.push(...times)
    slowest.push(Math.max(...times))
    if (i === 0) log(`publish (sign, lock, insert, commit): ${ms(committed - start)} ms`)
  }
  const host = summarize(perHost)
  const all = summarize(slowest)
  console.log(`fleet policy: commit -> in force on a host (${HOSTS} hosts, ${PUBLISHES} publishes): p50 ${ms(host.p50)} ms, p99 ${ms(host.p99)} ms, max ${ms(host.max)} ms`)
  console.log(`fleet policy: commit -> in force on all ${HOSTS} hosts: p50 ${ms(all.p50)} ms, p99 ${ms(all.p99)} ms, max ${ms(all.max)} ms`)
  await publisher.end()
} catch (err) {
  log(`failed: ${err.stack ?? err}`)
  exitCode = 1
} finally {
  await Promise.all(children.map(async (child) => await child.stop()))
  await postgres?.stop()
  rmSync(dir, { recursive: true, force: true })
}
process.exit(exitCode)



/** Polls the host's status every 10 ms; resolves with the instant `revision` was in force. */
async function revisionReached (admin, revision, timeoutMs) {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const status = JSON.parse(await get(admin, '/v1/status'))
    const now = performance.now()
    if (status.policy?.revision?.revision >= revision) return now
    if (now > deadline) throw new Error(`${admin}: revision ${revision} not in force after ${timeoutMs} ms`)
    await sleep(10)
  }
}
