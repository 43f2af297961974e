// Stopping what a bridge session runs in the container: SIGHUP to the exec's process session and its descendants, as
// a terminal hang-up would send, then SIGKILL to whatever ignored it or was started meanwhile. The processes are found
// from the exec's first process (its root), noted while it runs or, once it exited, from the PID the daemon reports.
import { setTimeout as delay } from 'node:timers/promises'
import { sessionProcesses, signalProcesses, stillRunning, type ExecRoot, type SignalOutcome } from './signal-exec.js'

/** After SIGHUP, how long the session's processes may take to exit before SIGKILL. */
const KILL_GRACE_MS = 2000
/** After SIGKILL, how long to wait for the processes to be gone. */
const KILL_WAIT_MS = 2000
const KILL_POLL_MS = 100

export class SessionProcesses {
  readonly #containerId: string
  /** The exec's first process, noted once it runs, so that what it leaves behind can still be found and stopped. */
  #root: ExecRoot | null = null
  /** The exec's PID as the daemon reports it once the process has exited (the root may not have been noted). */
  #exitPid: number | null = null
  #outcome: SignalOutcome | null = null

  constructor (containerId: string) {
    this.#containerId = containerId
  }

  get root (): ExecRoot | null { return this.#root }

  /** What the last signal sent did; null when none was sent. */
  get outcome (): SignalOutcome | null { return this.#outcome }

  /** The first root noted stays. */
  noteRoot (root: ExecRoot): void {
    this.#root ??= root
  }

  noteExitPid (pid: number): void {
    this.#exitPid = pid
  }

  /** SIGHUP to the root's process session and its descendants; then SIGKILL to whatever ignored it or was started meanwhile. */
  async stop (root: ExecRoot): Promise<void> {
    let pids = sessionProcesses(root, this.#containerId)
    this.#outcome = signalProcesses(pids, this.#containerId, 'SIGHUP')
    await until(() => stillRunning(pids).length === 0, KILL_GRACE_MS)
    pids = sessionProcesses(root, this.#containerId)
    if (pids.length > 0) {
      this.#outcome = signalProcesses(pids, this.#containerId, 'SIGKILL')
      await until(() => stillRunning(pids).length === 0, KILL_WAIT_MS)
    }
  }

  /** Stops what is left of the exited exec's session and its descendants (the root is gone), as stop() does.
   * True when something was left to stop. */
  async stopLeftovers (): Promise<boolean> {
    const pid = this.#root?.pid ?? this.#exitPid
    if (pid === null) return false
    // Without its start time, a PID that now names a live process is not ours (sessionProcesses then finds none);
    // while members of its session live, Linux does not hand the PID out again.
    const root = this.#root ?? { pid, start: '' }
    if (sessionProcesses(root, this.#containerId).length === 0) return false
    await this.stop(root)
    return true
  }
}

/** Polls `done` until it holds or `ms` have passed. */
export async function until (done: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms
  while (!done() && performance.now() < deadline) await delay(KILL_POLL_MS)
}
