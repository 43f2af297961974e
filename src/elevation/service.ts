// Just-in-time role elevation: users ask for a role in a project for a while, approvers decide, and an approved
// request becomes a grant the policy core counts as a membership until it ends. Every step is an `elevation`
// record in the audit chain, written before the step takes effect; the working state lives beside the records
// (storage.ts) so pending requests and running grants survive a restart, deadlines included.

import { EventEmitter } from 'node:events'
import pino, { type Logger } from 'pino'
import type { AuditInput } from '../audit/record.js'
import type { RefusalSummary } from '../audit/refusal-limiter.js'
import { RefusalRecords } from '../audit/refusal-records.js'
import type { AuditStore } from '../audit/store.js'
import type { AuthMethod } from '../core/types.js'
import { durationText } from '../core/duration.js'
import type { Grant } from '../core/grant.js'
import { systemClock, type Clock } from './clock.js'
import { ElevationError } from './errors.js'
import { activeGrantOf, finishedAtOf, newGrantId, newRequestId, REQUEST_ID_PATTERN, type ElevationRequest } from './request.js'
import { approversText, checkInput, planRequest, type ElevationPolicy } from './rules.js'
import { ElevationStorage } from './storage.js'
import { Webhook, type WebhookOptions } from './webhook.js'

/** Who acts: the user, and how they reached us (recorded with each step). */
export interface Actor {
  user: string
  /** `http`: the user API with a token; `admin-socket`: root on the host acting as `user`. */
  via?: 'http' | 'admin-socket'
  tokenId?: string
  /** On the admin socket: who really acted, as the kernel reports the socket's peer (src/admin/peer.ts). */
  peer?: Record<string, unknown> | null
}

export interface ElevationServiceOptions {
  audit: AuditStore
  /** Read at each step, so a policy reload applies to the next request. */
  policy: { readonly current: ElevationPolicy }
  logger?: Logger
  clock?: Clock
  webhook?: Omit<WebhookOptions, 'logger'>
}

export type ElevationAction = 'elevation.request' | 'elevation.approve' | 'elevation.deny' | 'elevation.expire' | 'elevation.revoke' | 'elevation.end'

/** Rate-limit refusals: one recorded whole per user a minute (30 in all), the rest counted into a summary. */
const RATE_REFUSAL_LIMITS = { windowMs: 60_000, perKey: 1, perWindow: 30 }
/** Sign-in refusals on the API (no token, a bad or expired one): the first few of each peer a minute recorded whole. */
const SIGN_IN_REFUSAL_LIMITS = { windowMs: 60_000, perKey: 3, perWindow: 30 }
const HOUR_MS = 3_600_000
/** How often finished requests past the retention are looked for. */
const SWEEP_INTERVAL_MS = HOUR_MS

export interface ElevationEvents {
  /** A grant stopped counting (it ran out or was revoked); `message` says so to someone whose session it ends. */
  'grant-ended': [grant: Grant, message: string]
  /** Any step, once recorded. */
  change: [action: ElevationAction, request: ElevationRequest]
}

/** The name decisions made by the service itself are recorded under. */
const SERVICE = 'portcullis'
const NO_GRANTS: readonly Grant[] = Object.freeze([])

export class ElevationService extends EventEmitter<ElevationEvents> {
  readonly #audit: AuditStore
  readonly #storage: ElevationStorage
  readonly #policy: { readonly current: ElevationPolicy }
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #webhook: Webhook
  readonly #requests = new Map<string, ElevationRequest>()
  /** user → the grants of theirs that have not ended: activeGrants() runs on every Docker call. */
  readonly #grants = new Map<string, Grant[]>()
  /** request id → cancels its deadline (pending: expiry; approved: grant end). */
  readonly #deadlines = new Map<string, () => void>()
  /** user → when their requests of the last hour were made, oldest first (elevation.requestsPerHour). */
  readonly #recentCreates = new Map<string, number[]>()
  /** Rate-limit refusals, through the limiter the audit API's refusals use: a flood is counted, not recorded. */
  readonly #rateRefusals: RefusalRecords
  /** Requests the API could not sign in (PCI DSS 10.2.1.4, invalid access attempts), through the same limiter. */
  readonly #signInRefusals: RefusalRecords
  #cancelSweep: (() => void) | null = null
  /** Steps run one at a time, so two approvers (or an approver and a deadline) never both win. */
  #tail: Promise<unknown> = Promise.resolve()
  #started = false
  #closed = false

