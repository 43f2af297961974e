// Docker has no "kill exec": to end an exec's process (client gone, idle, time up) or pass on a client's signal,
// the bridge signals the process itself. The daemon reports it by host PID, so first make sure that PID really is
// in the exec's container (PIDs are reused, and in another PID namespace the number means another process).

import { readFileSync } from 'node:fs'

export type SignalOutcome = 'sent' | 'gone' | 'not-ours' | 'refused'

export function signalExecProcess (pid: number, containerId: string, signal: NodeJS.Signals): SignalOutcome {
  if (!Number.isSafeInteger(pid) || pid <= 1) return 'gone'
  let cgroups: string
  try {
    cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
  } catch {
    return 'gone'
  }
  // cgroupfs (`/docker/<id>`) and systemd (`docker-<id>.scope`) paths both carry the full container ID.
  if (containerId.length < 64 || !cgroups.includes(containerId)) return 'not-ours'
  try {
    process.kill(pid, signal)
    return 'sent'
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'refused'
  }
}

/** SSH signal names (RFC 4254 §6.9: `INT`, `TERM`…) that may be passed on; others are ignored. */
const FORWARDABLE = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2'])

export function sshSignal (name: string): NodeJS.Signals | null {
  return FORWARDABLE.has(name) ? `SIG${name}` as NodeJS.Signals : null
}

