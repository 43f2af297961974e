// The SSH bridge's server: public-key logins checked against the policy's users (signature verified, never just
// the key matched; then the key's from= and expiry-time=), then one BridgeSession per session channel. Nothing else
// SSH offers (passwords, forwarding, sftp, agents) is accepted.
//
// The TCP listener is ours, not ssh2's: every connection is counted and timed from accept, before ssh2 sees a
// byte of it (ssh2 only reports a connection once the client's banner arrives, so silent connections would be
// neither counted nor timed). A connection is admitted only while the process keeps its descriptor reserve, its
// source is not shut out for letting connections sit out the grace time, and the startup limits allow it; then it
// is handed to ssh2.

import net, { type AddressInfo, type Socket } from 'node:net'
import ssh2 from 'ssh2'
import type { Connection, PublicKeyAuthContext } from 'ssh2'
import { systemClock } from '../core/clock.js'
import { AccessReview } from './access-review.js'
import { KeyRing, type KeyRefusal } from '../ssh/authorized-keys.js'
import { DescriptorBudget } from './descriptors.js'
import type { HostKey } from './host-key.js'
import { sshFingerprint } from './host-key.js'
import { parseLogin } from './login.js'
import { OTHER_SOURCES, RefusalLedger, type RefusalReason, type RefusalReport } from './refusal-ledger.js'
import { BridgeSession, type BridgeContext, type Peer } from './session.js'
import { SourcePenalties } from './source-penalties.js'
import { sourceBlock, StartupLimiter, type StartupTicket } from './startup-limits.js'
import { UserConnectionLimit } from './user-connection-limit.js'
import { PortcullisError } from '../errors.js'

/** Public-key attempts (queries and signatures) per connection before it is dropped. */
const MAX_AUTH_ATTEMPTS = 12
/** Refused connections are recorded once per source block per this interval, with a count. */
const REFUSAL_INTERVAL_MS = 60_000

/** A connection accepted but not logged in yet: its place in the startup counts and its grace timer. */
interface PendingLogin {
  readonly ticket: StartupTicket
  readonly grace: NodeJS.Timeout
}

export class BridgeServer {
  readonly #tcp: net.Server
  readonly #server: ssh2.Server
  readonly #ctx: BridgeContext
  /** Ends live sessions that a policy reload no longer lets in. */
  readonly #review: AccessReview
  readonly #connections = new Set<Connection>()
  readonly #sockets = new Set<Socket>()
  readonly #pending = new WeakMap<Socket, PendingLogin>()
  readonly #limiter = new StartupLimiter()
  readonly #descriptors = new DescriptorBudget()
  readonly #penalties = new SourcePenalties()
  readonly #refusals: RefusalLedger
  /** Logged-in connections per user. */
  readonly #perUser = new Map<string, number>()
  readonly #userLimit: UserConnectionLimit
  #ring: { digest: string, ring: KeyRing } | null = null
  #closing = false

  constructor (ctx: BridgeContext, hostKey: HostKey) {
    this.#ctx = ctx
    this.#review = new AccessReview(ctx.policy, ctx.targets, ctx.live, ctx.logger, ctx.clock)
    this.#server = new ssh2.Server({ hostKeys: [hostKey.privateKey], ident: 'portcullis' }, (client, info) => this.#handshake(client, `${info.ip}:${info.port}`))
    this.#server.on('error', (err: Error) => ctx.logger.error({ err }, 'SSH bridge server error'))
    this.#tcp = net.createServer((socket) => this.#admit(socket))
    this.#tcp.on('error', (err: Error) => ctx.logger.error({ err }, 'SSH bridge listener error'))
    this.#refusals = new RefusalLedger((report) => this.#recordRefusals(report), REFUSAL_INTERVAL_MS)
    this.#userLimit = new UserConnectionLimit(ctx.audit, ctx.logger, REFUSAL_INTERVAL_MS)
  }

