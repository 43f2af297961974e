// One SSH session running as a Docker exec, recorded from first byte to exit status: the session.start record is
// durable before the exec exists, every byte each way goes into the session's recording file as it came (raw frames,
// src/audit/recordings.ts), and the session.end record carries the exit status, the byte counts and the digest of
// the recording file, so the hash chain covers it.

import type { Duplex } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { ServerChannel } from 'ssh2'
import type { AuditLog } from '../audit/audit-log.js'
import type { RecordingStore, RecordingWriter } from '../audit/recording-store.js'
import type { RecordingSummary } from '../audit/recordings.js'
import type { DockerApi, ExecApi, ExecCreateBody } from '../docker/api.js'
import { durationText } from '../core/duration.js'
import { BRIDGE_HEADER, type BridgeGrants, type HousekeepingGrant } from '../identity/bridge-grants.js'
import { castHeader } from '../audit/asciicast.js'
import { ChannelOutput } from './channel-output.js'
import { StreamDemuxer } from './demux.js'
import { ResizeCoalescer, isTerminalSize, type TerminalSize } from './resize-coalescer.js'
import { SessionProcesses, until } from './session-processes.js'
import { execRoot, signalExecProcess, type ExecRoot } from './signal-exec.js'
import { describeEnd, sessionEndRecord, sessionStartRecord, type EndReason, type SessionEndFields } from './session-records.js'
import type { ContainerInfo } from './targets.js'

export interface PtySize {
  term: string
  cols: number
  rows: number
}

export interface RecordedExecOptions {
  sessionId: string
  user: string
  /** `SHA256:…` of the key the user logged in with. */
  key: string
  /** `ip:port` of the SSH client. */
  client: string
  container: ContainerInfo
  role: string | null
  /** The elevation grant the session's role comes from, if it does. */
  grant?: string
  body: ExecCreateBody
  /** What runs: the user's command, or the key's forced command; null for a login shell. */
  command: string | null
  /** Present when the key's command= replaced what the client asked for (null: it asked for a shell). */
  originalCommand?: string | null
  pty: PtySize | null
  env: Record<string, string>
  channel: ServerChannel
  idleTimeoutMs: number
  maxSessionMs: number
}

/** What let a session in, for a policy reload to judge again: the user, the key and its options, the exec. */
export interface SessionAccess {
  user: string
  /** `SHA256:…` of the key the user logged in with. */
  key: string
  containerId: string
  body: ExecCreateBody
  /** The client's address (no port), for the key's from=. */
  address: string
  /** The key's command= the session runs; null when it runs what the client asked for. */
  forcedCommand: string | null
  pty: boolean
}

export interface RecordedExecDeps {
  audit: AuditLog
  recordings: RecordingStore
  grants: BridgeGrants
  docker: DockerApi
  logger: Logger
}

/** Exit statuses of our own, as `docker run` uses them: 125 the bridge failed, 126 the exec was refused. */
export const EXIT_BRIDGE_FAILED = 125
export const EXIT_REFUSED = 126

const STREAM_END_GRACE_MS = 5000
/** How long the last output and the closing message may take to reach a slow client before the channel closes. */
const OUTPUT_FLUSH_MS = 5000

export class RecordingUnavailableError extends Error {}

/** How long a client's signal waits for the daemon to name the exec's process. */
const PID_WAIT_MS = 2_000

export class RecordedExec {
  bytesIn = 0
  bytesOut = 0
  bytesErr = 0

  readonly #o: RecordedExecOptions
  readonly #deps: RecordedExecDeps
  readonly #log: Logger
  readonly #started = Date.now()
  #lastActivity = Date.now()
  #sink!: RecordingWriter
  /** Calls made as the user (the session grant): exec create, start, resize. */
  #exec!: ExecApi
  /** The bridge's own look-ups of this session's exec (housekeeping grant): they work after the user's access ends. */
  #housekeeping: ExecApi | null = null
  #execId: string | null = null
  #resizes: ResizeCoalescer | null = null
  #recordedSize: TerminalSize
  #socket: Duplex | null = null
  #endedBy: EndReason | null = null
  #endMessage: string | null = null
  #pendingSize: TerminalSize | null = null
  #pauses = new Set<string>()
  #timers: NodeJS.Timeout[] = []
  #killing: Promise<void> | null = null
  readonly #processes: SessionProcesses
  readonly #housekeepingGrants: HousekeepingGrant[] = []
  readonly #output: ChannelOutput
  /** False once the session can no longer be recorded: from then on no byte passes either way. */
  #passing = true

