// `npm run bench`: portcullis against a real private dockerd, one line per figure on stdout (progress on
// stderr). See BENCHMARKS.md for what each figure means and the numbers measured so far.
//
//   1. AuthZReq decisions/s and latency straight on the plugin socket, at several concurrencies
//   2. `docker inspect` API latency through a daemon asking portcullis vs. one asking nobody (and, as the
//      floor no plugin can beat, one asking a no-op plugin)
//   3. peak RSS of `serve` after the load of (1)
//
// Options: --duration S (per window, default 5), --repeat N (windows per level, the median is reported; default
// 3), --warmup S (before each level, default 2), --levels 1,16,64, --calls 2000 (figure 2),
// --profile DIR (run serve under `node --cpu-prof`, write the profile to DIR and summarise it; the figures
// of such a run are slowed by the profiler), --keep (keep the temp dir, with the daemon and plugin logs),
// --cli PATH (measure another build's cli.js, e.g. a copy of dist/ with a change to try; default dist/cli.js).
// Everything runs on unix sockets under one temp dir, is bounded in time, and is stopped by pid at the end.

import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { measureWindow, probeAllowed, startLoadGenerator, waitUntilQuiet } from './authz-load.js'
import { execCreateRequest, pluginHttpRequest } from './authz-request.js'
import { onProcessEnd, runAllCleanups } from './cleanup.js'
import { busyboxRootfsTar, dockerFor, startLabelledContainer } from './docker-cli.js'
import { DOCKERD_BINARY, dockerdSocket, startDockerd, unmountUnder } from './dockerd.js'
import { compareInspectLatency } from './inspect-latency.js'
import { issueTokens, PORTCULLIS_CLI, REPO_ROOT, startNoopPlugin, startPortcullis, usePortcullisCli } from './portcullis.js'
import { memoryOf } from './procfs.js'
import { summarizeProfile } from './profile-summary.js'
import { ms, percent } from './stats.js'

const TARGETS = { decisionsPerSecondAt64: 11_000, p99MsAt16: 6, inspectRatio: 1.3 }
/** The whole run is cut off after this long, whatever it is waiting for. */
const OVERALL_LIMIT_MS = 20 * 60_000
const CONTAINER = 'bench-target'
/** CPU (in cores) used by others during a window above which it is measured again, at most MAX_RETRIES times. */
const DISTURBED_ABOVE = 0.25
const MAX_RETRIES = 2

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    levels: { type: 'string', default: '1,16,64' },
    calls: { type: 'string', default: '2000' },
    repeat: { type: 'string', default: '3' },
    profile: { type: 'string' },
    cli: { type: 'string', default: PORTCULLIS_CLI },
    keep: { type: 'boolean', default: false }
  }
})
const durationMs = Number(args.duration) * 1000
const warmupMs = Number(args.warmup) * 1000
const levels = args.levels.split(',').map(Number)
const inspectCalls = Number(args.calls)
const repeat = Number(args.repeat)
if (![durationMs, warmupMs, inspectCalls, ...levels].every((n) => Number.isFinite(n) && n >= 0) || levels.some((n) => n < 1) || !(repeat >= 1)) {
  process.stderr.write('bench: --duration, --warmup, --calls and --repeat take numbers, --levels a comma-separated list of concurrencies (e.g. 1,16,64)\n')
  process.exit(2)
}

const progress = (text) => process.stderr.write(`bench: ${text}\n`)
const figure = (text) => process.stdout.write(text + '\n')
const met = (ok) => ok ? 'met' : 'MISSED'

