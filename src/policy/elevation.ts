// Just-in-time elevation in the policy: the `elevation` settings (top level, per project, per role) and the
// questions the request service and the policy core ask of them: how long and how far a request may reach,
// who may approve it, and which role is the smallest one that would allow a refused call.

import type { CompiledRole } from '../core/policy-model.js'
import type { PolicyDocument, PolicyProblem, UserDocument } from './compile.js'
import { durationMs } from '../core/duration.js'
import { ELEVATION_DEFAULTS } from './schema.js'

export interface ElevationDocument {
  maxTtl?: string
  maxSteps?: number
  requestTtl?: string
  autoApprove?: boolean
  /** role name → clearance level it requires. */
  minLevel?: Record<string, number>
  webhook?: string
  approvers?: string[]
  /** Top level only: limits per user, and how long finished requests are kept. */
  requestsPerHour?: number
  maxPending?: number
  retention?: string
}

/** How many requests a user may make, and how long finished ones are kept: the top level's, for every project. */
interface RequestLimits {
  readonly requestsPerHour: number
  readonly maxPending: number
  readonly retentionMs: number
}

/** Per-role overrides: `minLevel` is this role's own level, not a map. */
export interface RoleElevationDocument {
  maxTtl?: string
  maxSteps?: number
  requestTtl?: string
  autoApprove?: boolean
  minLevel?: number
}

/** What applies to a request for one role in one project, every default filled in. */
export interface ElevationSettings {
  readonly maxTtlMs: number
  readonly maxSteps: number
  readonly requestTtlMs: number
  readonly autoApprove: boolean
  /** The clearance (users.<name>.level) a user needs to be granted the role. */
  readonly minLevel: number
  /** null: no webhook. */
  readonly webhook: string | null
}

/** The elevation part of a compiled policy. */
export interface ElevationQueries {
  /** The settings for `role` in `project`: the role's own override wins over the project's, which wins over the top level. */
  elevationFor (project: string | null, role: string): ElevationSettings
  /**
   * How many inheritance steps `requested` is above `held` (1: it inherits `held` directly). 0 when they are the
   * same role; Infinity when `requested` does not inherit `held` (or is unknown). `held` null (no role in the
   * project): the requested role's depth + 1, so a role that inherits nothing is 1 step away.
   */
  stepsBetween (held: string | null, requested: string): number
  /** The role a user holds in a project by the policy (the project's membership, else a global one); grants do not count. */
  heldRoleIn (user: string, project: string): string | null
  /** users.<name>.level, 0 when unset. */
  levelOf (user: string): number
  /** Roles whose members approve requests in `project`: `elevation.approvers`, by default the unsafe roles and those allowing `*`. */
  approverRolesOf (project: string): ReadonlySet<string>
  /** Users who may approve requests in `project`: its members holding an approver role, then global members holding one or an unsafe role. */
  approversOf (project: string): readonly string[]
  mayApprove (user: string, project: string): boolean
  /**
   * The smallest role that passes `allowsCall`, looked at in this order: roles a request from `held` could reach
   * first, roles that are not unsafe first, fewer roles in the inheritance closure first, then by name.
   */
  firstRoleFor (held: string | null, allowsCall: (role: CompiledRole) => boolean): CompiledRole | null
  readonly requestLimits: RequestLimits
}

/** A role's minLevel where no elevation.minLevel names it (the schema's "Unset: 0"). */
const UNSET_MIN_LEVEL = 0

const DURATION_FIELDS = ['maxTtl', 'requestTtl'] as const

/** Checks the schema cannot express: durations longer than 0, role names that exist, http(s) webhooks. */
export function checkElevation (document: PolicyDocument, problems: PolicyProblem[]): void {
  const known = new Set(Object.keys(document.roles))
  const hint = `roles are: ${[...known].join(', ')}`
  const checkSettings = (settings: ElevationDocument | undefined, path: string): void => {
    if (settings === undefined) return
    for (const key of DURATION_FIELDS) {
      if (settings[key] !== undefined && durationMs(settings[key]) <= 0) problems.push({ path: `${path}.${key}`, message: 'must be longer than 0' })
    }
    for (const role of Object.keys(settings.minLevel ?? {})) {
      if (!known.has(role)) problems.push({ path: `${path}.minLevel.${role}`, message: `unknown role "${role}" (${hint})` })
    }
    settings.approvers?.forEach((role, i) => {
      if (!known.has(role)) problems.push({ path: `${path}.approvers[${i}]`, message: `unknown role "${role}" (${hint})` })
    })
    if (settings.webhook !== undefined && !isHttpUrl(settings.webhook)) {
      problems.push({ path: `${path}.webhook`, message: 'must be an http:// or https:// URL' })
    }
  }
  checkSettings(document.elevation, '$.elevation')
  if (document.elevation?.retention !== undefined && durationMs(document.elevation.retention) <= 0) problems.push({ path: '$.elevation.retention', message: 'must be longer than 0' })
  for (const [project, { elevation }] of Object.entries(document.projects)) checkSettings(elevation, `$.projects.${project}.elevation`)
  for (const [name, { elevation }] of Object.entries(document.roles)) {
    for (const key of DURATION_FIELDS) {
      if (elevation?.[key] !== undefined && durationMs(elevation[key]) <= 0) problems.push({ path: `$.roles.${name}.elevation.${key}`, message: 'must be longer than 0' })
    }
  }
}

