// Turns one AuthZReq/AuthZRes into a decision and a durable audit record, in that order, and only then
// answers. Anything that goes wrong on the way denies: the daemon must never get an allow we cannot stand by.

import type { Logger } from 'pino'
import { boundDecision, boundText, type Cut } from '../audit/bounded.js'
import type { AuditStore } from '../audit/store.js'
import { hasPortcullisCode } from '../errors.js'
import type { IdentityResolver } from '../identity/resolve.js'
import { denied, type Decision } from '../core/decision.js'
import { evaluateRequest, needsLookup, NO_RESOURCES, type EvaluationContext } from '../core/evaluate.js'
import type { Grant } from '../core/grant.js'
import type { PolicySource } from '../policy/source.js'
import type { OwnershipRegistry } from '../ownership/registry.js'
import { trackResponse } from '../ownership/track.js'
import { readRequest } from './read-request.js'
import { ResponseCorrelator } from './correlate.js'
import { createdExecId, ExecCreators, withExecCreator } from './exec-creators.js'
import type { AuthZRequest, AuthZResponse, Identity, RequestFacts, ResourceFacts, ResourceLookup } from '../core/types.js'
import { UnrecordedCallsLog } from './unrecorded-calls-log.js'

const ALLOW: AuthZResponse = Object.freeze({ Allow: true, Msg: '', Err: '' })

export interface AuthorizerOptions {
  pluginName: string
  /** The user's active elevation grants at `now` (epoch ms), from the request service; unset: no grant counts. */
  grantsFor?: (user: string, now: number) => readonly Grant[]
  /** Records who owns what an allowed create made, before the daemon may answer it (src/ownership). */
  owners?: OwnershipRegistry
  /** Whether the SSH bridge listens now; unset: as the policy's bridge.enabled says. */
  bridgeListening?: () => boolean
}

export class Authorizer {
  private readonly pending = new ResponseCorrelator()
  /** Calls denied because their record could not be written: logged at most every 10 s, with a count. */
  private readonly unrecorded: UnrecordedCallsLog
  /** Who created each exec, so that exec start and resize are judged on it. */
  readonly execCreators = new ExecCreators()

  constructor (
    private readonly policy: PolicySource,
    private readonly identities: IdentityResolver,
    private readonly resources: ResourceLookup,
    private readonly audit: AuditStore,
    private readonly logger: Logger,
    private readonly options: AuthorizerOptions
  ) {
    this.unrecorded = new UnrecordedCallsLog(logger)
  }

  async authorizeRequest (req: AuthZRequest): Promise<AuthZResponse> {
    const { decision, identity, facts, resources } = await this.judge(req)
    // portcullis's own look-up, made while it judges a caller's call: recorded, but without a durable write of its
    // own (it becomes durable with the decision that needed it, moments later) and without a response record.
    // Only while the store takes records: one it refuses (failed, or closing) would leave the look-up allowed and on
    // no record at all, so the look-up then waits for its append and is refused with it, like any call.
    const ownLookup = decision.allow && identity?.method === 'internal' && this.audit.failure === null && this.audit.closing !== true
    let seq: number
    try {
      const bounded = boundDecision(req.RequestUri ?? null, decision.reason, auditFields(facts, identity, decision, resources))
      const appended = this.audit.append({
        kind: 'decision',
        user: identity?.user ?? null,
        authMethod: identity?.method ?? null,
        tokenId: identity?.tokenId ?? null,
        action: decision.action,
        project: decision.project,
        role: decision.role,
        resource: describeTarget(facts, resources),
        method: req.RequestMethod ?? null,
        uri: bounded.uri,
        decision: decision.allow ? 'allow' : 'deny',
        reason: bounded.reason,
        code: decision.code,
        fields: bounded.fields
      }, ownLookup ? { lazy: true } : {})
      if (ownLookup) {
        appended.catch((err: unknown) => this.logger.error({ err, uri: req.RequestUri }, 'could not record one of portcullis\'s own look-ups'))
        return ALLOW
      }
      seq = (await appended).seq
    } catch (err) {
      this.unrecorded.denied(err)
      const code = hasPortcullisCode(err) ? err.code : 'PORTCULLIS_AUDIT_WRITE_FAILED'
      return { Allow: false, Msg: `portcullis could not record this call in its audit store, so it refuses it (fail closed, ${code}); it takes calls again by itself once the store can be written, and \`portcullis status\` shows why`, Err: '' }
    }
    if (decision.allow) this.pending.remember(req, seq)
    if (this.logger.isLevelEnabled('debug')) {
      this.logger.debug({ seq, user: identity?.user, action: decision.action, allow: decision.allow, reason: decision.reason }, 'decision')
    }
    return { Allow: decision.allow, Msg: decision.allow ? '' : decision.reason, Err: '' }
  }

