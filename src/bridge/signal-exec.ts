// Docker has no "kill exec": to end an exec's process (client gone, idle, time up, access ended) or pass on a
// client's signal, the bridge signals the processes itself. The daemon reports the exec by host PID, so each
// process is checked to really be in the exec's container (PIDs are reused, and in another PID namespace the
// number means another process).
//
// An exec's process is the leader of a session of its own (runc calls setsid, with or without a TTY), so "the
// session's program" is every process of the container in that session, plus their descendants: a child the
// shell left behind (`sleep 60 &`, or the one running when the shell got SIGHUP) goes too, even once the
// container's init has adopted it. Only a process that started a session of its own and was adopted (a daemon
// that double-forked) is out of reach.

import { readdirSync, readFileSync } from 'node:fs'

export type SignalOutcome = 'sent' | 'gone' | 'not-ours' | 'refused'

/** The exec's first process, told apart from a later process that reuses its PID by its start time. */
export interface ExecRoot {
  pid: number
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  start: string
}

interface ProcStat {
  pid: number
  ppid: number
  session: number
  start: string
}

export function signalExecProcess (pid: number, containerId: string, signal: NodeJS.Signals): SignalOutcome {
  if (!Number.isSafeInteger(pid) || pid <= 1) return 'gone'
  const where = containerOf(pid, containerId)
  if (where !== 'ours') return where
  return send(pid, signal)
}

/** The exec's process as it is now, or null when it is gone or not in the container. */
export function execRoot (pid: number, containerId: string): ExecRoot | null {
  if (!Number.isSafeInteger(pid) || pid <= 1) return null
  const stat = readStat(pid)
  if (stat === null || containerOf(pid, containerId) !== 'ours') return null
  return { pid, start: stat.start }
}

/** Every live process of the exec's session in the container, and their descendants (PIDs; the root first if alive). */
export function sessionProcesses (root: ExecRoot, containerId: string): number[] {
  const stats = allStats()
  const now = stats.get(root.pid)
  const rootAlive = now !== undefined && now.start === root.start
  // The root's PID now names another process: the session number may name another session too, so stop here.
  // (Linux does not reuse a PID while a session of that number has members, so this only happens once all are gone.)
  if (now !== undefined && !rootAlive) return []
  const members = new Set<number>()
  if (rootAlive) members.add(root.pid)
  for (const stat of stats.values()) if (stat.session === root.pid) members.add(stat.pid)
  const children = new Map<number, number[]>()
  for (const stat of stats.values()) {
    const list = children.get(stat.ppid)
    if (list === undefined) children.set(stat.ppid, [stat.pid])
    else list.push(stat.pid)
  }
  const queue = [...members]
  while (queue.length > 0) {
    for (const child of children.get(queue.pop()!) ?? []) {
      if (!members.has(child)) {
        members.add(child)
        queue.push(child)
      }
    }
  }
  return [...members].filter((pid) => pid > 1 && containerOf(pid, containerId) === 'ours')
}

/** Sends `signal` to each process still in the container; 'sent' if any got it. */
export function signalProcesses (pids: readonly number[], containerId: string, signal: NodeJS.Signals): SignalOutcome {
  let outcome: SignalOutcome = 'gone'
  for (const pid of pids) {
    const one = signalExecProcess(pid, containerId, signal)
    if (one === 'sent' || (one === 'refused' && outcome !== 'sent')) outcome = one
  }
  return outcome
}

/** The processes of `pids` that are still alive (zombies count as gone: they run nothing). */
export function stillRunning (pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    try {
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const after = state.slice(state.lastIndexOf(')') + 2, state.lastIndexOf(')') + 3)
      return after !== 'Z' && after !== 'X'
    } catch {
      return false
    }
  })
}

function containerOf (pid: number, containerId: string): 'ours' | 'gone' | 'not-ours' {
  let cgroups: string
  try {
    cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
  } catch {
    return 'gone'
  }
  // cgroupfs (`/docker/<id>`) and systemd (`docker-<id>.scope`) paths both carry the full container ID.
  return containerId.length >= 64 && cgroups.includes(containerId) ? 'ours' : 'not-ours'
}

function send (pid: number, signal: NodeJS.Signals): SignalOutcome {
  try {
    process.kill(pid, signal)
    return 'sent'
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'refused'
  }
}

function readStat (pid: number): ProcStat | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // From field 3 on: state ppid pgrp session … starttime (field 22, index 19 here).
  const ppid = Number(fields[1])
  const session = Number(fields[3])
  const start = fields[19]
  if (!Number.isSafeInteger(ppid) || !Number.isSafeInteger(session) || start === undefined) return null
  return { pid, ppid, session, start }
}

function allStats (): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>()
  let names: string[]
  try {
    names = readdirSync('/proc')
  } catch {
    return stats
  }
  for (const name of names) {
    if (!/^[0-9]+$/.test(name)) continue
    const stat = readStat(Number(name))
    if (stat !== null) stats.set(stat.pid, stat)
  }
  return stats
}

/** SSH signal names (RFC 4254 §6.9: `INT`, `TERM`…) that may be passed on; others are ignored. */
const FORWARDABLE = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2'])

export function sshSignal (name: string): NodeJS.Signals | null {
  return FORWARDABLE.has(name) ? `SIG${name}` as NodeJS.Signals : null
}
