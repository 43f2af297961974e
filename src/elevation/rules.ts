// What may be asked for and decided, by the policy's `elevation` settings: pure functions of the policy and the
// request, so the service only adds storage, timers and records around them.

import type { CompiledPolicy } from '../policy/compile.js'
import { durationMs, durationText } from '../core/duration.js'
import type { ElevationQueries, ElevationSettings } from '../policy/elevation.js'
import { ElevationError } from './errors.js'

/** The parts of a compiled policy the rules read. */
export type ElevationPolicy = ElevationQueries & Pick<CompiledPolicy, 'roles' | 'projects'>

/** A create input checked for shape, the TTL in milliseconds. */
export interface CheckedInput {
  project: string
  role: string
  ttlMs: number
  reason: string
}

export interface RequestPlan {
  heldRole: string | null
  steps: number
  settings: ElevationSettings
}

const MAX_NAME = 200
const MAX_REASON = 1000

/** The input's shape (not yet the policy's rules); throws PORTCULLIS_ELEVATION_BAD_INPUT saying what is wrong. */
export function checkInput (value: unknown): CheckedInput {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ElevationError('PORTCULLIS_ELEVATION_BAD_INPUT', ['send a JSON object {"project", "role", "ttl", "reason"}'])
  }
  const { project, role, ttl, reason } = value as Record<string, unknown>
  const name = (field: string, text: unknown): string => {
    if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_NAME) {
      throw new ElevationError('PORTCULLIS_ELEVATION_BAD_INPUT', [`"${field}" must be a name from the policy (--${field})`])
    }
    return text.trim()
  }
  let ttlMs = 0
  if (typeof ttl === 'number' && Number.isSafeInteger(ttl)) ttlMs = ttl * 1000
  else if (typeof ttl === 'string') ttlMs = durationMs(ttl.trim())
  if (!(ttlMs > 0)) {
    throw new ElevationError('PORTCULLIS_ELEVATION_BAD_INPUT', [`"ttl" must be how long the grant should last, like 30m or 2h (got ${JSON.stringify(ttl ?? null)})`])
  }
  if (typeof reason !== 'string' || reason.trim() === '') {
    throw new ElevationError('PORTCULLIS_ELEVATION_BAD_INPUT', ['"reason" must say why you need the role (--reason "…"): approvers and the audit trail read it'])
  }
  if (reason.length > MAX_REASON) throw new ElevationError('PORTCULLIS_ELEVATION_BAD_INPUT', [`"reason" is longer than ${MAX_REASON} characters`])
  return { project: name('project', project), role: name('role', role), ttlMs, reason: reason.trim() }
}

/**
 * Applies the policy to a request: the project and role exist, the role is above the one the user holds and
 * within `maxSteps` of it, the TTL is within `maxTtl`, and the user's clearance reaches the role's `minLevel`.
 * Throws the ElevationError that says which rule refused it and what the user may ask for instead.
 */
export function planRequest (policy: ElevationPolicy, user: string, input: CheckedInput): RequestPlan {
  const { project, role } = input
  if (!policy.roles.has(role)) {
    throw new ElevationError('PORTCULLIS_ELEVATION_UNKNOWN_ROLE', [JSON.stringify(role), [...policy.roles.keys()].join(', ')])
  }
  // Someone who holds no role in a project learns nothing about it from a refusal: not whether it exists, not
  // its approvers. (A request the policy takes from non-members still goes through.)
  const notMember = (): ElevationError => new ElevationError('PORTCULLIS_ELEVATION_UNKNOWN_PROJECT', [JSON.stringify(project), ownProjectsText(policy, user)])
  if (!policy.projects.has(project)) throw notMember()
  const heldRole = policy.heldRoleIn(user, project)
  const settings = policy.elevationFor(project, role)
  const steps = policy.stepsBetween(heldRole, role)
  if (heldRole !== null && (steps === 0 || policy.roles.get(heldRole)!.ancestors.has(role))) {
    throw new ElevationError('PORTCULLIS_ELEVATION_ALREADY_HELD', [heldRole, project, role])
  }
  if (heldRole === null && (!Number.isFinite(steps) || steps > settings.maxSteps)) throw notMember()
  if (!Number.isFinite(steps)) {
    throw new ElevationError('PORTCULLIS_ELEVATION_NOT_ABOVE', [role, heldRole ?? 'none', project, alternatives(policy, user, project, heldRole)])
  }
  if (steps > settings.maxSteps) {
    const from = heldRole === null ? 'no role at all' : `your role ${heldRole}`
    throw new ElevationError('PORTCULLIS_ELEVATION_TOO_FAR', [role, project, String(steps), from, plural(settings.maxSteps, 'step'), alternatives(policy, user, project, heldRole)])
  }
  if (input.ttlMs > settings.maxTtlMs) {
    throw new ElevationError('PORTCULLIS_ELEVATION_TTL_TOO_LONG', [role, project, durationText(settings.maxTtlMs), durationText(settings.maxTtlMs)])
  }
  const level = policy.levelOf(user)
  if (level < settings.minLevel) {
    throw new ElevationError('PORTCULLIS_ELEVATION_LEVEL_TOO_LOW', [role, project, String(settings.minLevel), user, String(level), user])
  }
  return { heldRole, steps, settings }
}

/** Roles a request from `heldRole` may reach in `project`, as a sentence for a refusal. */
function alternatives (policy: ElevationPolicy, user: string, project: string, heldRole: string | null): string {
  const level = policy.levelOf(user)
  const reachable = [...policy.roles.keys()].filter((name) => {
    const steps = policy.stepsBetween(heldRole, name)
    const settings = policy.elevationFor(project, name)
    return steps >= 1 && steps <= settings.maxSteps && level >= settings.minLevel
  })
  if (reachable.length > 0) return `You may ask for: ${reachable.join(', ')}.`
  const approvers = policy.approversOf(project)
  return `No role is within reach of a request; ask ${approvers.length > 0 ? approvers.join(', ') : 'a policy admin'} to change your membership in ${project}.`
}

/** The projects `user` is a member of, as a clause for a refusal: all they may be told about projects. */
function ownProjectsText (policy: ElevationPolicy, user: string): string {
  const own = [...policy.projects].filter(([, members]) => members.has(user)).map(([name]) => name)
  return own.length > 0 ? `your projects: ${own.join(', ')}` : 'you are a member of no project'
}

function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** Who may approve or deny a request in `project`, as a list for messages. */
export function approversText (policy: ElevationPolicy, project: string, except?: string): string {
  const approvers = policy.approversOf(project).filter((user) => user !== except)
  return approvers.length > 0 ? approvers.join(', ') : 'nobody yet: a policy admin must name one (elevation.approvers)'
}
