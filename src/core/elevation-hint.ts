// What a refused user can do next: the smallest role that would allow the call, and either the exact
// `portcullis request create` command or why a request for it would be refused and whom to ask instead.

import type { PolicyView, CompiledRole } from './policy-model.js'
import type { Decision } from './decision.js'
import { durationText } from './duration.js'

/** Approvers named in a hint, at most: the rest are "…". */
const NAMED_APPROVERS = 5

/** `decision` with `firstRole` set and the hint appended to its reason; unchanged when no role would allow the call. */
export function offerElevation (policy: PolicyView, decision: Decision, user: string, project: string,
  allowsCall: (role: CompiledRole) => boolean): Decision {
  const held = policy.heldRoleIn(user, project)
  const first = policy.firstRoleFor(held, allowsCall)
  if (first === null) return decision
  return { ...decision, reason: decision.reason + elevationHint(policy, user, project, held, first.name), firstRole: first.name }
}

function elevationHint (policy: PolicyView, user: string, project: string, held: string | null, role: string): string {
  const settings = policy.elevationFor(project, role)
  const steps = policy.stepsBetween(held, role)
  const level = policy.levelOf(user)
  const named = `; the smallest role that allows it is ${role}`
  const ask = `: ask ${whomToAsk(policy, user, project, held)}`

  if (settings.maxSteps === 0) return `${named}, which cannot be requested in ${project}${ask}`
  if (!Number.isFinite(steps)) return `${named}, which does not build on your role ${held ?? 'none'}, so it cannot be requested${ask}`
  if (steps > settings.maxSteps) {
    const from = held === null ? 'for a non-member' : `above your role ${held}`
    return `${named}, ${steps} steps ${from}; requests reach ${plural(settings.maxSteps, 'step')}${ask}`
  }
  if (level < settings.minLevel) return `${named}, which needs clearance level ${settings.minLevel} (yours is ${level})${ask}`
  return `${named}; to ask for it: portcullis request create --project ${project} --role ${role} --ttl ${durationText(settings.maxTtlMs)} --reason "<why>"`
}

/** Whom to ask: the project's approvers by name for its members; someone who holds no role there is not told who
 * they are. */
function whomToAsk (policy: PolicyView, user: string, project: string, held: string | null): string {
  if (held === null) return `an approver of ${project} (its members know who)`
  const approvers = policy.approversOf(project).filter((u) => u !== user)
  if (approvers.length === 0) return `a ${project} admin`
  const shown = approvers.slice(0, NAMED_APPROVERS).join(', ') + (approvers.length > NAMED_APPROVERS ? ', …' : '')
  return `a ${project} approver (${shown})`
}

function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}
