// One SSH "session" channel: collects the pty, env and size the client asks for, then turns its shell or exec
// request into a recorded Docker exec, or into the container picker when the login named no container.

import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { ServerChannel, Session } from 'ssh2'
import type { AuditLog } from '../audit/audit-log.js'
import type { RecordingStore } from '../audit/recording-store.js'
import type { Clock } from '../core/clock.js'
import type { Identity } from '../core/types.js'
import type { GrantSessions } from '../elevation/grant-sessions.js'
import type { BridgeGrants } from '../identity/bridge-grants.js'
import type { DenyCode } from '../core/decision.js'
import type { PolicySource } from '../policy/source.js'
import type { KeyRestrictions } from '../ssh/key-options.js'
import { Picker, formatContainerList, type PickerAction, type PickerEntry } from './picker.js'
import { unguessableDetachKeys } from './detach-keys.js'
import { EXIT_BRIDGE_FAILED, EXIT_REFUSED, RecordedExec, RecordingUnavailableError, type PtySize } from './recorded-exec.js'
import { sshSignal } from './signal-exec.js'
import type { BridgeTargets, ContainerInfo } from './targets.js'
import type { DockerApi, ExecCreateBody } from '../docker/api.js'

const RECORDING_UNAVAILABLE = 'this session cannot be recorded in the audit store, so portcullis refuses it; an operator must check the portcullis log'

export interface BridgeContext {
  policy: PolicySource
  audit: AuditLog
  /** Where sessions are recorded: the audit store in serve. */
  recordings: RecordingStore
  targets: BridgeTargets
  grants: BridgeGrants
  docker: DockerApi
  logger: Logger
  /** What users type to reach the bridge, for hints. */
  host: string
  port: number
  /** Sessions running right now, so shutdown can end them. */
  live: Set<RecordedExec>
  /** Ends sessions whose decision used an elevation grant when that grant ends. */
  grantSessions?: GrantSessions
  /** What a key's expiry-time= is compared with at login and at a policy reload; default the system clock. */
  clock?: Clock
}

/** Who logged in, from where, and where they asked to go. */
export interface Peer {
  user: string
  container: string | null
  key: string
  client: string
  /** What the key's authorized_keys options allow (forced command, pty). */
  restrictions: KeyRestrictions
}

export class BridgeSession {
  #pty: PtySize | null = null
  readonly #env: Record<string, string> = {}
  #running: RecordedExec | null = null
  #started = false
  /** While the picker is on screen, it redraws at the new size. */
  #onResize: ((cols: number, rows: number) => void) | null = null

  constructor (private readonly ctx: BridgeContext, private readonly peer: Peer, ssh: Session) {
    ssh.on('pty', (accept, reject, info) => {
      // no-pty or restrict: refused as sshd refuses it; the client goes on without a terminal.
      if (!this.peer.restrictions.pty) {
        reject?.()
        return
      }
      this.#pty = { term: info.term || 'xterm', cols: info.cols > 0 ? info.cols : 80, rows: info.rows > 0 ? info.rows : 24 }
      accept?.()
    })
    ssh.on('window-change', (accept, _reject, info) => {
      if (this.#pty !== null) this.#pty = { ...this.#pty, cols: info.cols, rows: info.rows }
      this.#onResize?.(info.cols, info.rows)
      this.#running?.resize(info.cols, info.rows)
      accept?.()
    })
    ssh.on('env', (accept, reject, info) => {
      // Only the allow-listed names reach the container: LD_PRELOAD and friends never do.
      if (this.ctx.policy.current.bridge.env.matches(info.key)) {
        this.#env[info.key] = info.val
        accept?.()
      } else {
        reject?.()
      }
    })
    ssh.on('signal', (accept, reject, info) => {
      const signal = sshSignal(info.name.replace(/^SIG/, ''))
      if (signal === null || this.#running === null) {
        reject?.()
        return
      }
      this.#running.signal(signal)
      accept?.()
    })
    ssh.on('shell', (accept) => this.#start(accept(), null))
    ssh.on('exec', (accept, _reject, info) => this.#start(accept(), info.command))
    ssh.on('subsystem', (_accept, reject) => reject())
    ssh.on('x11', (_accept, reject) => reject())
    ssh.on('auth-agent', (_accept, reject) => reject())
  }

  /** `requested` is what the client asked to run (null: a shell); a key's command= runs instead, as in sshd. */
  #start (channel: ServerChannel, requested: string | null): void {
    channel.on('error', (err: Error) => this.ctx.logger.debug({ err }, 'SSH channel error'))
    // One program per session channel, as sshd does.
    if (this.#started) {
      channel.stderr.write('portcullis: this session already runs a program\n')
      channel.exit(EXIT_BRIDGE_FAILED)
      channel.end()
      return
    }
    this.#started = true
    this.#run(channel, requested).catch((err: unknown) => {
      this.ctx.logger.error({ err, user: this.peer.user }, 'SSH session failed')
      this.#refuse(channel, EXIT_BRIDGE_FAILED, `the session failed: ${(err as Error).message}`)
    })
  }