  private constructor (options: ElevationServiceOptions, requests: ElevationRequest[]) {
    super()
    this.#audit = options.audit
    this.#storage = new ElevationStorage(options.audit.keySpace('elevation'))
    this.#policy = options.policy
    this.#logger = options.logger ?? pino({ enabled: false })
    this.#clock = options.clock ?? systemClock
    this.#webhook = new Webhook({ ...options.webhook, logger: this.#logger })
    this.#rateRefusals = new RefusalRecords({ audit: this.#audit, logger: this.#logger, clock: this.#clock, limits: RATE_REFUSAL_LIMITS, summary: rateLimitedSummary })
    this.#signInRefusals = new RefusalRecords({ audit: this.#audit, logger: this.#logger, clock: this.#clock, limits: SIGN_IN_REFUSAL_LIMITS, summary: signInRefusedSummary })
    for (const request of requests) {
      this.#requests.set(request.id, request)
      const grant = activeGrantOf(request, this.#clock.now())
      if (grant !== null) this.#addGrant(grant)
    }
  }

  /** Loads the stored requests; grants that still run count at once. Call start() to arm the deadlines. */
  static async open (options: ElevationServiceOptions): Promise<ElevationService> {
    const { requests, unreadable } = await new ElevationStorage(options.audit.keySpace('elevation')).loadAll()
    if (unreadable.length > 0) options.logger?.error({ keys: unreadable }, 'unreadable elevation requests in the store were skipped')
    return new ElevationService(options, requests)
  }

  /** Records what ran out while portcullis was stopped, then arms the deadlines of what is still open. */
  start (): Promise<void> {
    return this.#exclusive(async () => {
      if (this.#started || this.#closed) return
      this.#started = true
      const now = this.#clock.now()
      for (const request of [...this.#requests.values()]) {
        if (request.state === 'pending' && request.pendingUntil <= now) await this.#expire(request)
        else if (isRunning(request) && request.grant!.expiresAt <= now) await this.#end(request)
        else this.#arm(request)
      }
      // The hourly limit counts requests made before a restart too.
      for (const request of this.#requests.values()) this.#noteCreate(request.user, request.createdAt, now)
      await this.#sweep()
      this.#armSweep()
    })
  }

  /** Asks for `input.role` in `input.project`; approved at once when the policy says autoApprove. */
  create (actor: Actor, input: unknown): Promise<ElevationRequest> {
    return this.#exclusive(async () => {
      const policy = this.#policy.current
      const now = this.#clock.now()
      await this.#checkRate(actor, policy.requestLimits.requestsPerHour, now)
      const checked = checkInput(input)
      const plan = planRequest(policy, actor.user, checked)
      const pending = [...this.#requests.values()].filter((r) => r.user === actor.user && r.state === 'pending')
      if (pending.length >= policy.requestLimits.maxPending) {
        throw new ElevationError('PORTCULLIS_ELEVATION_TOO_MANY_PENDING', [String(pending.length), pending.map((r) => r.id).join(', ')])
      }
      for (const other of this.#requests.values()) {
        if (other.user !== actor.user || other.project !== checked.project || other.role !== checked.role) continue
        if (other.state === 'pending') {
          throw new ElevationError('PORTCULLIS_ELEVATION_DUPLICATE', [`request ${other.id}`, `pending until ${iso(other.pendingUntil)}`, other.role, other.project, other.id])
        }
        const grant = activeGrantOf(other, now)
        if (grant !== null) {
          throw new ElevationError('PORTCULLIS_ELEVATION_DUPLICATE', [`grant ${grant.id}`, `until ${iso(grant.expiresAt)}`, other.role, other.project, other.id])
        }
      }
      const request: ElevationRequest = {
        id: newRequestId(),
        user: actor.user,
        project: checked.project,
        role: checked.role,
        heldRole: plan.heldRole,
        ttlMs: checked.ttlMs,
        reason: checked.reason,
        state: 'pending',
        createdAt: now,
        pendingUntil: now + plan.settings.requestTtlMs
      }
      const holds = request.heldRole === null ? 'holds no role there' : `holds ${request.heldRole}`
      await this.#commit(request, 'elevation.request', actor,
        `${request.user} asked for ${request.role} in ${request.project} for ${durationText(request.ttlMs)} (${holds}): ${request.reason}`)
      this.#noteCreate(actor.user, now, now)
      if (!plan.settings.autoApprove) return request
      try {
        return await this.#approve(request, { user: SERVICE }, 'autoApprove: the policy approves this role at once', true)
      } catch (err) {
        // The request is on record and stays pending for an approver.
        this.#logger.error({ err, request: request.id }, 'could not auto-approve an elevation request; it stays pending')
        return this.#requests.get(request.id)!
      }
    })
  }