/** Whether `text` is an http:// or https:// URL: the only webhooks portcullis calls. */
export function isHttpUrl (text: string): boolean {
  try {
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

/** Own keys only: role and project names such as `constructor` must not find Object.prototype. */
function own<T> (record: Record<string, T> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined
}

export function compileElevation (
  document: PolicyDocument,
  roles: ReadonlyMap<string, CompiledRole>,
  projects: ReadonlyMap<string, ReadonlyMap<string, CompiledRole>>,
  global: ReadonlyMap<string, CompiledRole>,
  users: Readonly<Record<string, UserDocument>>
): ElevationQueries {
  const top = document.elevation ?? {}
  const projectSettings = (project: string | null): ElevationDocument => (project === null ? undefined : own(document.projects, project)?.elevation) ?? {}

  const elevationFor = (project: string | null, role: string): ElevationSettings => {
    const inProject = projectSettings(project)
    const ofRole = own(document.roles, role)?.elevation ?? {}
    return Object.freeze({
      maxTtlMs: durationMs(ofRole.maxTtl ?? inProject.maxTtl ?? top.maxTtl ?? ELEVATION_DEFAULTS.maxTtl),
      maxSteps: ofRole.maxSteps ?? inProject.maxSteps ?? top.maxSteps ?? ELEVATION_DEFAULTS.maxSteps,
      requestTtlMs: durationMs(ofRole.requestTtl ?? inProject.requestTtl ?? top.requestTtl ?? ELEVATION_DEFAULTS.requestTtl),
      autoApprove: ofRole.autoApprove ?? inProject.autoApprove ?? top.autoApprove ?? ELEVATION_DEFAULTS.autoApprove,
      minLevel: ofRole.minLevel ?? own(inProject.minLevel, role) ?? own(top.minLevel, role) ?? UNSET_MIN_LEVEL,
      webhook: inProject.webhook ?? top.webhook ?? null
    })
  }

  // Shortest walk down the `inherits` edges from `from` until `reached` says stop; Infinity when it never does.
  const stepsDown = (from: string, reached: (role: CompiledRole) => boolean): number => {
    let frontier = [roles.get(from)!]
    const seen = new Set([from])
    for (let steps = 0; frontier.length > 0; steps++) {
      if (frontier.some(reached)) return steps
      const next: CompiledRole[] = []
      for (const role of frontier) {
        for (const parent of role.parents) {
          if (!seen.has(parent)) {
            seen.add(parent)
            next.push(roles.get(parent)!)
          }
        }
      }
      frontier = next
    }
    return Infinity
  }

  const stepsBetween = (held: string | null, requested: string): number => {
    const role = roles.get(requested)
    if (role === undefined) return Infinity
    if (held === null) return stepsDown(requested, (r) => r.parents.length === 0) + 1
    if (held === requested) return 0
    if (!role.ancestors.has(held)) return Infinity
    return stepsDown(requested, (r) => r.name === held)
  }

  const approverRolesOf = (project: string): ReadonlySet<string> => {
    const named = projectSettings(project).approvers ?? top.approvers
    if (named !== undefined) return new Set(named)
    return new Set([...roles.values()].filter((r) => r.unsafe || r.allow.patterns.includes('*')).map((r) => r.name))
  }

  const approversCache = new Map<string, readonly string[]>()
  const approversOf = (project: string): readonly string[] => {
    let found = approversCache.get(project)
    if (found === undefined) {
      const approverRoles = approverRolesOf(project)
      const users = new Set<string>()
      for (const [user, role] of projects.get(project) ?? []) if (approverRoles.has(role.name)) users.add(user)
      // A global membership holds in every project, so a global approver (or unsafe) role approves everywhere.
      for (const [user, role] of global) if (role.unsafe || approverRoles.has(role.name)) users.add(user)
      found = Object.freeze([...users])
      approversCache.set(project, found)
    }
    return found
  }

  const orderCache = new Map<string | null, readonly CompiledRole[]>()
  const elevationOrder = (held: string | null): readonly CompiledRole[] => {
    let order = orderCache.get(held)
    if (order === undefined) {
      // Not the plain closure size alone: a role such as `admin: allow *` inherits nothing, yet it is not smaller
      // than `operator`. Reachable from the held role, then not unsafe, is what "smallest" means to a requester.
      const key = (role: CompiledRole): [number, number, number] =>
        [Number.isFinite(stepsBetween(held, role.name)) ? 0 : 1, role.unsafe ? 1 : 0, role.ancestors.size]
      order = [...roles.values()].sort((a, b) => {
        const ka = key(a)
        const kb = key(b)
        return ka[0] - kb[0] || ka[1] - kb[1] || ka[2] - kb[2] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
      })
      orderCache.set(held, order)
    }
    return order
  }

  return {
    elevationFor,
    stepsBetween,
    heldRoleIn: (user, project) => projects.get(project)?.get(user)?.name ?? global.get(user)?.name ?? null,
    levelOf: (user) => own(users, user)?.level ?? 0,
    approverRolesOf,
    approversOf,
    mayApprove: (user, project) => approversOf(project).includes(user),
    firstRoleFor: (held, allowsCall) => elevationOrder(held).find(allowsCall) ?? null,
    requestLimits: Object.freeze({
      requestsPerHour: top.requestsPerHour ?? ELEVATION_DEFAULTS.requestsPerHour,
      maxPending: top.maxPending ?? ELEVATION_DEFAULTS.maxPending,
      retentionMs: durationMs(top.retention ?? ELEVATION_DEFAULTS.retention)
    })
  }
}
