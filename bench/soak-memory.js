// `npm run bench:soak`: does serve's memory stay bounded over millions of decisions? (issue 12, item 5; not part
// of `npm run bench` or `make test`: a million decisions take 5–8 minutes on a 2-core machine.)
//
//   --mode serve (default): a real `serve` with its store in a temp dir, a private dockerd holding the labelled
//     container, and the load generator of `npm run bench` (bench/load-worker.js) driving `--decisions` allowed
//     AuthZReq calls at `--concurrency` straight on the plugin socket.
//   --mode level: LevelDB alone (bench/soak-memory-level.js), 6-put batches like AuditStore #flush, `--concurrency`
//     in flight, `--sync true|false`: separates LevelDB's memory from the rest of serve.
//
// Every `--sample` seconds it reads VmRSS, RssAnon (malloc's and V8's) and RssFile (mapped files: node itself and
// LevelDB's tables) from /proc/PID/status and the V8 heap (serve: written by a preload,
// bench/soak-heap-reporter.js; level: sent by the child), prints one row per sample, then the RSS at the end of
// each half and the growth per decision over the second half (flat: a few bytes or less).
//
// --allocator glibc|jemalloc (default glibc, what a bare `node dist/cli.js serve` runs on; jemalloc: LD_PRELOAD of
// Debian's libjemalloc2, as the systemd unit and the managed plugin run it; other MALLOC_* variables pass through),
// --cli PATH (serve: another build's cli.js, e.g. a copy of dist/ from before a change),
// --decisions N (default 2000000), --concurrency C (default 64), --sample S (default 5), --sync true|false (level),
// --write-buffer MiB (level, default 16, the store's), --cache-size MiB / --max-open-files N (level: LevelDB's
// defaults when absent), --batch chained|array (level: LevelDB's chained batch, as the store wrote before, or the array
// form, as it writes now), --gc-every N (level: run with --expose-gc and collect every N batches, to see what waits for a GC),
// --keep (keep the temp dir).

import { fork } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { killPids, onProcessEnd, runAllCleanups, stopInReverse } from './cleanup.js'
import { execCreateRequest, pluginHttpRequest } from './authz-request.js'
import { probeAllowed, startLoadGenerator } from './authz-load.js'
import { busyboxRootfsTar, dockerFor, startLabelledContainer } from './docker-cli.js'
import { DOCKERD_BINARY, dockerdSocket, startDockerd, unmountUnder } from './dockerd.js'
import { issueTokens, PORTCULLIS_CLI, REPO_ROOT, startPortcullis } from './portcullis.js'

const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'
const LEVEL_CHILD = fileURLToPath(new URL('./soak-memory-level.js', import.meta.url))
const HEAP_REPORTER = fileURLToPath(new URL('./soak-heap-reporter.js', import.meta.url))
const CONTAINER = 'bench-target'
/** Load windows are this long; samples are taken on a timer meanwhile. */
const WINDOW_MS = 2_000

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'serve' },
    decisions: { type: 'string', default: '2000000' },
    concurrency: { type: 'string', default: '64' },
    sample: { type: 'string', default: '5' },
    allocator: { type: 'string', default: 'glibc' },
    cli: { type: 'string', default: PORTCULLIS_CLI },
    sync: { type: 'string', default: 'true' },
    'write-buffer': { type: 'string', default: '16' },
    'cache-size': { type: 'string' },
    'max-open-files': { type: 'string' },
    batch: { type: 'string', default: 'chained' },
    'gc-every': { type: 'string' },
    keep: { type: 'boolean', default: false }
  }
})
const decisions = Number(args.decisions)
const concurrency = Number(args.concurrency)
const sampleMs = Number(args.sample) * 1000
if (!['serve', 'level'].includes(args.mode) || !['glibc', 'jemalloc'].includes(args.allocator) || !['true', 'false'].includes(args.sync) ||
    ![decisions, concurrency, sampleMs].every((n) => Number.isFinite(n) && n > 0)) {
  process.stderr.write('soak: --mode serve|level, --allocator glibc|jemalloc, --sync true|false; --decisions, --concurrency and --sample take positive numbers\n')
  process.exit(2)
}
if (args.allocator === 'jemalloc' && !existsSync(JEMALLOC)) {
  process.stderr.write(`soak: ${JEMALLOC} is missing: apt-get install libjemalloc2\n`)
  process.exit(2)
}

