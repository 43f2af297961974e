// Figure 1, the parent's side: drives the forked load generator one window at a time, and around
// each measured window reads what it needs to trust the number: the audit head before and after (every call
// must have left exactly one durable decision record), and the CPU the plugin, the generator and the whole
// machine used.

import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { killPids, onProcessEnd } from './cleanup.js'
import { auditHeadSeq, auditWriteStats, countAuditRecords } from './portcullis.js'
import { cpuSecondsOf, machineBusyOver, machineCpuSeconds, mainThreadCpuSecondsOf } from '../scripts/lib/procfs.js'

const WORKER = fileURLToPath(new URL('./load-worker.js', import.meta.url))

/** Forks the load generator; `run(options)` performs one run in it, `stop()` ends it. */
export function startLoadGenerator () {
  const child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const cancelSafetyNet = onProcessEnd(() => killPids([child.pid]))
  let waiting = null
  child.on('message', (message) => {
    if (message.type === 'result' && waiting !== null) {
      const { resolve } = waiting
      waiting = null
      resolve(message.result)
    }
  })
  child.on('exit', (code, signal) => {
    if (waiting !== null) waiting.reject(new Error(`the load generator exited (${code ?? signal}) during a run`))
    waiting = null
  })
  return {
    pid: child.pid,
    run: ({ socket, request, connections, durationMs }) => new Promise((resolve, reject) => {
      waiting = { resolve, reject }
      child.send({ type: 'run', socket, request: request.toString('base64'), connections, durationMs })
    }),
    stop: () => new Promise((resolve) => {
      cancelSafetyNet()
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      child.send({ type: 'exit' })
    })
  }
}

/** One call, which must be allowed: the policy, token and container are set up right before we load. */
export async function probeAllowed (generator, { socket, request }) {
  const result = await generator.run({ socket, request, connections: 1, durationMs: 0 })
  if (result.allowed !== 1) {
    throw new Error(`the probe AuthZReq was not allowed: ${result.firstError ?? 'no answer'}. Check the policy (alice must be a developer in payments) and the container's portcullis.project label.`)
  }
}

/**
 * Waits for a quiet machine, warms up when `warmupMs` > 0, then measures one window. `isLoadRecord(record)` tells the generator's decisions apart from
 * anything else recorded meanwhile (portcullis's own look-ups when a cached name expires).
 */
export async function measureWindow (generator, { socket, request, connections, warmupMs, durationMs, plugin, isLoadRecord, progress }) {
  await waitUntilQuiet(progress)
  if (warmupMs > 0) await generator.run({ socket, request, connections, durationMs: warmupMs })
  // A reference plugin with no audit store (the no-op plugin) has no admin socket: nothing to count.
  const audited = plugin.adminSocket !== undefined
  const seqBefore = audited ? await auditHeadSeq(plugin.adminSocket) : 0
  const writesBefore = audited ? await auditWriteStats(plugin.adminSocket) : null
  const serveCpuBefore = cpuSecondsOf(plugin.pid)
  const serveMainBefore = mainThreadCpuSecondsOf(plugin.pid)
  const machineBefore = machineCpuSeconds()

  const result = await generator.run({ socket, request, connections, durationMs })

  const machineAfter = machineCpuSeconds()
  const serveCpu = cpuSecondsOf(plugin.pid) - serveCpuBefore
  const serveMainCpu = mainThreadCpuSecondsOf(plugin.pid) - serveMainBefore
  const writesAfter = audited ? await auditWriteStats(plugin.adminSocket) : null
  const seqAfter = audited ? await auditHeadSeq(plugin.adminSocket) : 0
  const counts = seqAfter > seqBefore
    ? await countAuditRecords(plugin.adminSocket, seqBefore + 1, seqAfter, (record) => isLoadRecord(record) ? 'load' : 'other')
    : {}
  const wallSeconds = result.elapsedMs / 1000
  const machineCores = (machineAfter.busy - machineBefore.busy) / wallSeconds
  return {
    ...result,
    audit: {
      growth: seqAfter - seqBefore,
      loadRecords: counts.load ?? 0,
      otherRecords: counts.other ?? 0,
      // Records per durable write (group commit): fewer means each decision bears more of a write's fixed cost.
      perBatch: writesBefore !== null && writesAfter !== null && writesAfter.batches > writesBefore.batches
        ? (writesAfter.records - writesBefore.records) / (writesAfter.batches - writesBefore.batches)
        : null
    },
    cpu: {
      // Shares of one core over the run; the machine's is a share of all its cores.
      serve: serveCpu / wallSeconds,
      // The JavaScript thread; the rest of serve's CPU is LevelDB's writes, fsyncs and compactions, and GC helpers.
      serveMain: serveMainCpu / wallSeconds,
      generator: result.generatorCpuSeconds / wallSeconds,
      machine: (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total),
      // Time the hypervisor gave to other guests: a noisy neighbour the rest of these figures cannot see.
      steal: (machineAfter.steal - machineBefore.steal) / (machineAfter.total - machineBefore.total),
      // Everything else on the machine (the daemons, the kernel's fsync work not charged to serve, other jobs).
      others: Math.max(0, machineCores - serveCpu / wallSeconds - result.generatorCpuSeconds / wallSeconds)
    }
  }
}

/**
 * Other work on the machine (a test suite, a build) would be measured as the plugin's slowness: wait, for at
 * most `limitMs`, until the machine is nearly idle, and say so when it never was.
 */
export async function waitUntilQuiet (progress, { limitMs = 30_000, busyBelow = 0.1 } = {}) {
  const deadline = Date.now() + limitMs
  let busy = await machineBusyOver(1000)
  if (busy < busyBelow) return busy
  progress(`the machine is ${Math.round(busy * 100)}% busy with other work; waiting up to ${limitMs / 1000} s for it to settle`)
  while (Date.now() < deadline) {
    busy = await machineBusyOver(1000)
    if (busy < busyBelow) return busy
  }
  progress(`the machine stayed ${Math.round(busy * 100)}% busy; measuring anyway (the figures will be low)`)
  return busy
}
