// `npm run bench`: portcullis against a real private dockerd, one line per figure on stdout (progress on
// stderr). See BENCHMARKS.md for what each figure means and the numbers measured so far.
//
//   1. AuthZReq decisions/s and latency straight on the plugin socket, at several concurrencies
//   2. `docker inspect` API latency through a daemon asking portcullis vs. one asking nobody (and, as the
//      floor no plugin can beat, one asking a no-op plugin)
//   3. peak RSS of `serve` after the load of (1)
//   4. the same build as a managed Docker plugin (plugin/rootfs, built here when missing or older than dist/):
//      its bundle size, the time from `docker plugin enable` to its first decision, and (1) against its socket,
//      window by window in turns with (1) at the same levels, printed right after (1) and compared with it
//   5–7. the SSH bridge, on a stack of its own (bench/bridge.js): `cat` throughput over ssh vs. `docker exec`,
//      spawn → first byte of `echo x` both ways, and serve's memory during 20 concurrent sessions
//   5b. the OpenSSH reference (bench/openssh.js): the same `cat` over Debian's sshd, unrecorded and recorded with
//      `script`, text and random bytes, in turns with the bridge; and the store's growth per recorded byte
//   8–10. the audit store at review scale (bench/audit-export.js): export of 1,000,000 records as jsonl and csv,
//      a filtered export of one user's records, and verify
//   11. the time from an elevation grant's end to its bridge session's processes being gone (bench/grant-end.js)
//   12. an honest bridge login's latency while 200 pre-login connections are held from another address
//      (bench/login-flood.js); 11 and 12 are left out with --skip-bridge
//
// Options: --duration S (per window, default 5), --repeat N (windows per level, the median is reported; default
// 3), --warmup S (before each level, default 2), --levels 1,16,64, --calls 2000 (figure 2),
// --managed-levels 16,64 (figure 4), --skip-managed (no figure 4), --skip-bridge (no figures 5–7),
// --bridge-only (figures 5–7 alone: 1–2 minutes, most of it the three 256 MiB cats over ssh), --bridge-binary
// (figure 5 with a file of random bytes instead of text: the recording's worst case), --skip-sshd (no figure 5b,
// which needs /usr/sbin/sshd: `apt-get install -y --no-install-recommends openssh-server`), --skip-export (no figures
// 8–10), --export-only (figures 8–10 alone: export, filtered export and verify of a 1,000,000-record store),
// --profile DIR (run serve under `node --cpu-prof`, write the profile to DIR and summarise it; the figures
// of such a run are slowed by the profiler; with --bridge-only, it is the bridge stack's serve),
// --keep (keep the temp dir, with the daemon and plugin logs),
// --baseline REF (figure 1 also for the build of git REF, e.g. the commit before a change: built in a temp
// worktree, its serve asking the daemon that asks nobody, measured in turns with this build, window by window),
// --cli PATH (measure another build's cli.js, e.g. a copy of dist/ with a change to try; default dist/cli.js;
// the managed plugin always runs the bundle of dist/).
// Everything runs on unix sockets under one temp dir, is bounded in time, and is stopped by pid at the end.

import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { measureWindow, probeAllowed, startLoadGenerator, waitUntilQuiet } from './authz-load.js'
import { measureAuditExport } from './audit-export.js'
import { buildBaseline } from './baseline.js'
import { measureBridge } from './bridge.js'
import { checkOpensshReference } from './openssh.js'
import { execCreateRequest, pluginHttpRequest } from './authz-request.js'
import { onProcessEnd, runAllCleanups, stopInReverse } from './cleanup.js'
import { busyboxRootfsTar, dockerFor, startLabelledContainer } from './docker-cli.js'
import { DOCKERD_BINARY, dockerdSocket, startDockerd, unmountUnder } from './dockerd.js'
import { compareInspectLatency } from './inspect-latency.js'
import { createManagedPlugin } from './managed-plugin.js'
import { bundleSize, copyPluginBundle, ensurePluginBundle } from './plugin-bundle.js'
import { issueTokens, PORTCULLIS_CLI, REPO_ROOT, startNoopPlugin, startPortcullis, usePortcullisCli } from './portcullis.js'
import { memoryOf } from '../scripts/lib/procfs.js'
import { summarizeProfile } from './profile-summary.js'
import { ms, percent } from './stats.js'