  /**
   * A document that is not what the daemon sends still leaves a record: someone sent the plugin something. What of
   * it could be read (`partial`) names the caller and the call, so the record says who sent the garbage.
   */
  async refuseUnreadable (detail: string, partial: AuthZRequest | null = null): Promise<AuthZResponse> {
    const reason = `portcullis could not read the authorization request (${detail}); it refuses the call`
    let identity: Identity | undefined
    if (partial !== null) {
      try {
        const who = this.identities.resolve(partial)
        identity = who.ok ? who.identity : { user: null, method: who.method, tokenId: who.tokenId }
      } catch (err) {
        this.logger.warn({ err }, 'could not tell who sent an unreadable request')
      }
    }
    const cuts: Cut[] = []
    const fields: Record<string, unknown> = {}
    if (identity?.session !== undefined) fields.session = identity.session
    try {
      await this.audit.append({
        kind: 'decision',
        user: identity?.user ?? null,
        authMethod: identity?.method ?? null,
        tokenId: identity?.tokenId ?? null,
        method: typeof partial?.RequestMethod === 'string' ? boundText(partial.RequestMethod, 'method', cuts) : null,
        uri: typeof partial?.RequestUri === 'string' ? boundText(partial.RequestUri, 'uri', cuts) : null,
        decision: 'deny',
        reason: boundText(reason, 'reason', cuts),
        code: 'UNREADABLE_REQUEST',
        fields: cuts.length > 0 ? { ...fields, cut: cuts } : Object.keys(fields).length > 0 ? fields : null
      })
    } catch (err) {
      this.logger.error({ err }, 'could not record an unreadable request')
    }
    return { Allow: false, Msg: reason, Err: '' }
  }

  /**
   * The daemon's answer to an allowed call. Its record rides with the next batch instead of paying for an fsync
   * of its own: the decision it belongs to is already durable, and the daemon's response is waiting on us.
   */
  async authorizeResponse (req: AuthZRequest): Promise<AuthZResponse> {
    // The answer to one of portcullis's own look-ups: its request record says what was read; the reply is ours.
    if (this.identities.isOwnLookup(req)) return ALLOW
    const reqSeq = this.pending.take(req)
    if (this.options.owners !== undefined) {
      try {
        await trackResponse(this.options.owners, req, readRequest(req), this.logger)
      } catch (err) {
        // The object exists but belongs to no project: its creator loses it, nobody else gains it.
        this.logger.error({ err, uri: req.RequestUri }, 'could not record who owns a new object; it belongs to no project')
      }
    }
    this.rememberExecCreator(req)
    this.audit.append({
      kind: 'response',
      reqSeq,
      status: typeof req.ResponseStatusCode === 'number' ? req.ResponseStatusCode : null,
      method: req.RequestMethod ?? null,
      uri: req.RequestUri === undefined ? null : boundText(req.RequestUri, 'uri', []),
      user: req.User !== undefined && req.User !== '' ? req.User : null
    }, { lazy: true }).catch((err: unknown) => this.logger.error({ err, reqSeq }, 'could not record a response'))
    return ALLOW
  }

  /**
   * What the plugin would decide for `identity` sending `req`, without recording it. The SSH bridge asks before it
   * calls the daemon, so a refusal reaches the user as a clear message; the daemon's own call is then judged (and
   * recorded) again here, by the same function.
   */
  async preview (identity: Identity, req: AuthZRequest): Promise<{ decision: Decision, facts: RequestFacts, resources: ResourceFacts }> {
    const facts = readRequest(req)
    const resources = needsLookup(identity, facts) ? withExecCreator(await this.resources.resolve(facts, identity.user ?? ''), this.execCreators) : NO_RESOURCES
    return { decision: evaluateRequest(this.policy.current, { ok: true, identity }, facts, resources, this.contextOf(identity)), facts, resources }
  }

  /** A container's project as the policy sees it (the ownership registry); undefined when there is no registry. */
  containerProject (id: string): string | null | undefined {
    return this.options.owners === undefined ? undefined : this.options.owners.get('container', id)?.project ?? null
  }