  approve (id: string, actor: Actor, reason?: string): Promise<ElevationRequest> {
    return this.#exclusive(async () => {
      const request = this.#decidable(id, actor, 'approve')
      const policy = this.#policy.current
      // The policy may have changed since the request was made.
      if (!policy.projects.has(request.project)) throw new ElevationError('PORTCULLIS_ELEVATION_PROJECT_GONE', [request.id, JSON.stringify(request.project)])
      if (!policy.roles.has(request.role)) throw new ElevationError('PORTCULLIS_ELEVATION_UNKNOWN_ROLE', [JSON.stringify(request.role), [...policy.roles.keys()].join(', ')])
      return await this.#approve(request, actor, optionalReason(reason), false)
    })
  }

  deny (id: string, actor: Actor, reason: string): Promise<ElevationRequest> {
    return this.#exclusive(async () => {
      const request = this.#decidable(id, actor, 'deny')
      const why = optionalReason(reason)
      if (why === undefined) throw new ElevationError('PORTCULLIS_ELEVATION_BAD_INPUT', ['a denial needs a reason (--reason "…"): the requester reads it'])
      const now = this.#clock.now()
      const next: ElevationRequest = { ...request, state: 'denied', decidedAt: now, decidedBy: actor.user, decisionReason: why, finishedAt: now }
      await this.#commit(next, 'elevation.deny', actor, `${actor.user} denied ${request.id} (${request.role} in ${request.project} for ${request.user}): ${why}`)
      return next
    })
  }

  /** Withdraws a pending request, or ends a running grant early. The requester, an approver of the project or a
   * global admin may. */
  revoke (id: string, actor: Actor, reason?: string): Promise<ElevationRequest> {
    return this.#exclusive(async () => {
      const request = this.#visible(id, actor.user)
      const policy = this.#policy.current
      if (actor.user !== request.user && !policy.mayApprove(actor.user, request.project)) {
        throw new ElevationError('PORTCULLIS_ELEVATION_NOT_APPROVER', [actor.user, 'revoke', request.project, approversText(policy, request.project)])
      }
      const now = this.#clock.now()
      const why = optionalReason(reason)
      if (request.state === 'pending') {
        const next: ElevationRequest = { ...request, state: 'revoked', revokedBy: actor.user, finishedAt: now, ...(why !== undefined ? { revokeReason: why } : {}) }
        const verb = actor.user === request.user ? 'withdrew' : 'revoked'
        await this.#commit(next, 'elevation.revoke', actor, `${actor.user} ${verb} ${request.id} (${request.role} in ${request.project}) before it was decided${why !== undefined ? `: ${why}` : ''}`)
        return next
      }
      const grant = activeGrantOf(request, now)
      if (grant === null) {
        const what = request.state === 'approved' ? `over: its grant ended at ${iso(request.endedAt ?? request.grant!.expiresAt)}` : request.state
        throw new ElevationError('PORTCULLIS_ELEVATION_NOT_REVOCABLE', [`Request ${request.id}`, what])
      }
      const next: ElevationRequest = { ...request, state: 'revoked', endedAt: now, finishedAt: now, revokedBy: actor.user, ...(why !== undefined ? { revokeReason: why } : {}) }
      await this.#commit(next, 'elevation.revoke', actor,
        `${actor.user} revoked grant ${grant.id} (${request.role} in ${request.project} for ${request.user}, due to end ${iso(grant.expiresAt)})${why !== undefined ? `: ${why}` : ''}`)
      this.emit('grant-ended', grant, `${actor.user} revoked the grant ${grant.id} (${grant.role} in ${grant.project}) this session relied on`)
      return next
    })
  }

  /** Requests `user` may see, newest first: their own, and those pending or running in projects they approve.
   * `user` null: every request (root on the admin socket). */
  list (user: string | null): ElevationRequest[] {
    const policy = this.#policy.current
    const now = this.#clock.now()
    const approves = new Map<string, boolean>()
    const mayApprove = (project: string): boolean => {
      let verdict = approves.get(project)
      if (verdict === undefined) {
        verdict = user !== null && policy.mayApprove(user, project)
        approves.set(project, verdict)
      }
      return verdict
    }
    return [...this.#requests.values()]
      .filter((r) => user === null || r.user === user || ((r.state === 'pending' || activeGrantOf(r, now) !== null) && mayApprove(r.project)))
      .sort((a, b) => b.createdAt - a.createdAt)
  }

  /** One request, if `user` may see it (null: root). */
  get (id: string, user: string | null): ElevationRequest {
    return this.#visible(id, user)
  }

  /** The user's grants that have not ended at `now`; cheap enough for every Docker call. */
  activeGrants (user: string, now: number): readonly Grant[] {
    const grants = this.#grants.get(user)
    if (grants === undefined) return NO_GRANTS
    // Deadlines end grants, but a late timer must not stretch one: time decides.
    return grants.every((g) => g.expiresAt > now) ? grants : grants.filter((g) => g.expiresAt > now)
  }

  /** Whether a grant still counts (the SSH bridge asks before it ties a session to one). */
  isActive (grantId: string, now = this.#clock.now()): boolean {
    for (const grants of this.#grants.values()) {
      for (const grant of grants) if (grant.id === grantId) return grant.expiresAt > now
    }
    return false
  }

  /** Resolves once the steps queued so far (deadlines included) are done and their webhook deliveries settled. */
  async settled (): Promise<void> {
    let tail: Promise<unknown>
    do {
      tail = this.#tail
      await tail
    } while (tail !== this.#tail)
    await this.#webhook.settled()
  }

  /** Cancels the deadlines (the next start re-arms them from the store) and abandons webhook retries. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#tail
    this.#cancelSweep?.()
    this.#cancelSweep = null
    for (const cancel of this.#deadlines.values()) cancel()
    this.#deadlines.clear()
    this.#webhook.close()
    // What was counted is written before the store closes.
    await this.#rateRefusals.close()
    await this.#signInRefusals.close()
  }

  async #approve (request: ElevationRequest, actor: Actor, reason: string | undefined, autoApproved: boolean): Promise<ElevationRequest> {
    const now = this.#clock.now()
    const next: ElevationRequest = {
      ...request,
      state: 'approved',
      decidedAt: now,
      decidedBy: actor.user,
      ...(reason !== undefined ? { decisionReason: reason } : {}),
      grant: { id: newGrantId(), expiresAt: now + request.ttlMs },
      autoApproved
    }
    const who = autoApproved ? 'the policy (autoApprove)' : actor.user
    await this.#commit(next, 'elevation.approve', actor,
      `${who} approved ${request.id}: ${request.user} is ${request.role} in ${request.project} until ${iso(next.grant!.expiresAt)} (grant ${next.grant!.id})${reason !== undefined && !autoApproved ? `: ${reason}` : ''}`)
    return next
  }

  /** A pending request `actor` may decide: someone else's, in a project they approve. */
  #decidable (id: string, actor: Actor, verb: 'approve' | 'deny'): ElevationRequest {
    const request = this.#visible(id, actor.user)
    const policy = this.#policy.current
    if (request.user === actor.user) {
      throw new ElevationError('PORTCULLIS_ELEVATION_SELF_APPROVAL', [verb, request.id, request.project, approversText(policy, request.project, request.user)])
    }
    if (!policy.mayApprove(actor.user, request.project)) {
      throw new ElevationError('PORTCULLIS_ELEVATION_NOT_APPROVER', [actor.user, verb, request.project, approversText(policy, request.project)])
    }
    if (request.state !== 'pending') {
      throw new ElevationError('PORTCULLIS_ELEVATION_NOT_PENDING', [request.id, request.state, verb === 'approve' ? 'approved' : 'denied'])
    }
    return request
  }

  /** The request, when `user` may see it; otherwise the same 404 as for a request that does not exist. */
  #visible (id: string, user: string | null): ElevationRequest {
    const request = REQUEST_ID_PATTERN.test(id) ? this.#requests.get(id) : undefined
    if (request === undefined || (user !== null && request.user !== user && !this.#policy.current.mayApprove(user, request.project))) {
      throw new ElevationError('PORTCULLIS_ELEVATION_NOT_FOUND', [JSON.stringify(id)])
    }
    return request
  }

  /** A pending request nobody decided in time. */
  async #expire (request: ElevationRequest): Promise<void> {
    const now = this.#clock.now()
    const next: ElevationRequest = { ...request, state: 'expired', decidedAt: now, decidedBy: SERVICE, finishedAt: now }
    await this.#commitAnyway(next, 'elevation.expire',
      `nobody decided ${request.id} (${request.role} in ${request.project} for ${request.user}) by ${iso(request.pendingUntil)}; it expired`)
  }

  /** A grant that ran out. */
  async #end (request: ElevationRequest): Promise<void> {
    const grant = request.grant!
    const now = this.#clock.now()
    const next: ElevationRequest = { ...request, endedAt: now, finishedAt: now }
    await this.#commitAnyway(next, 'elevation.end',
      `grant ${grant.id} ended: ${request.user} is no longer ${request.role} in ${request.project} (it ran until ${iso(grant.expiresAt)})`)
    this.emit('grant-ended', { id: grant.id, user: request.user, project: request.project, role: request.role, expiresAt: grant.expiresAt, request: request.id },
      `the grant ${grant.id} (${request.role} in ${request.project}) this session relied on ran out at ${iso(grant.expiresAt)}`)
  }

  /**
   * Records a step, then applies it. The record comes first: a step the audit store cannot take does not happen,
   * and the caller is told so (PORTCULLIS_ELEVATION_UNAVAILABLE).
   */
  async #commit (next: ElevationRequest, action: ElevationAction, actor: Actor, reason: string): Promise<void> {
    try {
      await this.#audit.append(this.#record(next, action, actor, reason))
    } catch (err) {
      this.#logger.error({ err, request: next.id, action }, 'could not record an elevation step; it did not happen')
      throw new ElevationError('PORTCULLIS_ELEVATION_UNAVAILABLE', [(err as Error).message], { cause: err })
    }
    await this.#apply(next, action)
  }

  /** For ends nobody asks for (expiry): they take effect even when they cannot be recorded, since a grant must
   * never outlive its deadline. */
  async #commitAnyway (next: ElevationRequest, action: ElevationAction, reason: string): Promise<void> {
    try {
      await this.#audit.append(this.#record(next, action, { user: SERVICE }, reason))
    } catch (err) {
      this.#logger.error({ err, request: next.id, action }, 'could not record an elevation step; applying it anyway')
    }
    await this.#apply(next, action)
  }

  async #apply (next: ElevationRequest, action: ElevationAction): Promise<void> {
    try {
      await this.#storage.save(next)
    } catch (err) {
      // The record is in the chain; only a restart would forget the step, and then a pending request or a grant
      // would be back where it was (a grant still ends at its deadline).
      this.#logger.error({ err, request: next.id, action }, 'could not store an elevation request')
    }
    this.#requests.set(next.id, next)
    this.#deadlines.get(next.id)?.()
    this.#deadlines.delete(next.id)
    this.#removeGrant(next)
    const grant = activeGrantOf(next, this.#clock.now())
    if (grant !== null) this.#addGrant(grant)
    if (this.#started && !this.#closed) this.#arm(next)
    this.emit('change', action, next)
    const webhook = this.#policy.current.elevationFor(next.project, next.role).webhook
    if (webhook !== null) this.#webhook.send(webhook, { event: action, request: next, time: new Date(this.#clock.now()).toISOString() })
  }

  #record (request: ElevationRequest, action: ElevationAction, actor: Actor, reason: string): AuditInput {
    const authMethod: AuthMethod | null = actor.via === 'http' ? 'jwt' : null
    return {
      kind: 'elevation',
      user: request.user,
      authMethod,
      tokenId: actor.tokenId ?? null,
      action,
      project: request.project,
      role: request.role,
      reason,
      fields: {
        request: request.id,
        ...(request.grant !== undefined ? { grant: request.grant.id, grantExpiresAt: iso(request.grant.expiresAt) } : {}),
        role: request.role,
        project: request.project,
        heldRole: request.heldRole,
        ttlMs: request.ttlMs,
        reason: request.reason,
        decidedBy: request.decidedBy ?? null,
        ...(request.decisionReason !== undefined ? { decisionReason: request.decisionReason } : {}),
        autoApproved: request.autoApproved === true,
        by: actor.user,
        ...(actor.via !== undefined ? { via: actor.via } : {}),
        ...(actor.peer !== undefined ? { peer: actor.peer } : {})
      }
    }
  }

  #arm (request: ElevationRequest): void {
    if (this.#deadlines.has(request.id)) return
    if (request.state === 'pending') {
      this.#deadlines.set(request.id, this.#clock.at(request.pendingUntil, () => this.#onDeadline(request.id)))
    } else if (isRunning(request)) {
      this.#deadlines.set(request.id, this.#clock.at(request.grant!.expiresAt, () => this.#onDeadline(request.id)))
    }
  }

  #onDeadline (id: string): void {
    this.#deadlines.delete(id)
    this.#exclusive(async () => {
      const request = this.#requests.get(id)
      if (request === undefined || this.#closed) return
      if (request.state === 'pending') await this.#expire(request)
      else if (isRunning(request)) await this.#end(request)
    }).catch((err: unknown) => this.#logger.error({ err, request: id }, 'an elevation deadline failed'))
  }

  /** A request to the API that could not be signed in (no token, a bad or expired one): refused by the caller either
   * way; recorded whole (`elevation.refused`) or counted into a summary, never one record per request of a flood. */
  async refuseSignIn (attempt: { detail: string, remote: string | null, method: string, path: string }): Promise<void> {
    await this.#signInRefusals.refuse({ code: 'PORTCULLIS_ELEVATION_UNAUTHENTICATED', peer: attempt.remote }, () => ({
      kind: 'elevation',
      user: null,
      action: 'elevation.refused',
      code: 'PORTCULLIS_ELEVATION_UNAUTHENTICATED',
      reason: `a request to the elevation API from ${attempt.remote ?? 'an unknown address'} was refused: ${attempt.detail}`,
      fields: { method: attempt.method, path: attempt.path.slice(0, 200), remote: attempt.remote, detail: attempt.detail.slice(0, 200) }
    }))
  }

  /** Refuses a user who made requestsPerHour requests in the last hour (withdrawn ones counted). The refusal is
   * recorded once a minute per user; the others are counted into a summary a minute (RefusalRecords), so a flood
   * of attempts is not a flood of records and none goes unrecorded. */
  async #checkRate (actor: Actor, limit: number, now: number): Promise<void> {
    const recent = this.#recentIn(actor.user, now)
    if (recent.length < limit) return
    const retryAfterSeconds = Math.max(1, Math.ceil((recent[recent.length - limit]! + HOUR_MS - now) / 1000))
    const authMethod: AuthMethod | null = actor.via === 'http' ? 'jwt' : null
    await this.#rateRefusals.refuse({ code: 'PORTCULLIS_ELEVATION_RATE_LIMITED', user: actor.user }, () => ({
      kind: 'elevation',
      user: actor.user,
      authMethod,
      tokenId: actor.tokenId ?? null,
      action: 'elevation.rate-limited',
      code: 'PORTCULLIS_ELEVATION_RATE_LIMITED',
      reason: `${actor.user} made ${recent.length} requests in the last hour (elevation.requestsPerHour ${limit}); refused for ${retryAfterSeconds} s`,
      fields: { limit, recent: recent.length, retryAfterSeconds, by: actor.user, ...(actor.via !== undefined ? { via: actor.via } : {}) }
    }))
    const error = new ElevationError('PORTCULLIS_ELEVATION_RATE_LIMITED', [String(recent.length), String(retryAfterSeconds)])
    error.retryAfterSeconds = retryAfterSeconds
    throw error
  }

  /** When `user` made requests in the hour before `now`, oldest first (older ones are dropped). */
  #recentIn (user: string, now: number): number[] {
    const times = this.#recentCreates.get(user)
    if (times === undefined) return []
    while (times.length > 0 && times[0]! <= now - HOUR_MS) times.shift()
    if (times.length === 0) this.#recentCreates.delete(user)
    return times
  }

  #noteCreate (user: string, at: number, now: number): void {
    if (at <= now - HOUR_MS) return
    const times = this.#recentIn(user, now)
    times.push(at)
    times.sort((a, b) => a - b)
    this.#recentCreates.set(user, times)
  }

  /** Forgets finished requests older than elevation.retention; the audit chain keeps what happened. */
  async #sweep (): Promise<void> {
    const cutoff = this.#clock.now() - this.#policy.current.requestLimits.retentionMs
    for (const request of [...this.#requests.values()]) {
      const finishedAt = finishedAtOf(request)
      if (finishedAt === null || finishedAt > cutoff) continue
      try {
        await this.#storage.remove(request.id)
      } catch (err) {
        this.#logger.error({ err, request: request.id }, 'could not remove a finished elevation request; it is tried again at the next sweep')
        continue
      }
      this.#requests.delete(request.id)
    }
  }

  #armSweep (): void {
    if (this.#closed) return
    this.#cancelSweep = this.#clock.at(this.#clock.now() + SWEEP_INTERVAL_MS, () => {
      this.#exclusive(async () => { if (!this.#closed) await this.#sweep() })
        .catch((err: unknown) => this.#logger.error({ err }, 'the elevation sweep failed'))
        .finally(() => this.#armSweep())
    })
  }

  #addGrant (grant: Grant): void {
    const grants = this.#grants.get(grant.user)
    if (grants === undefined) this.#grants.set(grant.user, [grant])
    else this.#grants.set(grant.user, [...grants, grant])
  }

  #removeGrant (request: ElevationRequest): void {
    const grants = this.#grants.get(request.user)
    if (grants === undefined) return
    const rest = grants.filter((g) => g.request !== request.id)
    if (rest.length === 0) this.#grants.delete(request.user)
    else if (rest.length !== grants.length) this.#grants.set(request.user, rest)
  }

  #exclusive<T> (step: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(step)
    this.#tail = run.catch(() => {})
    return run
  }
}