  listen (host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new PortcullisError('PORTCULLIS_SSH_LISTEN', `${host}:${port}`, err.message))
      this.#tcp.once('error', onError)
      this.#tcp.listen(port, host, () => {
        this.#tcp.off('error', onError)
        resolve(this.#tcp.address() as AddressInfo)
      })
    })
  }

  /** Connections accepted and not logged in yet, for the status page and tests. */
  get unauthenticated (): number {
    return this.#limiter.unauthenticated
  }

  /** Live sessions, for the status page. */
  get sessions (): number {
    return this.#ctx.live.size
  }

  /** Stops accepting, ends every session (telling the user why), waits for their records, then closes. */
  async close (): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    this.#review.close()
    const closed = new Promise<void>((resolve) => this.#tcp.close(() => resolve()))
    // Connections still logging in have nothing to finish.
    for (const socket of this.#sockets) if (this.#pending.has(socket)) socket.destroy()
    const running = [...this.#ctx.live]
    for (const exec of running) exec.terminate('shutdown', 'portcullis is shutting down; this session ends now')
    const deadline = Date.now() + 15_000
    while (this.#ctx.live.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    for (const client of this.#connections) client.end()
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))])
    for (const socket of this.#sockets) socket.destroy()
    this.#refusals.close()
    this.#userLimit.close()
  }

  #keyRing (): KeyRing {
    const policy = this.#ctx.policy.current
    if (this.#ring?.digest !== policy.digest) {
      const ring = new KeyRing(policy.users)
      for (const bad of ring.invalid) this.#ctx.logger.warn({ user: bad.user, index: bad.index }, `unusable SSH key in the policy: ${bad.message}`)
      this.#ring = { digest: policy.digest, ring }
    }
    return this.#ring.ring
  }

  /** A TCP connection has just been accepted: count it and start its grace timer, or close it at once. */
  #admit (socket: Socket): void {
    socket.on('error', () => {})
    const address = socket.remoteAddress
    if (this.#closing || address === undefined) {
      socket.destroy()
      return
    }
    const settings = this.#ctx.policy.current.bridge
    const source = sourceBlock(address, settings.startups.netBlock)
    if (this.#penalties.refusedFor(source) > 0) {
      this.#refuse(socket, source, 'penalty')
      return
    }
    const admitted = this.#limiter.admit(address, settings.startups)
    if ('refused' in admitted) {
      this.#refuse(socket, admitted.source, admitted.refused)
      return
    }
    const { ticket } = admitted
    // Only a connection that would be kept counts against the descriptors: refused ones are closed at once.
    if (!this.#descriptors.take()) {
      ticket.release()
      this.#refuse(socket, source, 'descriptors')
      return
    }
    const grace = setTimeout(() => {
      this.#refusals.note(ticket.source, 'login-grace')
      this.#penalties.graceExpired(ticket.source)
      socket.destroy()
    }, settings.loginGraceMs)
    this.#pending.set(socket, { ticket, grace })
    this.#sockets.add(socket)
    socket.once('close', () => {
      this.#sockets.delete(socket)
      this.#loggedIn(socket)
    })
    this.#server.injectSocket(socket)
  }

  #refuse (socket: Socket, source: string, reason: RefusalReason): void {
    socket.destroy()
    this.#refusals.note(source, reason)
  }

  /** The connection no longer counts as logging in: it logged in, or it is gone. */
  #loggedIn (socket: Socket): void {
    const pending = this.#pending.get(socket)
    if (pending === undefined) return
    this.#pending.delete(socket)
    clearTimeout(pending.grace)
    pending.ticket.release()
  }

  #recordRefusals (report: RefusalReport): void {
    const reasons = Object.entries(report.reasons).map(([reason, count]) => `${reason}: ${count}`).join(', ')
    const what = report.source === OTHER_SOURCES ? 'further sources' : report.source
    const every = `${Math.round(REFUSAL_INTERVAL_MS / 1000)} s`
    const reason = report.burstStart
      ? `the SSH bridge closed a connection from ${what} before login (${reasons}); more from there are counted and recorded every ${every}`
      : `the SSH bridge closed ${report.count} connection(s) from ${what} before login in the last ${every} (${reasons})`
    this.#ctx.logger.warn({ source: report.source, count: report.count, reasons: report.reasons }, reason)
    this.#ctx.audit.append({
      kind: 'system',
      action: 'bridge.refused',
      decision: 'deny',
      code: 'SSH_CONNECTION_REFUSED',
      reason,
      fields: { source: report.source, count: report.count, reasons: report.reasons }
    }, { lazy: true }).catch((err: unknown) => this.#ctx.logger.error({ err }, 'could not record refused SSH connections'))
  }

  /** ssh2 read the client's banner: run the login on the connection #admit counted. */
  #handshake (client: Connection, address: string): void {
    // ssh2 keeps the socket it was given on the connection; it is not in its public types.
    const socket = (client as unknown as { _sock?: Socket })._sock
    if (socket === undefined || !this.#pending.has(socket)) {
      this.#ctx.logger.error({ client: address }, 'SSH connection the bridge did not admit; closed')
      client.on('error', () => {})
      client.end()
      return
    }
    this.#accept(client, address, socket)
  }

  #accept (client: Connection, address: string, socket: Socket): void {
    const log = this.#ctx.logger
    this.#connections.add(client)
    let peer: Peer | null = null
    let attempts = 0
    let attemptedUser: string | null = null
    const offered = new Set<string>()
    /** Keys the client proved but whose options (from=, expiry-time=) refuse this login, by fingerprint. */
    const restricted = new Map<string, KeyRefusal & { login: string }>()

    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') {
        ctx.reject(['publickey'])
        return
      }
      if (++attempts > MAX_AUTH_ATTEMPTS) {
        ctx.reject([])
        client.end()
        return
      }
      attemptedUser = ctx.username
      offered.add(sshFingerprint(ctx.key.data))
      const login = parseLogin(ctx.username)
      if (login === null) {
        ctx.reject(['publickey'])
        return
      }
      const ring = this.#keyRing()
      if (ctx.signature === undefined) {
        // The client asks whether this key would do, before it signs anything.
        if (ring.match(login.user, ctx.key.algo, ctx.key.data) !== null) ctx.accept()
        else ctx.reject(['publickey'])
        return
      }
      const key = sshFingerprint(ctx.key.data)
      const result = ring.authenticate(login.user, ctx as PublicKeyAuthContext, address.slice(0, address.lastIndexOf(':')), (this.#ctx.clock ?? systemClock).now())
      if (result.outcome !== 'accepted') {
        if (result.outcome === 'refused') restricted.set(key, { login: ctx.username, ...result.refusal })
        ctx.reject(['publickey'])
        return
      }
      peer = { user: login.user, container: login.container, key, client: address, restrictions: result.key.restrictions }
      ctx.accept()
    })

    let countedFor: string | null = null
    let idle: NodeJS.Timeout | undefined
    client.on('ready', () => {
      this.#loggedIn(socket)
      const who = peer!
      const settings = this.#ctx.policy.current.bridge
      // Logged in is not unbounded: a key holder could otherwise hold connections until the descriptors run out.
      const held = this.#perUser.get(who.user) ?? 0
      if (held >= settings.maxConnectionsPerUser) {
        this.#userLimit.note(who.user, address, held)
        client.end()
        return
      }
      this.#perUser.set(who.user, held + 1)
      countedFor = who.user
      log.info({ user: who.user, container: who.container, client: address, key: who.key }, 'SSH login')
      let open = 0
      // A connection with no session open is of no use to the bridge: it goes after the login grace time.
      const idleAgain = (): void => {
        clearTimeout(idle)
        idle = setTimeout(() => {
          log.info({ user: who.user, client: address }, 'SSH connection closed: no session open for the login grace time')
          client.end()
        }, this.#ctx.policy.current.bridge.loginGraceMs)
      }
      idleAgain()
      client.on('session', (accept, reject) => {
        if (this.#closing) return
        if (open >= this.#ctx.policy.current.bridge.maxSessionsPerConnection) {
          log.warn({ user: who.user, client: address, open }, 'SSH session refused: bridge.maxSessionsPerConnection sessions are open on this connection')
          reject()
          return
        }
        // A session opens connections to the daemon: none while the process is short of descriptors.
        if (!this.#descriptors.take()) {
          log.warn({ user: who.user, client: address }, 'SSH session refused: the process is close to its file descriptor limit')
          reject()
          return
        }
        const session = accept()
        open++
        clearTimeout(idle)
        session.once('close', () => {
          if (--open === 0) idleAgain()
        })
        // The session lives through the channel's event handlers.
        new BridgeSession(this.#ctx, who, session)
      })
    })

    // Anything other than session channels (port forwarding, sockets) is refused.
    client.on('tcpip', (_accept, reject) => reject())
    client.on('openssh.streamlocal', (_accept, reject) => reject())
    client.on('request', (_accept, reject) => reject?.())
    client.on('error', (err: Error) => log.debug({ err, client: address }, 'SSH connection error'))
    client.on('close', () => {
      this.#connections.delete(client)
      clearTimeout(idle)
      if (countedFor !== null) {
        const left = (this.#perUser.get(countedFor) ?? 1) - 1
        if (left > 0) this.#perUser.set(countedFor, left)
        else this.#perUser.delete(countedFor)
      }
      if (peer !== null) return
      // One record per connection that tried and failed, not one per key it offered.
      if (attempts === 0) return
      const login = attemptedUser !== null ? parseLogin(attemptedUser) : null
      const refusedKeys = [...restricted].slice(0, 8).map(([key, refusal]) => ({ key, ...refusal }))
      const [firstRefusal] = refusedKeys
      this.#ctx.audit.append({
        kind: 'session',
        user: login?.user ?? null,
        authMethod: 'ssh',
        action: 'session.denied',
        resource: login?.container ?? null,
        decision: 'deny',
        code: firstRefusal !== undefined ? 'SSH_KEY_RESTRICTED' : 'SSH_LOGIN_FAILED',
        reason: firstRefusal !== undefined
          ? `SSH login as "${firstRefusal.login}" refused: key ${firstRefusal.key} is restricted by ${firstRefusal.value}: ${firstRefusal.detail}`
          : `SSH login as "${attemptedUser ?? ''}" failed: no key the client offered is one of that user's keys in the policy`,
        fields: { client: address, login: attemptedUser, offeredKeys: [...offered].slice(0, 8), ...(refusedKeys.length > 0 ? { refusedKeys } : {}) }
      }, { lazy: true }).catch((err: unknown) => log.error({ err }, 'could not record a failed SSH login'))
    })
  }
}

