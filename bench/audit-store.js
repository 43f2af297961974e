// The audit store alone, in process: appends per second, latency and CPU per record at each concurrency, for two
// builds taking turns (so a change to the write path is a ratio from one run on this noisy machine). Each run
// opens a fresh store in a temp dir on the same file system as /tmp and appends decision records shaped like
// the plugin's.
//
//   node bench/audit-store.js DIST [BASELINE_DIST] [--levels 1,16,64] [--seconds 3] [--rounds 3]
//
// A baseline build: `git worktree add /tmp/base REF && ln -s $PWD/node_modules /tmp/base/ && (cd /tmp/base && npx tsc -p .)`,
// then pass /tmp/base/dist.

import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { levels: { type: 'string', default: '1,16,64' }, seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' }, child: { type: 'boolean', default: false } }
})

const input = (i) => ({
  kind: 'decision', user: 'alice', action: 'container.exec', project: 'payments', resource: 'container bench-target', method: 'POST',
  uri: `/v1.41/containers/bench-target/exec?i=${i}`, decision: 'allow', reason: 'alice is developer in payments', role: 'developer',
  fields: { cmd: ['ls', '/'], user: '', env: [], tty: false, attachStdin: false, privileged: false }
})

/** One measurement in this process: prints one JSON line. */
async function measure (dist, connections, seconds) {
  const { AuditStore } = await import(path.resolve(dist, 'audit', 'store.js'))
  const dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-store-bench-'))
  const store = await AuditStore.open(path.join(dir, 'data'))
  let n = 0
  let stop = false
  const latencies = []
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const timer = setTimeout(() => { stop = true }, seconds * 1000)
  await Promise.all(Array.from({ length: connections }, async () => {
    while (!stop) {
      const sent = performance.now()
      await store.append(input(n++))
      latencies.push(performance.now() - sent)
    }
  }))
  clearTimeout(timer)
  const elapsed = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  latencies.sort((a, b) => a - b)
  await store.close()
  rmSync(dir, { recursive: true, force: true })
  process.stdout.write(JSON.stringify({
    perSecond: latencies.length / elapsed,
    p50: latencies[Math.floor(latencies.length / 2)],
    p99: latencies[Math.floor(latencies.length * 0.99)],
    cpuPerRecordUs: (cpu.user + cpu.system) / latencies.length
  }) + '\n')
}

if (values.child) {
  await measure(positionals[0], Number(positionals[1]), Number(positionals[2]))
} else {
  const builds = positionals.length > 0 ? positionals : ['dist']
  const levels = values.levels.split(',').map(Number)
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const script = new URL(import.meta.url).pathname
  for (const connections of levels) {
    const results = builds.map(() => [])
    for (let round = 0; round < Number(values.rounds); round++) {
      // Each measurement in a fresh process; the order swaps every round.
      const order = round % 2 === 0 ? builds : [...builds].reverse()
      for (const build of order) {
        const out = execFileSync(process.execPath, [script, '--child', build, String(connections), values.seconds], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        results[builds.indexOf(build)].push(JSON.parse(out.trim().split('\n').at(-1)))
      }
    }
    const lines = builds.map((build, i) => {
      const r = results[i]
      return `  ${build}: ${Math.round(median(r.map((x) => x.perSecond)))}/s, p50 ${median(r.map((x) => x.p50)).toFixed(3)} ms, p99 ${median(r.map((x) => x.p99)).toFixed(3)} ms, CPU ${median(r.map((x) => x.cpuPerRecordUs)).toFixed(1)} µs per record`
    })
    const ratio = builds.length > 1 ? `; ${builds[0]} = ${(median(results[0].map((x) => x.perSecond)) / median(results[1].map((x) => x.perSecond))).toFixed(2)}× ${builds[1]}` : ''
    process.stdout.write(`audit store appends c=${connections} (median of ${values.rounds} runs of ${values.seconds} s${ratio}):\n${lines.join('\n')}\n`)
  }
}