  async #run (channel: ServerChannel, requested: string | null): Promise<void> {
    const forced = this.peer.restrictions.command
    const command = forced ?? requested
    // Nothing may run unrecorded: with the store refusing writes, say so before looking anything up.
    if (this.ctx.audit.failure !== null) {
      this.#refuse(channel, EXIT_BRIDGE_FAILED, RECORDING_UNAVAILABLE)
      return
    }
    const sessionId = 's-' + randomBytes(8).toString('hex')
    const identity: Identity = { user: this.peer.user, method: 'bridge', session: sessionId }

    let ref = this.peer.container
    if (ref === null) {
      ref = await this.#choose(channel, requested, identity)
      if (ref === null) return
    }

    const lookup = await this.ctx.targets.find(ref)
    if (!lookup.found) {
      await this.#deny(channel, sessionId, requested, null, 'CONTAINER_NOT_FOUND',
        `there is no container "${ref}". To see the containers you may enter: ssh -p ${this.ctx.port} ${this.peer.user}@${this.ctx.host}`)
      return
    }
    const container = lookup.container
    const body = this.#execBody(requested)
    const decision = await this.ctx.targets.judge(identity, container.id, body)
    if (!decision.allow) {
      await this.#deny(channel, sessionId, requested, container, decision.code ?? 'ROLE_DENIES', decision.reason, decision.role)
      return
    }
    // Checked after the policy, so only people allowed in learn the container's state.
    if (!container.running) {
      await this.#deny(channel, sessionId, requested, container, 'CONTAINER_NOT_RUNNING',
        `container ${container.name} is not running (${container.status}); start it first (docker start ${container.name})`, decision.role)
      return
    }

    const settings = this.ctx.policy.current.bridge
    const exec = new RecordedExec({
      sessionId,
      user: this.peer.user,
      key: this.peer.key,
      client: this.peer.client,
      container,
      role: decision.role,
      ...(decision.grant !== undefined ? { grant: decision.grant } : {}),
      body,
      command,
      ...(forced !== null ? { originalCommand: requested } : {}),
      pty: this.#pty,
      env: { ...this.#env },
      channel,
      idleTimeoutMs: settings.idleTimeoutMs,
      maxSessionMs: settings.maxSessionMs
    }, { audit: this.ctx.audit, recordings: this.ctx.recordings, grants: this.ctx.grants, docker: this.ctx.docker, logger: this.ctx.logger })
    this.#running = exec
    this.ctx.live.add(exec)
    const releaseGrant = decision.grant !== undefined ? this.ctx.grantSessions?.hold(decision.grant, exec) : undefined
    try {
      await exec.run()
    } catch (err) {
      if (!(err instanceof RecordingUnavailableError)) throw err
      this.ctx.logger.error({ err }, 'refusing an SSH session that cannot be recorded')
      this.#refuse(channel, EXIT_BRIDGE_FAILED, RECORDING_UNAVAILABLE)
    } finally {
      releaseGrant?.()
      this.ctx.live.delete(exec)
      this.#running = null
    }
  }

  /**
   * Exactly what the daemon will be asked to run for what the client asked (`requested`, null: a shell): the policy
   * judges this body, and the bridge sends it. A key's command= replaces it, and the program finds what the client
   * asked for in SSH_ORIGINAL_COMMAND, as under sshd.
   */
  #execBody (requested: string | null): ExecCreateBody {
    const settings = this.ctx.policy.current.bridge
    const forced = this.peer.restrictions.command
    const command = forced ?? requested
    // As sshd does: a command line goes to the shell with -c; no command means the login shell.
    const cmd = command === null ? [...settings.shell] : [settings.shell[0]!, '-c', command]
    const env = Object.entries(this.#env).filter(([key]) => forced === null || key !== 'SSH_ORIGINAL_COMMAND').map(([key, value]) => `${key}=${value}`)
    if (forced !== null && requested !== null) env.push(`SSH_ORIGINAL_COMMAND=${requested}`)
    if (this.#pty !== null && this.#env.TERM === undefined) env.push(`TERM=${this.#pty.term}`)
    return {
      Cmd: cmd,
      Tty: this.#pty !== null,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Env: env,
      DetachKeys: unguessableDetachKeys()
    }
  }

  /** No container in the login: list what the user may enter, or let them pick one. Null when nothing was picked. */
  async #choose (channel: ServerChannel, command: string | null, identity: Identity): Promise<string | null> {
    const entries = await this.ctx.targets.enterable(identity, this.#execBody(null))
    const hint = { host: this.ctx.host, port: this.ctx.port }
    if (command !== null) {
      channel.stderr.write(`portcullis: name the container to run this in: ssh -p ${this.ctx.port} ${this.peer.user}+CONTAINER@${this.ctx.host} '${command.replace(/'/g, "'\\''")}'\n\n` +
        formatContainerList(entries, this.peer.user, hint))
      channel.exit(2)
      channel.end()
      return null
    }
    if (this.#pty === null) {
      channel.write(formatContainerList(entries, this.peer.user, hint))
      channel.exit(0)
      channel.end()
      return null
    }
    const choice = await this.#pick(channel, entries)
    if (choice === null && !channel.destroyed) {
      channel.exit(0)
      channel.end()
    }
    return choice
  }

  #pick (channel: ServerChannel, entries: PickerEntry[]): Promise<string | null> {
    const picker = new Picker(entries, { user: this.peer.user, width: this.#pty!.cols, height: this.#pty!.rows })
    channel.write(picker.render())
    return new Promise((resolve) => {
      let escTimer: NodeJS.Timeout | null = null
      let redrawTimer: NodeJS.Timeout | null = null
      let done = false
      const finish = (value: string | null): void => {
        if (done) return
        done = true
        if (escTimer !== null) clearTimeout(escTimer)
        if (redrawTimer !== null) clearTimeout(redrawTimer)
        channel.off('data', onData)
        channel.off('close', onClose)
        this.#onResize = null
        // Leave a clean screen for the shell (or the user's own prompt).
        if (!channel.destroyed) channel.write('\x1b[0m\x1b[2J\x1b[H')
        resolve(value)
      }
      const act = (result: PickerAction): void => {
        if (result.type === 'redraw') channel.write(picker.render())
        else if (result.type === 'choose') finish(result.entry.id)
        else if (result.type === 'quit') finish(null)
      }
      const onData = (data: Buffer): void => {
        if (escTimer !== null) clearTimeout(escTimer)
        escTimer = null
        act(picker.key(data))
        // A lone ESC could still begin an arrow key; if nothing follows soon, it was ESC.
        if (!done && picker.pendingInput) escTimer = setTimeout(() => act(picker.flush()), 50)
      }
      const onClose = (): void => finish(null)
      // A flood of window-changes redraws the list at most every 100 ms, at the latest size.
      this.#onResize = (cols, rows) => {
        if (!(cols > 0 && rows > 0)) return
        picker.resize(cols, rows)
        redrawTimer ??= setTimeout(() => {
          redrawTimer = null
          if (!done) channel.write(picker.render())
        }, 100)
      }
      channel.on('data', onData)
      channel.on('close', onClose)
    })
  }

  async #deny (channel: ServerChannel, sessionId: string, requested: string | null, container: ContainerInfo | null, code: DenyCode, reason: string, role: string | null = null): Promise<void> {
    const forced = this.peer.restrictions.command
    const command = forced ?? requested
    try {
      await this.ctx.audit.append({
        kind: 'session',
        user: this.peer.user,
        authMethod: 'ssh',
        action: 'session.denied',
        project: container?.project ?? null,
        role,
        resource: container?.name ?? this.peer.container,
        decision: 'deny',
        code,
        reason,
        fields: {
          session: sessionId,
          command: command === null ? null : [command],
          ...(forced !== null ? { originalCommand: requested } : {}),
          client: this.peer.client,
          key: this.peer.key
        }
      })
    } catch (err) {
      this.ctx.logger.error({ err }, 'could not record a refused SSH session')
    }
    this.#refuse(channel, EXIT_REFUSED, reason)
  }

  #refuse (channel: ServerChannel, status: number, message: string): void {
    if (channel.destroyed) return
    const eol = this.#pty !== null ? '\r\n' : '\n'
    channel.stderr.write(`portcullis: ${message}${eol}`)
    channel.exit(status)
    channel.end()
  }
}