const TARGETS = { decisionsPerSecondAt64: 11_000, p99MsAt16: 6, p50MsAt1: 0.25, inspectRatio: 1.3, bundleMiB: 120 }
/** The whole run is cut off after this long, whatever it is waiting for (figure 5b alone adds several minutes). */
const OVERALL_LIMIT_MS = 30 * 60_000
const CONTAINER = 'bench-target'
/** The managed plugin's name on its private daemon. */
const MANAGED_PLUGIN = 'portcullis-bench:latest'
/** CPU (in cores) used by others during a window above which it is measured again, at most MAX_RETRIES times. */
const DISTURBED_ABOVE = 0.25
const MAX_RETRIES = 2

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    levels: { type: 'string', default: '1,16,64' },
    'managed-levels': { type: 'string', default: '16,64' },
    'skip-managed': { type: 'boolean', default: false },
    'skip-bridge': { type: 'boolean', default: false },
    'bridge-only': { type: 'boolean', default: false },
    'bridge-binary': { type: 'boolean', default: false },
    'skip-sshd': { type: 'boolean', default: false },
    'skip-export': { type: 'boolean', default: false },
    'export-only': { type: 'boolean', default: false },
    calls: { type: 'string', default: '2000' },
    repeat: { type: 'string', default: '3' },
    profile: { type: 'string' },
    cli: { type: 'string', default: PORTCULLIS_CLI },
    baseline: { type: 'string' },
    keep: { type: 'boolean', default: false }
  }
})
const durationMs = Number(args.duration) * 1000
const warmupMs = Number(args.warmup) * 1000
const levels = args.levels.split(',').map(Number)
const managedLevels = args['skip-managed'] ? [] : args['managed-levels'].split(',').map(Number)
const inspectCalls = Number(args.calls)
const repeat = Number(args.repeat)
if (![durationMs, warmupMs, inspectCalls, ...levels, ...managedLevels].every((n) => Number.isFinite(n) && n >= 0) || [...levels, ...managedLevels].some((n) => n < 1) || !(repeat >= 1)) {
  process.stderr.write('bench: --duration, --warmup, --calls and --repeat take numbers, --levels and --managed-levels comma-separated lists of concurrencies (e.g. 1,16,64)\n')
  process.exit(2)
}
if (args['skip-bridge'] && args['bridge-only']) {
  process.stderr.write('bench: --skip-bridge and --bridge-only exclude each other\n')
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
  // Before figures 1–4, not after them: figure 5b needs Debian's sshd.
  if (!args['skip-bridge'] && !args['export-only'] && !args['skip-sshd']) checkOpensshReference()

  const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-bench-'))
  // Registered first, so it runs last: after every process using the dir is gone.
  const cancelDirCleanup = onProcessEnd(() => {
    unmountUnder(dir)
    if (!args.keep) rmSync(dir, { recursive: true, force: true })
  })
  figure(machineLine(dir, cli))

  const cpuProfileDir = args.profile === undefined ? undefined : path.resolve(args.profile)
  if (cpuProfileDir !== undefined) mkdirSync(cpuProfileDir, { recursive: true })
  const stoppers = []
  try {
    if (args['export-only']) {
      await measureAuditExport({ dir: path.join(dir, 'export'), progress, figure })
      return
    }
    if (args['bridge-only']) {
      await measureBridge({ dir: path.join(dir, 'bridge'), progress, figure, cpuProfileDir, binary: args['bridge-binary'], sshd: !args['skip-sshd'] })
      if (cpuProfileDir !== undefined) summarizeNewestProfile(cpuProfileDir) // its serve has stopped: the profile is written
      return
    }
    // First, while nothing runs yet: a bundle build (npm ci, copies) is the heaviest thing the run may do.
    let bundle = null
    if (managedLevels.length > 0) {
      progress('checking the managed-plugin bundle (plugin/rootfs) against dist/')
      const build = await ensurePluginBundle(progress)
      const bundleDir = path.join(dir, 'managed-bundle')
      mkdirSync(bundleDir)
      await copyPluginBundle(bundleDir)
      bundle = { dir: bundleDir, build, size: await bundleSize(path.join(bundleDir, 'rootfs')) }
    }

    const keysDir = path.join(dir, 'keys')
    const policyFile = path.join(dir, 'policy.json')
    // Another build (--cli) is measured with its own example policy: an older build refuses fields added since.
    const ownPolicy = path.resolve(path.dirname(cli), '..', 'examples', 'policy.json')
    copyFileSync(existsSync(ownPolicy) ? ownPolicy : path.join(REPO_ROOT, 'examples', 'policy.json'), policyFile)
    const tokens = await issueTokens(keysDir, ['alice', 'ops'])

    progress(`starting portcullis, a no-op plugin and ${bundle === null ? 'three' : 'four'} private dockerds (asking portcullis, the no-op plugin, nobody${bundle === null ? '' : ', nobody with the managed plugin'})`)
    const dockerdDirWith = path.join(dir, 'dockerd-authz')
    const dockerdDirNoop = path.join(dir, 'dockerd-noop')
    const dockerdDirWithout = path.join(dir, 'dockerd-plain')
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
    // The managed plugin's own daemon: it asks nobody (the load goes straight to the plugin socket), but it
    // holds the container the plugin looks the label up in.
    const forManaged = bundle === null ? null : await startDockerd({ dir: path.join(dir, 'dockerd-managed') })
    if (forManaged !== null) stoppers.push(forManaged.stop)

    progress(`importing busybox and starting container ${CONTAINER} (project payments) on each daemon`)
    const tar = await busyboxRootfsTar(path.join(dir, 'image'))
    const asOps = await dockerFor({ socket: withPlugin.socket, configDir: path.join(dir, 'cli-ops'), token: tokens.ops })
    const containerWith = await startLabelledContainer(asOps, { tar, name: CONTAINER, project: 'payments' })
    const containerNoop = await startLabelledContainer(await dockerFor({ socket: withNoop.socket, configDir: path.join(dir, 'cli-noop') }), { tar, name: CONTAINER, project: 'payments' })
    const containerWithout = await startLabelledContainer(await dockerFor({ socket: withoutPlugin.socket, configDir: path.join(dir, 'cli-plain') }), { tar, name: CONTAINER, project: 'payments' })
    let managed = null
    if (forManaged !== null) {
      const docker = await dockerFor({ socket: forManaged.socket, configDir: path.join(dir, 'cli-managed') })
      await startLabelledContainer(docker, { tar, name: CONTAINER, project: 'payments' })
      progress(`docker plugin create ${MANAGED_PLUGIN} (the bundle) and docker plugin set`)
      // Its own copy of the policy and keys: the same tokens and the same request work on both.
      managed = await createManagedPlugin({ docker, dockerd: forManaged, bundleDir: bundle.dir, name: MANAGED_PLUGIN, dir: path.join(dir, 'managed'), policyFile, keysDir })
      stoppers.push(managed.stop) // after the daemon's stop, so it runs before it: disable and rm first
    }
    let baselineTarget = null
    if (args.baseline !== undefined) {
      const baseline = buildBaseline(args.baseline, dir, progress)
      stoppers.push(baseline.remove)
      const started = await startPortcullis({
        dir: path.join(dir, 'baseline'),
        policyFile: baseline.policyFile,
        keysDir,
        dockerSocket: withoutPlugin.socket,
        name: `portcullis-bench-base-${randomBytes(4).toString('hex')}`,
        cli: baseline.cli
      })
      stoppers.push(started.stop)
      baselineTarget = { pid: started.pid, socket: started.socket, adminSocket: started.adminSocket, label: `baseline ${baseline.commit}` }
    }
    const generator = await startLoadGenerator()
    stoppers.push(generator.stop)
    const request = pluginHttpRequest(execCreateRequest({ container: CONTAINER, token: tokens.alice }))

    // Figure 4 starts here, before any load: enable → first decision.
    const managedLines = []
    let managedMemoryAtStart = null
    if (managed !== null) {
      managedLines.push(bundleLine(bundle))
      await waitUntilQuiet(progress)
      progress(`docker plugin enable ${MANAGED_PLUGIN}, timing its first decision on ${managed.socket}`)
      const start = await managed.enable(request)
      managedLines.push(managedStartLine(start, managed, plugin))
      await probeAllowed(generator, { socket: managed.socket, request })
      managedMemoryAtStart = memoryOf(managed.pid)
    }

    // Figure 1, and figure 4's load: at a level both are measured at, their windows alternate (host, managed,
    // then managed, host, ...), so drift on this shared machine hits both alike and the ratio can be trusted.
    await probeAllowed(generator, { socket: plugin.socket, request })
    const hostTarget = { ...plugin, label: '' }
    const managedTarget = managed === null ? null : { pid: managed.pid, socket: managed.socket, adminSocket: managed.adminSocket, label: 'managed plugin' }
    if (baselineTarget !== null) await probeAllowed(generator, { socket: baselineTarget.socket, request })
    const results = { host: new Map(), managed: new Map() }
    const bothAt = (connections) => managedTarget !== null && managedLevels.includes(connections)
    // At c=1 (the docker CLI's one call at a time) the no-op plugin takes turns too: the floor of the protocol.
    const noopTarget = { pid: noop.pid, socket: noop.socket, label: 'no-op plugin' }
    await probeAllowed(generator, { socket: noop.socket, request })
    for (const connections of levels) {
      const targets = bothAt(connections) ? [hostTarget, managedTarget] : [hostTarget]
      if (baselineTarget !== null) targets.push(baselineTarget)
      if (connections === 1) targets.push(noopTarget)
      const windows = await measureLevel(generator, { targets, request, connections })
      const host = windows[0]
      results.host.set(connections, host)
      if (bothAt(connections)) results.managed.set(connections, windows[1])
      figure(decisionsLine(connections, host))
      if (baselineTarget !== null) figure(baselineLine(connections, host, windows[targets.indexOf(baselineTarget)], baselineTarget.label))
      if (connections === 1) figure(noopLine(host, windows[targets.indexOf(noopTarget)]))
    }
    const memory = memoryOf(plugin.pid)
    if (managedTarget !== null) {
      for (const connections of managedLevels.filter((c) => !levels.includes(c))) {
        const [managedWindows] = await measureLevel(generator, { targets: [managedTarget], request, connections })
        results.managed.set(connections, managedWindows)
      }
      for (const connections of managedLevels) {
        managedLines.push(decisionsLine(connections, results.managed.get(connections), { label: managedTarget.label, host: results.host.get(connections) }))
      }
    }
    for (const line of managedLines) figure(line)
    const managedMemory = managedTarget === null ? null : { atStart: managedMemoryAtStart, after: memoryOf(managedTarget.pid) }

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
    if (managedMemory !== null) {
      figure(`managed plugin peak RSS (VmHWM) after its loads (c=${managedLevels.join(',')}): ${mib(managedMemory.after.peakKib)} (VmRSS then ${mib(managedMemory.after.rssKib)}; ${mib(managedMemory.atStart.rssKib)} after its first decision)`)
    }

    // Figures 5–7, on their own stack; the one above sits idle meanwhile.
    if (!args['skip-bridge']) {
      await waitUntilQuiet(progress)
      await measureBridge({ dir: path.join(dir, 'bridge'), progress, figure, binary: args['bridge-binary'], sshd: !args['skip-sshd'] })
    }

    // Figures 8–10: the audit store at review scale, offline with the CLI.
    if (!args['skip-export']) {
      await waitUntilQuiet(progress)
      await measureAuditExport({ dir: path.join(dir, 'export'), progress, figure })
    }

    // Figures 11–12: the bridge's promises (issue 11), each script on a stack of its own.
    if (!args['skip-bridge']) {
      for (const script of ['grant-end.js', 'login-flood.js']) {
        await waitUntilQuiet(progress)
        progress(`running bench/${script}`)
        execFileSync(process.execPath, [path.join(REPO_ROOT, 'bench', script)], { stdio: 'inherit', timeout: 5 * 60_000 })
      }
    }
  } finally {
    progress('stopping everything this run started')
    await stopInReverse(stoppers, progress)
    unmountUnder(dir)
    if (args.keep) progress(`kept ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
    cancelDirCleanup()
  }
  if (cpuProfileDir !== undefined) summarizeNewestProfile(cpuProfileDir)
}

function summarizeNewestProfile (profileDir) {
  const profiles = readdirSync(profileDir).filter((name) => name.endsWith('.cpuprofile')).map((name) => path.join(profileDir, name))
  const newest = profiles.sort((a, b) => a.localeCompare(b)).at(-1)
  if (newest === undefined) progress(`no .cpuprofile was written in ${profileDir}`)
  else process.stderr.write(summarizeProfile(newest).join('\n') + '\n')
}

/** The load's own decisions, told apart from anything else recorded meanwhile (portcullis's own look-ups). */
const isLoadRecord = (record) => record.kind === 'decision' && record.user === 'alice' && record.action === 'container.exec' && record.decision === 'allow'

/**
 * `repeat` windows at one concurrency against each of `targets` (plugins with socket, pid, adminSocket and a
 * label), taking turns window by window and swapping the order every round. Resolves with one list of
 * windows per target.
 */
async function measureLevel (generator, { targets, request, connections }) {
  const name = (target) => `c=${connections}${target.label === '' ? '' : ` ${target.label}`}`
  progress(`AuthZReq load at ${targets.map(name).join(' and ')}: ${warmupMs / 1000} s warm-up, then ${repeat} windows of ${durationMs / 1000} s${targets.length > 1 ? ', taking turns' : ''}`)
  const windows = targets.map(() => [])
  for (let w = 0; w < repeat; w++) {
    const order = w % 2 === 0 ? targets : [...targets].reverse()
    for (const target of order) {
      const options = { socket: target.socket, request, connections, warmupMs: w === 0 ? warmupMs : 0, durationMs, plugin: target, isLoadRecord, progress }
      let window = await measureWindow(generator, options)
      // A test suite started by someone else during the window shows as CPU nobody here used: measure again.
      for (let retry = 1; retry <= MAX_RETRIES && window.cpu.others > DISTURBED_ABOVE; retry++) {
        progress(`other work took ${percent(window.cpu.others)} of a core during ${name(target)}; measuring that window again (${retry}/${MAX_RETRIES})`)
        window = await measureWindow(generator, options)
      }
      windows[targets.indexOf(target)].push(window)
    }
  }
  return windows
}

function machineLine (dir, cli) {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU'
  const dockerd = execFileSync(DOCKERD_BINARY, ['--version'], { encoding: 'utf8' }).trim().replace(/^Docker version /, '')
  // findmnt names ext4 as such; `stat -f` calls every ext file system ext2/ext3.
  const fs = execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '-T', dir], { encoding: 'utf8' }).trim()
  return `machine: nproc ${os.availableParallelism()}, ${model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, dockerd ${dockerd}, linux ${os.release()}, audit store on ${fs} (one O_DSYNC journal append per batch); portcullis ${buildOf(cli)}`
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

/** Records per durable write in a window, when the build counts its writes. */
function batchText (window) {
  return window.audit.perBatch == null ? '' : `; ${window.audit.perBatch.toFixed(1)} records per durable write`
}

/** The window with the median decisions/s. */
function medianWindow (windows) {
  const sorted = [...windows].sort((a, b) => a.perSecond - b.perSecond)
  return sorted[Math.floor(sorted.length / 2)]
}

/**
 * The median window's figures, the spread over all windows, and the checks summed over all of them. With
 * `label` (the managed plugin), the line is named after it and compared with `host`, the host-mode windows
 * at the same concurrency in this run.
 */
function decisionsLine (connections, windows, { label = '', host } = {}) {
  const sorted = [...windows].sort((a, b) => a.perSecond - b.perSecond)
  const median = medianWindow(windows)
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
  let comparison = ''
  if (label !== '') {
    const hostMedian = host === undefined ? undefined : medianWindow(host)
    comparison = hostMedian === undefined
      ? `; host mode was not measured at c=${connections} (see --levels)`
      : ` = ${(median.perSecond / hostMedian.perSecond).toFixed(2)}× host mode in this run (${Math.round(hostMedian.perSecond)}/s, p50 ${ms(hostMedian.latencyMs.p50)} ms, p99 ${ms(hostMedian.latencyMs.p99)} ms${pairedRatios(windows, host)})`
  }
  return `authz decisions/s c=${connections}${label === '' ? '' : ` ${label}`}: ${Math.round(median.perSecond)} (p50 ${ms(latency.p50)} ms, p99 ${ms(latency.p99)} ms)${comparison}${spread}` +
    `; ${calls} calls, ${errors} errors${firstError ? ` (first: ${firstError.slice(0, 160)})` : ''}` +
    `, audit +${sum((w) => w.audit.growth)} (${loadRecords} of them these calls' decisions${otherRecords > 0 ? `, ${otherRecords} portcullis look-ups` : ''}: ${auditOk ? 'ok' : 'MISMATCH'}${batchText(median)})` +
    `; CPU serve ${percent(cpu.serve)} (main thread ${percent(cpu.serveMain)}) + generator ${percent(cpu.generator)} + rest ${percent(cpu.others)} of a core, machine ${percent(cpu.machine)} busy${cpu.steal >= 0.01 ? `, ${percent(cpu.steal)} stolen` : ''}` +
    (windows.some((w) => w.cpu.others > DISTURBED_ABOVE) ? ' (DISTURBED by other work on the machine)' : '') +
    (targets.length > 0 ? ` [${targets.join('; ')}]` : '')
}

/** portcullis at c=1 against the no-op plugin, windows taken in turns: what deciding and recording add per call. */
function noopLine (host, noop) {
  const now = medianWindow(host)
  const floor = medianWindow(noop)
  return `authz latency c=1 against the no-op plugin (allows everything, records nothing): p50 ${ms(now.latencyMs.p50)} vs ${ms(floor.latencyMs.p50)} ms, ` +
    `p99 ${ms(now.latencyMs.p99)} vs ${ms(floor.latencyMs.p99)} ms; portcullis adds ${ms(now.latencyMs.p50 - floor.latencyMs.p50)} ms at p50 ` +
    `[target p50 ≤ ${TARGETS.p50MsAt1} ms: ${met(now.latencyMs.p50 <= TARGETS.p50MsAt1)}]`
}

/** This build against the baseline build at one level: the change's cost, as a ratio of the two in this run. */
function baselineLine (connections, host, baseline, label) {
  const now = medianWindow(host)
  const before = medianWindow(baseline)
  return `authz decisions/s c=${connections} ${label}: ${Math.round(before.perSecond)} (p50 ${ms(before.latencyMs.p50)} ms, p99 ${ms(before.latencyMs.p99)} ms); ` +
    `this build ${Math.round(now.perSecond)}/s = ${(now.perSecond / before.perSecond).toFixed(2)}× the baseline, p99 ${ms(now.latencyMs.p99)} vs ${ms(before.latencyMs.p99)} ms${pairedRatios(host, baseline)}; ` +
    `CPU per decision, serve (its main thread), median over windows: ${cpuPerDecision(host)} µs this build, ${cpuPerDecision(baseline)} µs the baseline${batchText(before).replace(';', '; the baseline:')}`
}

/** serve's CPU per decision in µs, all threads and the main thread, each the median over `windows`: less moved by
 * other work on the machine than decisions/s, which falls with every core-second others take. */
function cpuPerDecision (windows) {
  const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]
  const per = (share) => median(windows.map((w) => share(w.cpu) * w.elapsedMs * 1000 / Math.max(1, w.completed)))
  return `${per((cpu) => cpu.serve).toFixed(1)} (${per((cpu) => cpu.serveMain).toFixed(1)})`
}

/** The range of managed/host ratios over windows measured in the same round, when they were taken in turns. */
function pairedRatios (managed, host) {
  if (host.length !== managed.length || host.length < 2) return ''
  const ratios = managed.map((window, i) => window.perSecond / host[i].perSecond).sort((a, b) => a - b)
  return `; measured in turns, round by round ${ratios[0].toFixed(2)}–${ratios.at(-1).toFixed(2)}×`
}

function bundleLine ({ build, size }) {
  const mib = (bytes) => (bytes / 2 ** 20).toFixed(1)
  const total = size.diskBytes / 2 ** 20
  const parts = Object.entries(size.parts).map(([name, bytes]) => `${name} ${mib(bytes)}`)
  const rest = size.diskBytes - Object.values(size.parts).reduce((sum, bytes) => sum + bytes, 0)
  return `managed plugin bundle (plugin/rootfs): ${total.toFixed(1)} MiB on disk, ${mib(size.apparentBytes)} MiB of data in ${size.files} files` +
    ` (${parts.join(', ')}, shared libraries and the rest ${mib(rest)} MiB)` +
    ` [target ≤ ${TARGETS.bundleMiB} MiB: ${met(total <= TARGETS.bundleMiB)}]` +
    (build.built ? `; built by this run (dist/ was newer) in ${(build.buildMs / 1000).toFixed(1)} s` : '; up to date with dist/')
}

/** Figure 4's start-up: `docker plugin enable` to the first answered AuthZReq, next to host mode's start. */
function managedStartLine ({ enableMs, firstDecisionMs, reply, processStartMs }, managed, hostPlugin) {
  const answer = reply.allowed ? 'Allow:true' : `${reply.status} ${reply.body.trim().slice(0, 160)}`
  const processStart = processStartMs === null ? '' : `; its process started ≈ ${Math.round(processStartMs)} ms after the enable began, so ≈ ${Math.round(firstDecisionMs - processStartMs)} ms of it is node and serve starting`
  return `managed plugin start: docker plugin enable → first decision ${Math.round(firstDecisionMs)} ms (${answer}, on ${managed.socket})` +
    processStart +
    `; \`docker plugin enable\` itself returned after ${Math.round(enableMs)} ms (dockerd waits 500 ms before it first dials the socket)` +
    `; \`docker plugin create\` took ${(managed.createMs / 1000).toFixed(1)} s` +
    `; host-mode serve for comparison: spawn → Plugin.Activate answered in ${Math.round(hostPlugin.readyMs)} ms`
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