const progress = (text) => process.stderr.write(`soak: ${text}\n`)
const out = (text) => process.stdout.write(text + '\n')
const MiB = (kib) => (kib / 1024).toFixed(1)

/** VmRSS, and of it RssAnon (malloc's and V8's memory) and RssFile (mapped files: node itself, LevelDB's tables), in KiB. */
function memoryKibOf (pid) {
  let status = ''
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {}
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rssKib: kib('VmRSS'), anonKib: kib('RssAnon'), fileKib: kib('RssFile') }
}

function rssKibOf (pid) {
  return memoryKibOf(pid).rssKib
}

/** The environment of the measured process for `--allocator`. */
function allocatorEnv () {
  const env = { ...process.env }
  delete env.LD_PRELOAD
  if (args.allocator === 'jemalloc') env.LD_PRELOAD = JEMALLOC
  return env
}

/** Samples { done, rssKib, heapMib } into `rows`, printing each row. */
function sampler ({ pid, doneSoFar, heapMib }) {
  const rows = []
  const started = Date.now()
  out('seconds  decisions   rss_MiB  anon_MiB  file_MiB  heap_MiB')
  const take = () => {
    const row = { seconds: (Date.now() - started) / 1000, done: doneSoFar(), ...memoryKibOf(pid), heapMib: heapMib() }
    rows.push(row)
    out(`${row.seconds.toFixed(0).padStart(7)}  ${String(row.done).padStart(9)}  ${MiB(row.rssKib).padStart(8)}  ${MiB(row.anonKib).padStart(8)}  ${MiB(row.fileKib).padStart(8)}  ${row.heapMib == null ? '       -' : row.heapMib.toFixed(1).padStart(8)}`)
  }
  take()
  const timer = setInterval(take, sampleMs)
  return { rows, stop: () => { clearInterval(timer); take(); return rows } }
}

function summarize (rows, label) {
  const total = rows[rows.length - 1].done
  const atHalf = rows.reduce((best, row) => Math.abs(row.done - total / 2) < Math.abs(best.done - total / 2) ? row : best)
  const last = rows[rows.length - 1]
  const peak = Math.max(...rows.map((row) => row.rssKib))
  const perDecision = last.done > atHalf.done ? (last.rssKib - atHalf.rssKib) * 1024 / (last.done - atHalf.done) : NaN
  out(`${label}: ${total} decisions; RSS ${MiB(rows[0].rssKib)} MiB at start, ${MiB(atHalf.rssKib)} MiB at ${atHalf.done} (half), ${MiB(last.rssKib)} MiB at the end, peak ${MiB(peak)} MiB; second half ${perDecision.toFixed(1)} bytes/decision`)
}

