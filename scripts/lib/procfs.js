// What the benchmark reads from /proc: whether a pid lives, which processes belong to a daemon's dir, how much
// CPU a process (all its threads) and the machine have used, and a process's peak memory.

import { readdirSync, readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

/** Kernel clock ticks per second, the unit of the CPU times in /proc. */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

function statFields (pid, file = `/proc/${pid}/stat`) {
  let text
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return null
  }
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  return text.slice(text.lastIndexOf(')') + 2).split(' ')
}

/** True while the pid runs; a zombie counts as gone. */
export function isAlive (pid) {
  const fields = statFields(pid)
  return fields !== null && fields[0] !== 'Z'
}

/** The process's start time in clock ticks since boot, to tell a pid from a reused one. */
export function startTimeOf (pid) {
  return statFields(pid)?.[19] ?? null
}

/** User + system CPU seconds used so far by `pid`, all threads included. */
export function cpuSecondsOf (pid) {
  const fields = statFields(pid)
  if (fields === null) return null
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

/** CPU seconds used by the main thread of `pid` alone (a Node process runs its JavaScript there). */
export function mainThreadCpuSecondsOf (pid) {
  const fields = statFields(pid, `/proc/${pid}/task/${pid}/stat`)
  if (fields === null) return null
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

/** Busy, stolen (taken by the hypervisor for other guests) and total CPU seconds of the machine, all cores. */
export function machineCpuSeconds () {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const total = ticks.reduce((sum, t) => sum + t, 0)
  const idle = ticks[3] + (ticks[4] ?? 0) // idle + iowait
  const steal = ticks[7] ?? 0
  return { busy: (total - idle - steal) / CLOCK_TICKS, steal: steal / CLOCK_TICKS, total: total / CLOCK_TICKS }
}

/** Share of all cores busy over the next `ms` milliseconds. */
export async function machineBusyOver (ms) {
  const before = machineCpuSeconds()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const after = machineCpuSeconds()
  return (after.busy - before.busy) / Math.max(1e-9, after.total - before.total)
}

/** VmHWM (peak resident set) and VmRSS of `pid`, in KiB. */
export function memoryOf (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { peakKib: kib('VmHWM'), rssKib: kib('VmRSS') }
}

/** Pids of live processes whose command line names a path inside `dir` (dockerd, containerd, shims). */
export function processesUsing (dir) {
  const needle = dir.endsWith('/') ? dir : `${dir}/`
  const pids = []
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    let cmdline
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
    } catch {
      continue // exited while we looked
    }
    if (cmdline.includes(needle) && isAlive(pid)) pids.push(pid)
  }
  return pids
}

/** When `pid` started, in Date.now() milliseconds, to within a few clock ticks; null when it is gone. */
export function startedAtMs (pid) {
  const start = startTimeOf(pid)
  if (start === null) return null
  const ticks = Number(start)
  const secondsSinceBoot = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0])
  return Date.now() - secondsSinceBoot * 1000 + (ticks / CLOCK_TICKS) * 1000
}