  /** An exec create we allowed was answered 201: remember who made that exec ID (before the client can learn it). */
  private rememberExecCreator (req: AuthZRequest): void {
    const id = createdExecId(req.ResponseStatusCode, req.ResponseBody)
    if (id === null) return
    try {
      if (readRequest(req).action !== 'container.exec') return
      const who = this.identities.resolve(req)
      if (who.ok) this.execCreators.remember(id, who.identity)
    } catch (err) {
      this.logger.warn({ err, uri: req.RequestUri }, 'could not note an exec\'s creator; only unsafe roles may start it')
    }
  }

  /** Where the call is judged from: the plugin's name, whether the bridge listens, the caller's grants. */
  private contextOf (identity: Identity): EvaluationContext {
    const context: EvaluationContext = { pluginName: this.options.pluginName }
    if (this.options.bridgeListening !== undefined) context.bridgeListening = this.options.bridgeListening()
    if (identity.user !== null && this.options.grantsFor !== undefined) context.grants = this.options.grantsFor(identity.user, Date.now())
    return context
  }

  /** The pure part plus the look-ups it needs; never throws. */
  private async judge (req: AuthZRequest): Promise<{ decision: Decision, identity?: Identity, facts?: RequestFacts, resources?: ResourceFacts }> {
    let identity: Identity | undefined
    let facts: RequestFacts | undefined
    try {
      // Who is calling first: whatever goes wrong after this, the record names them.
      const who = this.identities.resolve(req)
      identity = who.ok ? who.identity : { user: null, method: who.method, tokenId: who.tokenId }
      facts = readRequest(req)
      const resources = who.ok && needsLookup(identity, facts) ? withExecCreator(await this.resources.resolve(facts, identity.user ?? ''), this.execCreators) : NO_RESOURCES
      return { decision: evaluateRequest(this.policy.current, who, facts, resources, this.contextOf(identity)), identity, facts, resources }
    } catch (err) {
      // A failed look-up is the daemon's state, which the Docker client logs once per change, not once per call.
      if (hasPortcullisCode(err) && err.code === 'PORTCULLIS_DOCKER_LOOKUP') this.logger.debug({ error: err.message, uri: req.RequestUri }, 'a look-up failed; denying')
      else this.logger.error({ err, uri: req.RequestUri }, 'failed while deciding; denying')
      const message = err instanceof Error ? err.message : String(err)
      return { decision: denied('INTERNAL_ERROR', `portcullis could not decide (${message}); it refuses the call`, { action: facts?.action }), identity, facts }
    }
  }
}

/**
 * The request's own audit fields, plus what the decision and the identity add (bridge session, grant, first role).
 * Added to the request's own field object (one per request): copying it per call cost more than the rest of the
 * record.
 */
function auditFields (facts: RequestFacts | undefined, identity: Identity | undefined, decision: Decision, resources: ResourceFacts | undefined): Record<string, unknown> | null {
  const extra: Record<string, unknown> = facts?.auditFields ?? {}
  if (resources?.target?.projectSource !== undefined) extra.projectSource = resources.target.projectSource
  // Exec start/resize: what the exec runs and who made it, as judged (the start call itself carries neither).
  const exec = resources?.target?.exec
  if (exec !== undefined) extra.exec = { cmd: exec.cmd, tty: exec.tty, stdin: exec.stdin, privileged: exec.privileged, user: exec.user, creator: exec.creator ?? null }
  if (identity?.session !== undefined) extra.session = identity.session
  if (decision.grant !== undefined) extra.grant = decision.grant
  if (decision.firstRole !== undefined) extra.firstRole = decision.firstRole
  if (decision.deniedBy !== undefined) extra.deniedBy = decision.deniedBy
  return facts !== undefined || Object.keys(extra).length > 0 ? extra : null
}

/** `container pay-1 (6bb21ffec17d…)`: the name the caller used, and what it turned out to be. */
function describeTarget (facts: RequestFacts | undefined, resources: ResourceFacts | undefined): string | null {
  const target = facts?.target
  if (target === undefined) return null
  const found = resources?.target
  const id = found?.containerId ?? found?.id
  const suffix = id !== undefined && id !== target.ref ? ` (${found?.containerId !== undefined ? 'container ' : ''}${id.slice(0, 12)})` : ''
  return `${target.kind} ${target.ref}${suffix}`
}