async function soakLevel (dir) {
  const options = {
    dir: path.join(dir, 'db'),
    total: decisions,
    inFlight: concurrency,
    sync: args.sync === 'true',
    writeBufferSize: Number(args['write-buffer']) * 1024 * 1024,
    cacheSize: args['cache-size'] === undefined ? undefined : Number(args['cache-size']) * 1024 * 1024,
    maxOpenFiles: args['max-open-files'] === undefined ? undefined : Number(args['max-open-files']),
    batch: args.batch,
    gcEvery: args['gc-every'] === undefined ? undefined : Number(args['gc-every'])
  }
  const execArgv = options.gcEvery === undefined ? [] : ['--expose-gc']
  const child = fork(LEVEL_CHILD, [JSON.stringify(options)], { execArgv, env: allocatorEnv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const cancel = onProcessEnd(() => killPids([child.pid]))
  let done = 0
  let heap = null
  const finished = new Promise((resolve, reject) => {
    child.on('message', (message) => {
      if (message.type === 'progress') { done = message.done; heap = message.heapMib ?? heap }
      if (message.type === 'done') resolve()
    })
    child.on('exit', (code) => code === 0 ? resolve() : reject(new Error(`the LevelDB child exited with ${code}`)))
  })
  const samples = sampler({ pid: child.pid, doneSoFar: () => done, heapMib: () => heap })
  const rowsPromise = finished.then(() => samples.stop())
  // The last sample is taken once the batches are written, before the child closes the database.
  const rows = await rowsPromise
  cancel()
  summarize(rows, `level (sync ${args.sync}, allocator ${args.allocator}, ${args.batch} batches, writeBufferSize ${args['write-buffer']} MiB${options.gcEvery === undefined ? '' : `, gc() every ${options.gcEvery} batches`})`)
}

async function soakServe (dir, stoppers) {
  if (!existsSync(DOCKERD_BINARY)) throw new Error(`${DOCKERD_BINARY} does not exist; run \`make system-deps\` (Debian docker.io)`)
  if (process.getuid?.() !== 0) throw new Error('the soak starts its own dockerd, which needs root; run it as root')
  const cli = path.resolve(args.cli)
  if (!existsSync(cli)) throw new Error(`${cli} does not exist; run \`npm run build\` first`)
  const keysDir = path.join(dir, 'keys')
  const policyFile = path.join(dir, 'policy.json')
  copyFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), policyFile)
  const tokens = await issueTokens(keysDir, ['alice', 'ops'])
  const dockerdDir = path.join(dir, 'dockerd')
  const heapFile = path.join(dir, 'heap.json')
  progress('starting portcullis and a private dockerd')
  const plugin = await startPortcullis({
    dir: path.join(dir, 'plugin'),
    policyFile,
    keysDir,
    dockerSocket: dockerdSocket(dockerdDir),
    name: `portcullis-soak-${randomBytes(4).toString('hex')}`,
    cli,
    nodeFlags: ['--import', HEAP_REPORTER],
    env: { ...allocatorEnv(), PORTCULLIS_SOAK_HEAP_FILE: heapFile }
  })
  stoppers.push(plugin.stop)
  // The daemon asks portcullis, so the container is created through it and belongs to its project.
  const dockerd = await startDockerd({ dir: dockerdDir, authorizationPlugin: plugin.name })
  stoppers.push(dockerd.stop)
  const tar = await busyboxRootfsTar(path.join(dir, 'image'))
  await startLabelledContainer(await dockerFor({ socket: dockerd.socket, configDir: path.join(dir, 'cli-ops'), token: tokens.ops }), { tar, name: CONTAINER, project: 'payments' })
  const generator = await startLoadGenerator()
  stoppers.push(generator.stop)
  const request = pluginHttpRequest(execCreateRequest({ container: CONTAINER, token: tokens.alice }))
  await probeAllowed(generator, { socket: plugin.socket, request })

  progress(`${decisions} decisions at c=${concurrency}, RSS of serve (pid ${plugin.pid}) every ${sampleMs / 1000} s`)
  let done = 0
  const heapMib = () => {
    try {
      return JSON.parse(readFileSync(heapFile, 'utf8')).heapUsedMib
    } catch {
      return null
    }
  }
  const samples = sampler({ pid: plugin.pid, doneSoFar: () => done, heapMib })
  while (done < decisions) {
    const result = await generator.run({ socket: plugin.socket, request, connections: concurrency, durationMs: WINDOW_MS })
    if (result.errors > 0) throw new Error(`${result.errors} calls failed: ${result.firstError}`)
    done += result.allowed
  }
  summarize(samples.stop(), `serve (${path.relative(REPO_ROOT, cli) || cli}, c=${concurrency}, allocator ${args.allocator})`)
  // Idle: is the memory given back?
  await sleep(Math.max(sampleMs, 10_000))
  out(`after ${Math.max(sampleMs, 10_000) / 1000} s idle: RSS ${MiB(rssKibOf(plugin.pid))} MiB`)
}

async function main () {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-soak-'))
  const cancelDirCleanup = onProcessEnd(() => {
    unmountUnder(dir)
    if (!args.keep) rmSync(dir, { recursive: true, force: true })
  })
  const tuning = Object.entries(process.env).filter(([name]) => name.startsWith('MALLOC_')).map(([name, value]) => `${name}=${value}`).join(' ')
  out(`soak-memory: mode ${args.mode}, ${decisions} decisions, c=${concurrency}, allocator ${args.allocator}${tuning === '' ? '' : ` (${tuning})`}${args.mode === 'level' ? `, sync ${args.sync}` : ''}; node ${process.version}, ${os.cpus().length} cores; store in ${dir}`)
  const stoppers = []
  try {
    if (args.mode === 'level') await soakLevel(dir)
    else await soakServe(dir, stoppers)
  } finally {
    await stopInReverse(stoppers, progress)
    cancelDirCleanup()
    unmountUnder(dir)
    if (!args.keep) rmSync(dir, { recursive: true, force: true })
    else progress(`kept ${dir}`)
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`soak: ${err.stack ?? err}\n`)
  runAllCleanups()
  process.exit(1)
})
