// Figures 8–10 of `npm run bench`: the audit store at compliance-review scale. A store of 1,000,000 records
// (decisions of 1,000 users over 20 projects, written through AuditStore.append exactly as serve writes them,
// indexes included) and one of 100,000 with the same user's share, then, with the real CLI offline (`--data`):
//
//   8. `audit export` of every record as jsonl and as csv: records/s and the CLI's peak RSS
//   9. a filtered export of one user's 1,000 records: from the 1,000,000-record store vs. the 100,000 one
//      (the time should follow what is returned, not the store's size), against a full scan's time
//  10. `audit verify`: records/s
//
// Everything lives under `dir`, which the caller removes.

import { execFile } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { promisify } from 'node:util'
import { PORTCULLIS_CLI, REPO_ROOT } from './portcullis.js'

const run = promisify(execFile)
const USERS = 1000
const PROJECTS = 20
const BIG = 1_000_000
const SMALL = 100_000
/** Appends in flight at once while filling, as serve has under load. */
const CONCURRENCY = 256

export async function measureAuditExport ({ dir, progress, figure }) {
  await mkdir(dir, { recursive: true })
  const big = path.join(dir, 'store-1m')
  const small = path.join(dir, 'store-100k')
  progress(`filling a store with ${BIG.toLocaleString('en')} records (about a minute)`)
  const fillBig = await fill(big, BIG, progress)
  // user-7 holds BIG / USERS records in both stores.
  progress(`filling a store with ${SMALL.toLocaleString('en')} records, user-7 holding ${(BIG / USERS).toLocaleString('en')} of them`)
  await fill(small, SMALL, progress, SMALL / (BIG / USERS))

  const jsonl = await timed(['audit', 'export', '--data', big, '--format', 'jsonl', '--out', '/dev/null'])
  const csv = await timed(['audit', 'export', '--data', big, '--format', 'csv', '--out', '/dev/null'])
  // The peaks above are what V8 allows itself when memory is plentiful; with the heap held to 48 MiB the same
  // export must still finish, which is what "constant memory" means.
  const capped = await timed(['audit', 'export', '--data', big, '--format', 'csv', '--out', '/dev/null'], ['--max-old-space-size=48'])
  figure(`audit export of ${BIG.toLocaleString('en')} records (offline, --data; filled at ${Math.round(fillBig)} appends/s): ` +
    `jsonl ${rate(BIG, jsonl.seconds)} records/s (${jsonl.seconds.toFixed(1)} s, peak RSS ${jsonl.peakMiB} MiB); ` +
    `csv ${rate(BIG, csv.seconds)} records/s (${csv.seconds.toFixed(1)} s, peak RSS ${csv.peakMiB} MiB); ` +
    `csv with the heap held to 48 MiB: ${rate(BIG, capped.seconds)} records/s, peak RSS ${capped.peakMiB} MiB`)

  const oneUser = (store) => ['audit', 'export', '--data', store, '--user', 'user-7', '--format', 'jsonl', '--out', '/dev/null']
  const inBig = await best(() => timed(oneUser(big)))
  const inSmall = await best(() => timed(oneUser(small)))
  const lines = await countLines(['audit', 'export', '--data', big, '--user', 'user-7', '--format', 'jsonl'])
  figure(`filtered export of one user's records (--user user-7, ${lines.toLocaleString('en')} records): ` +
    `${ms(inBig.seconds)} from ${BIG.toLocaleString('en')} records vs. ${ms(inSmall.seconds)} from ${SMALL.toLocaleString('en')} ` +
    `(best of 3, process start included; a full jsonl export of the big store takes ${jsonl.seconds.toFixed(1)} s)`)

  const verify = await timed(['audit', 'verify', '--data', big])
  figure(`audit verify of ${BIG.toLocaleString('en')} records (offline): ${rate(BIG, verify.seconds)} records/s (${verify.seconds.toFixed(1)} s, peak RSS ${verify.peakMiB} MiB)`)
}

/** Appends `count` decisions, spread over 1,000 users (user-7 gets 1 in 1,000); with `user7Every`, user-7 gets
 * 1 in `user7Every` instead and the rest go to other users, so both stores hold the same number of user-7's. */
async function fill (dir, count, progress, user7Every) {
  const { AuditStore } = await import(path.join(REPO_ROOT, 'dist', 'audit', 'store.js'))
  const store = await AuditStore.open(dir)
  const started = performance.now()
  let next = 0
  const one = async () => {
    while (next < count) {
      const i = next++
      const user = user7Every === undefined ? `user-${i % USERS}` : (i % user7Every === 7 ? 'user-7' : `user-${1000 + (i % 997)}`)
      const project = `project-${i % PROJECTS}`
      const deny = i % 11 === 0
      await store.append({
        kind: 'decision',
        user,
        authMethod: 'jwt',
        action: i % 3 === 0 ? 'container.exec' : 'container.inspect',
        project,
        role: 'developer',
        resource: `container ${project}-c${i % 50} (${(i % 50).toString(16).padStart(12, '0')})`,
        method: i % 3 === 0 ? 'POST' : 'GET',
        uri: i % 3 === 0 ? `/v1.41/containers/${project}-c${i % 50}/exec` : `/v1.41/containers/${project}-c${i % 50}/json`,
        decision: deny ? 'deny' : 'allow',
        reason: deny ? `${user} may not container.exec in project ${project}` : `${user} is developer in ${project}`,
        code: deny ? 'ROLE_DENIES' : null,
        fields: i % 3 === 0 ? { cmd: ['sh', '-c', 'echo hi'], user: '', env: [], tty: false, attachStdin: false, privileged: false } : null
      })
      if (i > 0 && i % 200_000 === 0) progress(`  ${i.toLocaleString('en')} records`)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, one))
  const seconds = (performance.now() - started) / 1000
  await store.close()
  return count / seconds
}

/** Runs the CLI under GNU time: wall seconds and peak RSS. */
async function timed (args, nodeFlags = []) {
  const started = performance.now()
  const { stderr } = await run('/usr/bin/time', ['-f', 'PEAK_KIB %M', process.execPath, ...nodeFlags, PORTCULLIS_CLI, ...args], { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 })
  const seconds = (performance.now() - started) / 1000
  const kib = Number(/PEAK_KIB (\d+)/.exec(stderr)?.[1] ?? NaN)
  return { seconds, peakMiB: (kib / 1024).toFixed(0) }
}

async function best (measure) {
  const runs = []
  for (let i = 0; i < 3; i++) runs.push(await measure())
  return runs.sort((a, b) => a.seconds - b.seconds)[0]
}

async function countLines (args) {
  const { stdout } = await run(process.execPath, [PORTCULLIS_CLI, ...args], { cwd: REPO_ROOT, maxBuffer: 256 * 1024 * 1024 })
  return stdout.split('\n').filter((line) => line !== '').length
}

const rate = (n, seconds) => Math.round(n / seconds).toLocaleString('en')
const ms = (seconds) => `${Math.round(seconds * 1000)} ms`
