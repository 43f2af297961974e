// One way from a request to a decision, for the plugin socket, the SSH bridge's preview and `portcullis check`:
// who is calling (or why their credential is refused), the facts read from the request (a problem reading it is a
// fact too) and what the look-ups found, judged against the policy. Pure: the callers do the reading and look-ups.

import { decide, TOKEN_HINT, type DecideOptions } from './decide.js'
import { denied, type Decision } from './decision.js'
import type { Grant } from './grant.js'
import type { PolicyView } from './policy-model.js'
import type { Identity, IdentityVerdict, RequestFacts, ResourceFacts } from './types.js'
import { wireRefusal } from './wire-refusal.js'

/** Where the call is judged from; the same for every caller of evaluateRequest. */
export interface EvaluationContext {
  /** The name portcullis runs under as a plugin; managing it needs an unsafe role. */
  pluginName: string
  /** The docker API (default), or an SSH bridge session. */
  channel?: 'docker' | 'bridge'
  /** Whether the SSH bridge listens now; unset: as the policy's bridge.enabled says. */
  bridgeListening?: boolean
  /** The caller's active elevation grants. */
  grants?: readonly Grant[]
}

/** What a call that needs no look-up is judged with. */
export const NO_RESOURCES: ResourceFacts = Object.freeze({ references: Object.freeze([]) as unknown as [] })

export function evaluateRequest (policy: PolicyView, caller: IdentityVerdict, facts: RequestFacts, resources: ResourceFacts, context: EvaluationContext): Decision {
  if (!caller.ok) {
    if (facts.wire !== undefined) return wireRefusal(facts)
    const hint = caller.method === 'jwt' ? ` ${TOKEN_HINT}` : ''
    return denied('BAD_TOKEN', `${caller.reason}.${hint}`, { action: facts.action })
  }
  const bridge = policy.bridge
  const options: DecideOptions = {
    pluginName: context.pluginName,
    channel: context.channel ?? 'docker',
    bridgePort: bridge.port,
    bridgeOff: !(context.bridgeListening ?? bridge.enabled)
  }
  if (bridge.hostname !== null) options.bridgeHost = bridge.hostname
  if (context.grants !== undefined) options.grants = context.grants
  return decide(policy, caller.identity, facts, resources, options)
}

/**
 * Whether the objects the request names are to be looked up before it is judged. Internal, bridge-housekeeping and
 * anonymous callers are judged without: internal ones must never trigger another look-up (a loop through the
 * daemon), the bridge's housekeeping is judged on the exec ID alone, anonymous ones have nothing to look up for.
 * Nor is a request that is refused whatever it names (no route, a body or wire problem).
 */
export function needsLookup (identity: Identity, facts: RequestFacts): boolean {
  return identity.method !== 'internal' && identity.method !== 'bridge-housekeeping' && identity.user !== null &&
    facts.action !== null && facts.bodyProblem === undefined && facts.wire === undefined
}