async function main () {
  const cli = path.resolve(args.cli)
  if (!existsSync(cli)) throw new Error(`${cli} does not exist; run \`npm run build\` first`)
  usePortcullisCli(cli)
  if (!existsSync(DOCKERD_BINARY)) throw new Error(`${DOCKERD_BINARY} does not exist; run \`make system-deps\` (Debian docker.io)`)
  if (process.getuid?.() !== 0) throw new Error('the benchmark starts its own dockerd, which needs root; run it as root')

  const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-bench-'))
  // Registered first, so it runs last: after every process using the dir is gone.
  const cancelDirCleanup = onProcessEnd(() => {
    unmountUnder(dir)
    if (!args.keep) rmSync(dir, { recursive: true, force: true })
  })
  figure(machineLine(dir, cli))

  const stoppers = []
  try {
    const keysDir = path.join(dir, 'keys')
    const policyFile = path.join(dir, 'policy.json')
    copyFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), policyFile)
    const tokens = await issueTokens(keysDir, ['alice', 'ops'])

    progress('starting portcullis, a no-op plugin and three private dockerds (asking portcullis, the no-op plugin, nobody)')
    const dockerdDirWith = path.join(dir, 'dockerd-authz')
    const dockerdDirNoop = path.join(dir, 'dockerd-noop')
    const dockerdDirWithout = path.join(dir, 'dockerd-plain')
    const cpuProfileDir = args.profile === undefined ? undefined : path.resolve(args.profile)
    if (cpuProfileDir !== undefined) mkdirSync(cpuProfileDir, { recursive: true })
    const plugin = await startPortcullis({
      dir: path.join(dir, 'plugin'),
      policyFile,
      keysDir,
      dockerSocket: dockerdSocket(dockerdDirWith),
      name: `portcullis-bench-${randomBytes(4).toString('hex')}`,
      cpuProfileDir
    })
    stoppers.push(plugin.stop)
    const memoryAtStart = memoryOf(plugin.pid)
    const withPlugin = await startDockerd({ dir: dockerdDirWith, authorizationPlugin: plugin.name })
    stoppers.push(withPlugin.stop)
    const noop = await startNoopPlugin({ dir: path.join(dir, 'noop'), name: `portcullis-bench-noop-${randomBytes(4).toString('hex')}` })
    stoppers.push(noop.stop)
    const withNoop = await startDockerd({ dir: dockerdDirNoop, authorizationPlugin: noop.name })
    stoppers.push(withNoop.stop)
    const withoutPlugin = await startDockerd({ dir: dockerdDirWithout })
    stoppers.push(withoutPlugin.stop)

    progress(`importing busybox and starting container ${CONTAINER} (project payments) on each daemon`)
    const tar = await busyboxRootfsTar(path.join(dir, 'image'))
    const asOps = await dockerFor({ socket: withPlugin.socket, configDir: path.join(dir, 'cli-ops'), token: tokens.ops })
    const containerWith = await startLabelledContainer(asOps, { tar, name: CONTAINER, project: 'payments' })
    const containerNoop = await startLabelledContainer(await dockerFor({ socket: withNoop.socket, configDir: path.join(dir, 'cli-noop') }), { tar, name: CONTAINER, project: 'payments' })
    const containerWithout = await startLabelledContainer(await dockerFor({ socket: withoutPlugin.socket, configDir: path.join(dir, 'cli-plain') }), { tar, name: CONTAINER, project: 'payments' })

    // Figure 1
    const generator = await startLoadGenerator()
    stoppers.push(generator.stop)
    const request = pluginHttpRequest(execCreateRequest({ container: CONTAINER, token: tokens.alice }))
    await probeAllowed(generator, { socket: plugin.socket, request })
    const isLoadRecord = (record) => record.kind === 'decision' && record.user === 'alice' && record.action === 'container.exec' && record.decision === 'allow'
    for (const connections of levels) {
      progress(`AuthZReq load at c=${connections}: ${warmupMs / 1000} s warm-up, then ${repeat} windows of ${durationMs / 1000} s`)
      const windows = []
      for (let w = 0; w < repeat; w++) {
        const options = { socket: plugin.socket, request, connections, warmupMs: w === 0 ? warmupMs : 0, durationMs, plugin, isLoadRecord, progress }
        let window = await measureWindow(generator, options)
        // A test suite started by someone else during the window shows as CPU nobody here used: measure again.
        for (let retry = 1; retry <= MAX_RETRIES && window.cpu.others > DISTURBED_ABOVE; retry++) {
          progress(`other work took ${percent(window.cpu.others)} of a core during c=${connections}; measuring that window again (${retry}/${MAX_RETRIES})`)
          window = await measureWindow(generator, options)
        }
        windows.push(window)
      }
      figure(decisionsLine(connections, windows))
    }
    const memory = memoryOf(plugin.pid)

    // Figure 2
    await waitUntilQuiet(progress)
    progress(`${inspectCalls} sequential container inspect calls on each daemon`)
    const inspect = await compareInspectLatency(
      {
        portcullis: { socket: withPlugin.socket, containerId: containerWith },
        noop: { socket: withNoop.socket, containerId: containerNoop },
        none: { socket: withoutPlugin.socket, containerId: containerWithout }
      },
      { token: tokens.alice, calls: inspectCalls }
    )
    figure(inspectLine(inspect))

    // Figure 3
    const mib = (kib) => `${(kib / 1024).toFixed(1)} MiB`
    figure(`serve peak RSS (VmHWM) after the c=${levels.at(-1)} load: ${mib(memory.peakKib)} (VmRSS then ${mib(memory.rssKib)}; ${mib(memoryAtStart.rssKib)} when it had just started)`)
  } finally {
    progress('stopping everything this run started')
    for (const stop of stoppers.reverse()) {
      try {
        await stop()
      } catch (err) {
        progress(`while stopping: ${err.message}`)
      }
    }
    unmountUnder(dir)
    if (args.keep) progress(`kept ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
    cancelDirCleanup()
  }

  if (args.profile !== undefined) {
    const profiles = readdirSync(args.profile).filter((name) => name.endsWith('.cpuprofile')).map((name) => path.join(args.profile, name))
    const newest = profiles.sort((a, b) => a.localeCompare(b)).at(-1)
    if (newest === undefined) progress(`no .cpuprofile was written in ${args.profile}`)
    else process.stderr.write(summarizeProfile(newest).join('\n') + '\n')
  }
}

function machineLine (dir, cli) {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU'
  const dockerd = execFileSync(DOCKERD_BINARY, ['--version'], { encoding: 'utf8' }).trim().replace(/^Docker version /, '')
  const fs = execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim()
  return `machine: nproc ${os.availableParallelism()}, ${model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, dockerd ${dockerd}, linux ${os.release()}, audit store on ${fs} (fsync per batch); portcullis ${buildOf(cli)}`
}

/** Which code is measured: the commit, whether the tree differs from it, and when dist/ was built. */
function buildOf (cli) {
  let commit = 'unknown commit'
  try {
    commit = execFileSync('git', ['-C', REPO_ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    // not a git checkout
  }
  const built = `built ${statSync(cli).mtime.toISOString().slice(0, 16).replace('T', ' ')} UTC`
  return cli === PORTCULLIS_CLI ? `${commit}, dist ${built}` : `${cli} (${built}; checkout ${commit})`
}

/** The median window's figures, the spread over all windows, and the checks summed over all of them. */
function decisionsLine (connections, windows) {
  const sorted = [...windows].sort((a, b) => a.perSecond - b.perSecond)
  const median = sorted[Math.floor(sorted.length / 2)]
  const { latencyMs: latency, cpu } = median
  const sum = (pick) => windows.reduce((total, window) => total + pick(window), 0)
  const calls = sum((w) => w.completed)
  const errors = sum((w) => w.errors)
  const loadRecords = sum((w) => w.audit.loadRecords)
  const otherRecords = sum((w) => w.audit.otherRecords)
  const firstError = windows.find((w) => w.firstError !== null)?.firstError
  const auditOk = windows.every((w) => w.audit.loadRecords === w.completed) && errors === 0
  const targets = []
  if (connections === 64) targets.push(`target ≥ ${TARGETS.decisionsPerSecondAt64}/s: ${met(median.perSecond >= TARGETS.decisionsPerSecondAt64)}`)
  if (connections === 16) targets.push(`target p99 ≤ ${TARGETS.p99MsAt16} ms: ${met(latency.p99 <= TARGETS.p99MsAt16)}`)
  const spread = windows.length > 1 ? `; median of ${windows.length} windows of ${durationMs / 1000} s, range ${Math.round(sorted[0].perSecond)}–${Math.round(sorted.at(-1).perSecond)}/s` : ''
  return `authz decisions/s c=${connections}: ${Math.round(median.perSecond)} (p50 ${ms(latency.p50)} ms, p99 ${ms(latency.p99)} ms)${spread}` +
    `; ${calls} calls, ${errors} errors${firstError ? ` (first: ${firstError.slice(0, 160)})` : ''}` +
    `, audit +${sum((w) => w.audit.growth)} (${loadRecords} of them these calls' decisions${otherRecords > 0 ? `, ${otherRecords} portcullis look-ups` : ''}: ${auditOk ? 'ok' : 'MISMATCH'})` +
    `; CPU serve ${percent(cpu.serve)} (main thread ${percent(cpu.serveMain)}) + generator ${percent(cpu.generator)} + rest ${percent(cpu.others)} of a core, machine ${percent(cpu.machine)} busy${cpu.steal >= 0.01 ? `, ${percent(cpu.steal)} stolen` : ''}` +
    (windows.some((w) => w.cpu.others > DISTURBED_ABOVE) ? ' (DISTURBED by other work on the machine)' : '') +
    (targets.length > 0 ? ` [${targets.join('; ')}]` : '')
}

function inspectLine ({ calls, portcullis, noop, none }) {
  const describe = (s) => `${ms(s.mean)} ms mean (p50 ${ms(s.p50)}, p99 ${ms(s.p99)})`
  const ratio = portcullis.mean / none.mean
  return `inspect latency, ${calls} sequential calls each: with portcullis ${describe(portcullis)}, without plugin ${describe(none)}, ratio ${ratio.toFixed(2)}×` +
    ` [target ≤ ${TARGETS.inspectRatio}×: ${met(ratio <= TARGETS.inspectRatio)}]; floor: with a no-op plugin ${describe(noop)}, ratio ${(noop.mean / none.mean).toFixed(2)}×`
}

const watchdog = setTimeout(() => {
  progress(`gave up after ${OVERALL_LIMIT_MS / 60_000} minutes; stopping everything`)
  runAllCleanups()
  process.exit(1)
}, OVERALL_LIMIT_MS)
watchdog.unref()

main().then(() => {
  clearTimeout(watchdog)
}, (err) => {
  clearTimeout(watchdog)
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exitCode = 1
})