  constructor (options: RecordedExecOptions, deps: RecordedExecDeps) {
    this.#o = options
    this.#deps = deps
    this.#output = new ChannelOutput(options.channel)
    this.#recordedSize = { cols: options.pty?.cols ?? 80, rows: options.pty?.rows ?? 24 }
    this.#log = deps.logger.child({ session: options.sessionId, user: options.user, container: options.container.name })
    this.#processes = new SessionProcesses(options.container.id)
  }

  get sessionId (): string { return this.#o.sessionId }

  /** Runs the session to its end; resolves with the exit status sent to the client. Throws
   * RecordingUnavailableError, before anything ran, when the session cannot be recorded. */
  async run (): Promise<number> {
    const o = this.#o
    let startSeq: number
    try {
      startSeq = (await this.#deps.audit.append(sessionStartRecord(o))).seq
    } catch (err) {
      throw new RecordingUnavailableError((err as Error).message, { cause: err })
    }

    const header = castHeader({
      width: o.pty?.cols ?? 80,
      height: o.pty?.rows ?? 24,
      startedAt: new Date(this.#started),
      command: o.command ?? o.body.Cmd.join(' '),
      title: `${o.user}@${o.container.name}`,
      env: { TERM: o.pty?.term ?? '', SHELL: o.body.Cmd[0] ?? '' },
      user: o.user,
      container: o.container.name,
      project: o.container.project,
      sessionId: o.sessionId
    })
    try {
      this.#sink = await this.#deps.recordings.openRecording(o.sessionId, startSeq, header)
    } catch (err) {
      await this.#endUnrecorded(startSeq, err as Error)
      throw new RecordingUnavailableError((err as Error).message, { cause: err })
    }
    this.#sink.on('error', (err: Error) => {
      this.#log.error({ err }, 'the session recording failed; ending the session')
      // What is not recorded must not pass: output still queued for the client, and keystrokes, stop here.
      this.#passing = false
      this.#output.discardQueued()
      this.terminate('recording-failed', 'this session can no longer be recorded, so portcullis ends it')
    })
    this.#sink.on('drain', () => this.#resume('sink'))

    const grant = this.#deps.grants.issue(o.user, o.sessionId)
    this.#exec = this.#deps.docker.execAs({ [BRIDGE_HEADER]: grant.secret })
    let status: number
    try {
      status = await this.#runExec()
    } finally {
      this.#stopTimers()
      // Nothing may still be on its way to the daemon under a grant that is about to go: a call arriving after it
      // would be refused and recorded as a stranger's.
      await this.#resizes?.close()
      await this.#killing
      this.#deps.grants.revoke(grant)
      for (const housekeeping of this.#housekeepingGrants) this.#deps.grants.revoke(housekeeping)
    }
    await this.#finish(startSeq, status)
    return status
  }

  /** A window-change: coalesced (one call in flight, at most 10 a second, the latest size wins), none once ending. */
  resize (cols: number, rows: number): void {
    if (this.#endedBy !== null) return
    const size = { cols, rows }
    if (!isTerminalSize(size)) return
    if (this.#resizes === null) this.#pendingSize = size
    else this.#resizes.request(size)
  }

  /** What the policy judged when the session started: a policy reload judges it again (src/bridge/access-review.ts). */
  get access (): SessionAccess {
    const o = this.#o
    return {
      user: o.user,
      key: o.key,
      containerId: o.container.id,
      body: o.body,
      address: o.client.slice(0, o.client.lastIndexOf(':')),
      forcedCommand: o.originalCommand !== undefined ? o.command : null,
      pty: o.pty !== null
    }
  }

  /** A signal the client asked for (`INT`, `TERM`…), sent to the exec's process. */
  signal (signal: NodeJS.Signals): void {
    void this.#withPid((pid) => {
      const outcome = signalExecProcess(pid, this.#o.container.id, signal)
      this.#log.debug({ signal, outcome }, 'client signal')
    }, true)
  }

  /** Ends the session from our side: tells the user why (unless they are gone) and stops the process. */
  terminate (reason: EndReason, message: string): void {
    if (this.#endedBy !== null) return
    this.#endedBy = reason
    this.#endMessage = message
    if (reason !== 'client') this.#tellUser(message)
    this.#killing ??= this.#kill()
  }

  async #runExec (): Promise<number> {
    const o = this.#o
    try {
      this.#execId = await this.#exec.create(o.container.id, o.body)
      const housekeeping = this.#deps.grants.issueHousekeeping(o.sessionId, this.#execId)
      this.#housekeepingGrants.push(housekeeping)
      this.#housekeeping = this.#deps.docker.execAs({ [BRIDGE_HEADER]: housekeeping.secret })
      const { socket } = await this.#exec.start(this.#execId, o.pty !== null)
      this.#socket = socket
      void this.#noteRoot()
      // Ended while the exec was starting (its grant ended, portcullis is stopping): there was nothing to stop then.
      if (this.#endedBy !== null) this.#killing = this.#kill()
    } catch (err) {
      const message = (err as { daemonMessage?: string }).daemonMessage ?? (err as Error).message
      const status = (err as { status?: number }).status
      this.#endedBy = 'error'
      this.#endMessage = message
      this.#tellUser(status === 403 ? message : `the exec could not be started: ${message}`)
      return status === 403 ? EXIT_REFUSED : EXIT_BRIDGE_FAILED
    }
    this.#resizes = new ResizeCoalescer({ send: (size) => this.#sendResize(size) })
    const size = this.#pendingSize ?? (o.pty !== null ? { cols: o.pty.cols, rows: o.pty.rows } : null)
    this.#pendingSize = null
    if (size !== null) this.#resizes.request(size)
    this.#startTimers()
    await this.#pump(this.#socket!)
    // The exec's process is gone: the session ends, whatever happens to the channel from here on.
    this.#endedBy ??= 'exit'
    const status = await this.#exitStatus()
    // Under an elevation grant, what the program left running (`nohup sleep 999 &`, then exit) would outlive the
    // session and the grant, where nothing stops it any more: it goes with the session.
    if (this.#endedBy === 'exit' && o.grant !== undefined && await this.#processes.stopLeftovers()) {
      this.#log.info({ outcome: this.#processes.outcome }, 'stopped what a grant session left running')
    }
    return status
  }

  /** Moves bytes both ways until the exec's stream ends. */
  #pump (socket: Duplex): Promise<void> {
    const { channel } = this.#o
    const tty = this.#o.pty !== null
    // Once the client is gone the output is still recorded, up to the moment the process is stopped.
    const out = (chunk: Buffer): void => {
      this.bytesOut += chunk.length
      if (this.#passing && !this.#output.out(chunk)) this.#pause('channel', this.#output)
      if (!this.#sink.output(chunk)) this.#pause('sink')
    }
    const err = (chunk: Buffer): void => {
      this.bytesErr += chunk.length
      if (this.#passing && !this.#output.err(chunk)) this.#pause('channel', this.#output)
      if (!this.#sink.errorOutput(chunk)) this.#pause('sink')
    }
    const demux = tty ? null : new StreamDemuxer((stream, payload) => stream === 2 ? err(payload) : out(payload))

    return new Promise((resolve) => {
      let done = false
      const end = (): void => {
        if (done) return
        done = true
        resolve()
      }
      socket.on('data', (chunk: Buffer) => {
        this.#lastActivity = Date.now()
        if (demux === null) out(chunk)
        else demux.push(chunk)
      })
      socket.on('end', end)
      socket.on('close', end)
      socket.on('error', (e) => {
        this.#log.debug({ err: e }, 'exec stream error')
        end()
      })

      channel.on('data', (chunk: Buffer) => {
        // Once the exec's stream ended nothing can reach the program, and the recording is being finished (a frame
        // given to a finished sink throws, out of ssh2's parser: the connection would be dropped without its exit status).
        if (!this.#passing || done) return
        this.#lastActivity = Date.now()
        this.bytesIn += chunk.length
        if (!this.#sink.input(chunk)) this.#pause('sink')
        if (!socket.write(chunk)) {
          channel.pause()
          socket.once('drain', () => channel.resume())
        }
      })
      // EOF from the client (`ssh host cmd < file` reached the end): close the process's stdin, keep its output.
      // With a terminal, sshd ignores it (the pty stays open), and so does the bridge: Docker would hang up the tty.
      channel.on('end', () => { if (!done && !tty) socket.end() })
      channel.on('close', () => {
        this.#resume('channel')
        this.terminate('client', 'the client disconnected')
      })
      channel.on('error', (e: Error) => this.#log.debug({ err: e }, 'SSH channel error'))
    })
  }

  #pause (why: string, output?: ChannelOutput): void {
    if (this.#pauses.has(why)) return
    this.#pauses.add(why)
    this.#socket?.pause()
    output?.onDrain(() => this.#resume(why))
  }

  #resume (why: string): void {
    if (!this.#pauses.delete(why)) return
    if (this.#pauses.size === 0) this.#socket?.resume()
  }

  #startTimers (): void {
    const { idleTimeoutMs, maxSessionMs } = this.#o
    const every = Math.max(50, Math.min(1000, Math.floor(idleTimeoutMs / 4)))
    const idle = setInterval(() => {
      if (Date.now() - this.#lastActivity >= idleTimeoutMs) this.terminate('idle', `the session was idle for ${durationText(idleTimeoutMs)}, so portcullis ends it`)
    }, every)
    const max = setTimeout(() => this.terminate('max-duration', `the session reached its maximum length of ${durationText(maxSessionMs)}, so portcullis ends it`), maxSessionMs)
    this.#timers.push(idle, max)
  }

  #stopTimers (): void {
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers = []
  }

  /** One coalesced resize: recorded as the size the program gets, then sent as the user (whose window it is). */
  async #sendResize (size: TerminalSize): Promise<void> {
    if (this.#endedBy !== null || this.#execId === null) return
    if (size.cols !== this.#recordedSize.cols || size.rows !== this.#recordedSize.rows) {
      this.#recordedSize = size
      if (!this.#sink.resize(size.cols, size.rows)) this.#pause('sink')
    }
    try {
      await this.#exec.resize(this.#execId, size.cols, size.rows)
    } catch (err) {
      this.#log.debug({ err }, 'resize failed')
    }
  }

  /**
   * SIGHUP to the session's processes, as a terminal hang-up would send, then SIGKILL to whatever is left of them;
   * the stream then ends. Every look-up here is the bridge's own (housekeeping grant), so it works whatever became
   * of the user's access.
   */
  async #kill (): Promise<void> {
    const socket = this.#socket
    if (this.#execId === null || socket === null) return
    const root = this.#processes.root ?? await this.#lookUpRoot()
    if (root !== null) await this.#processes.stop(root)
    await until(() => socket.destroyed || socket.readableEnded, STREAM_END_GRACE_MS)
    if (!socket.destroyed && !socket.readableEnded) {
      this.#log.warn({ outcome: this.#processes.outcome }, 'the exec process could not be stopped; leaving it and closing the stream')
      socket.destroy()
    }
  }

  async #noteRoot (): Promise<void> {
    const root = await this.#lookUpRoot()
    if (root !== null) this.#processes.noteRoot(root)
  }

  async #lookUpRoot (): Promise<ExecRoot | null> {
    let root: ExecRoot | null = null
    await this.#withPid((pid) => { root = execRoot(pid, this.#o.container.id) })
    return root
  }

  /** Calls `fn` with the exec's process ID while it runs. `waitForPid`: the daemon names the process only once its
   * start returned, and the program may already have written (a client signals right after the first output): ask
   * again for up to PID_WAIT_MS, so such a signal is sent rather than silently dropped. */
  async #withPid (fn: (pid: number) => void, waitForPid = false): Promise<void> {
    const deadline = Date.now() + (waitForPid ? PID_WAIT_MS : 0)
    for (;;) {
      if (this.#execId === null || this.#housekeeping === null) {
        if (!waitForPid || Date.now() >= deadline || this.#endedBy !== null) return
      } else {
        try {
          const state = await this.#housekeeping.inspect(this.#execId)
          if (state.Running && state.Pid > 0) {
            fn(state.Pid)
            return
          }
          // It ran and exited: nothing to reach.
          if (!state.Running && state.Pid > 0) return
        } catch (err) {
          this.#log.debug({ err }, 'could not look up the exec process')
          return
        }
        if (Date.now() >= deadline || this.#endedBy !== null) return
      }
      await delay(20)
    }
  }

  /** The process's exit status, once the daemon has it. */
  async #exitStatus (): Promise<number> {
    for (let attempt = 0; attempt < 60; attempt++) {
      try {
        const state = await this.#housekeeping!.inspect(this.#execId!)
        if (Number.isSafeInteger(state.Pid) && state.Pid > 1) this.#processes.noteExitPid(state.Pid)
        if (!state.Running && typeof state.ExitCode === 'number') return state.ExitCode
      } catch (err) {
        this.#log.debug({ err }, 'exec inspect failed')
        break
      }
      await delay(50)
    }
    return EXIT_BRIDGE_FAILED
  }

  async #finish (startSeq: number, status: number): Promise<void> {
    const o = this.#o
    this.#endedBy ??= 'error'
    const endedBy = this.#endedBy
    let recording: RecordingSummary
    let recordingProblem: string | null = null
    try {
      recording = await this.#sink.finish()
    } catch (err) {
      recordingProblem = (err as Error).message
      // Part of a failed write may be on disk: the digest covers the file as it is.
      recording = await this.#sink.summaryOnDisk().catch(() => this.#sink.summary())
    }
    await this.#output.flush(OUTPUT_FLUSH_MS)
    if (!o.channel.destroyed) {
      o.channel.exit(status)
      o.channel.end()
    }
    const durationMs = Date.now() - this.#started
    try {
      await this.#appendEnd(describeEnd(endedBy, status, this.#endMessage) + (recordingProblem !== null ? `; the end of the recording was lost: ${recordingProblem}` : ''), {
        startSeq,
        exitCode: endedBy === 'error' ? null : status,
        endedBy,
        durationMs,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        bytesErr: this.bytesErr,
        ...(this.#processes.outcome !== null ? { kill: this.#processes.outcome } : {}),
        recording
      })
      await this.#sink.release()
    } catch (err) {
      // The open-session marker stays; the next start records this session as interrupted.
      this.#log.error({ err }, 'could not record the end of an SSH session')
    }
  }

  /** The session.end of a session whose recording could not be opened, so nothing ran. When the store refuses
   * it too, the session.start stays without an end, which `audit sessions` shows as interrupted. */
  async #endUnrecorded (startSeq: number, err: Error): Promise<void> {
    this.#log.error({ err }, 'the session recording cannot be opened; refusing the session')
    try {
      await this.#appendEnd(`the session could not be recorded, so nothing ran: ${err.message}`,
        { startSeq, exitCode: null, endedBy: 'recording-failed', durationMs: Date.now() - this.#started, bytesIn: 0, bytesOut: 0, bytesErr: 0 })
    } catch (appendErr) {
      this.#log.error({ err: appendErr }, 'could not record the end of a session that could not be recorded')
    }
  }

  /** This session's session.end record: who, where, and `fields` after the session ID (signal is always null). */
  #appendEnd (reason: string, fields: SessionEndFields): Promise<unknown> {
    return this.#deps.audit.append(sessionEndRecord(this.#o, reason, fields))
  }

  #tellUser (message: string): void {
    const eol = this.#o.pty !== null ? '\r\n' : '\n'
    this.#output.err(`${eol}portcullis: ${message}${eol}`)
  }
}