/** Approved, and its end not yet recorded. */
function isRunning (request: ElevationRequest): boolean {
  return request.state === 'approved' && request.grant !== undefined && request.endedAt === undefined
}

function optionalReason (reason: string | undefined): string | undefined {
  if (typeof reason !== 'string') return undefined
  const trimmed = reason.trim()
  if (trimmed.length > 1000) throw new ElevationError('PORTCULLIS_ELEVATION_BAD_INPUT', ['the reason is longer than 1000 characters'])
  return trimmed === '' ? undefined : trimmed
}

/** `2026-05-01T14:05:00Z`: second precision reads better in messages. */
function iso (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The record of rate-limit refusals counted rather than recorded one by one. */
function rateLimitedSummary (summary: RefusalSummary): AuditInput {
  return {
    kind: 'elevation',
    action: 'elevation.rate-limited.summary',
    code: 'PORTCULLIS_ELEVATION_RATE_LIMITED',
    reason: `${summary.refused} more elevation requests refused by elevation.requestsPerHour from ${summary.first} to ${summary.last}, ` +
      `counted rather than recorded one by one${summary.users.length > 0 ? `: ${Object.entries(summary.userCounts).map(([user, n]) => `${user} (${n})`).join(', ')}` : ''}${summary.unnamed > 0 ? ` and ${summary.unnamed} unnamed` : ''}`,
    fields: { ...summary }
  }
}

/** The record of sign-in refusals counted rather than recorded one by one. */
function signInRefusedSummary (summary: RefusalSummary): AuditInput {
  return {
    kind: 'elevation',
    action: 'elevation.refused.summary',
    code: 'PORTCULLIS_ELEVATION_UNAUTHENTICATED',
    reason: `${summary.refused} more requests to the elevation API refused for want of a valid token from ${summary.first} to ${summary.last}, ` +
      `counted rather than recorded one by one${summary.peers.length > 0 ? `: from ${Object.entries(summary.peerCounts).map(([peer, n]) => `${peer} (${n})`).join(', ')}` : ''}${summary.unnamed > 0 ? ` and ${summary.unnamed} from other addresses` : ''}`,
    fields: { ...summary }
  }
}
