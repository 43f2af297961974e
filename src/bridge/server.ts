// The SSH bridge's server: public-key logins checked against the policy's users (signature verified, never just
// the key matched), then one BridgeSession per session channel. Nothing else SSH offers (passwords, forwarding,
// sftp, agents) is accepted.

import type { AddressInfo } from 'node:net'
import ssh2 from 'ssh2'
import type { Connection, PublicKeyAuthContext } from 'ssh2'
import { AccessReview } from './access-review.js'
import { KeyRing } from './authorized-keys.js'
import type { HostKey } from './host-key.js'
import { sshFingerprint } from './host-key.js'
import { parseLogin } from './login.js'
import { BridgeSession, type BridgeContext, type Peer } from './session.js'
import { PortcullisError } from '../errors.js'

/** A client must finish logging in within this time. */
const LOGIN_GRACE_MS = 30_000
/** Public-key attempts (queries and signatures) per connection before it is dropped. */
const MAX_AUTH_ATTEMPTS = 12
/** Connections not yet logged in at once; more are dropped at once (like sshd's MaxStartups). */
const MAX_UNAUTHENTICATED = 64

export class BridgeServer {
  readonly #server: ssh2.Server
  readonly #ctx: BridgeContext
  /** Ends live sessions that a policy reload no longer lets in. */
  readonly #review: AccessReview
  readonly #connections = new Set<Connection>()
  #unauthenticated = 0
  #ring: { digest: string, ring: KeyRing } | null = null
  #closing = false

  constructor (ctx: BridgeContext, hostKey: HostKey) {
    this.#ctx = ctx
    this.#review = new AccessReview(ctx.policy, ctx.targets, ctx.live, ctx.logger)
    this.#server = new ssh2.Server({ hostKeys: [hostKey.privateKey], ident: 'portcullis' }, (client, info) => this.#accept(client, `${info.ip}:${info.port}`))
    this.#server.on('error', (err: Error) => ctx.logger.error({ err }, 'SSH bridge server error'))
  }

  listen (host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new PortcullisError('PORTCULLIS_SSH_LISTEN', `${host}:${port}`, err.message))
      this.#server.once('error', onError)
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError)
        resolve(this.#server.address() as AddressInfo)
      })
    })
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
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    const running = [...this.#ctx.live]
    for (const exec of running) exec.terminate('shutdown', 'portcullis is shutting down; this session ends now')
    const deadline = Date.now() + 15_000
    while (this.#ctx.live.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    for (const client of this.#connections) client.end()
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))])
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

  #accept (client: Connection, address: string): void {
    const log = this.#ctx.logger
    if (this.#closing || this.#unauthenticated >= MAX_UNAUTHENTICATED) {
      client.on('error', () => {})
      client.end()
      return
    }
    this.#connections.add(client)
    this.#unauthenticated++
    let peer: Peer | null = null
    let attempts = 0
    let attemptedUser: string | null = null
    const offered = new Set<string>()
    const grace = setTimeout(() => { if (peer === null) client.end() }, LOGIN_GRACE_MS)

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
      if (!ring.verify(login.user, ctx as PublicKeyAuthContext)) {
        ctx.reject(['publickey'])
        return
      }
      peer = { user: login.user, container: login.container, key: sshFingerprint(ctx.key.data), client: address }
      ctx.accept()
    })

    client.on('ready', () => {
      clearTimeout(grace)
      this.#unauthenticated--
      const who = peer!
      log.info({ user: who.user, container: who.container, client: address, key: who.key }, 'SSH login')
      client.on('session', (accept) => {
        if (this.#closing) return
        // eslint-disable-next-line no-new -- the session lives through the channel's event handlers
        new BridgeSession(this.#ctx, who, accept())
      })
    })

    // Anything other than session channels (port forwarding, sockets) is refused.
    client.on('tcpip', (_accept, reject) => reject())
    client.on('openssh.streamlocal', (_accept, reject) => reject())
    client.on('request', (_accept, reject) => reject?.())
    client.on('error', (err: Error) => log.debug({ err, client: address }, 'SSH connection error'))
    client.on('close', () => {
      clearTimeout(grace)
      this.#connections.delete(client)
      if (peer !== null) return
      this.#unauthenticated--
      // One record per connection that tried and failed, not one per key it offered.
      if (attempts === 0) return
      const login = attemptedUser !== null ? parseLogin(attemptedUser) : null
      this.#ctx.audit.append({
        kind: 'session',
        user: login?.user ?? null,
        authMethod: 'ssh',
        action: 'session.denied',
        resource: login?.container ?? null,
        decision: 'deny',
        code: 'SSH_LOGIN_FAILED',
        reason: `SSH login as "${attemptedUser ?? ''}" failed: no key the client offered is one of that user's keys in the policy`,
        fields: { client: address, login: attemptedUser, offeredKeys: [...offered].slice(0, 8) }
      }, { lazy: true }).catch((err: unknown) => log.error({ err }, 'could not record a failed SSH login'))
    })
  }
}

