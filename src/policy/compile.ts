// Validates a policy document (schema, then references) and compiles it into the frozen shape the policy core
// reads. Every problem is reported with the JSON path it is at, all at once.

import { createHash } from 'node:crypto'
import AjvModule from 'ajv'
import { POLICY_SCHEMA } from './schema.js'
import { GlobSet } from './glob.js'
import { durationMs } from './duration.js'
import { compileImageRules, type ImageRules, type ImagesDocument } from '../images/rules.js'
import { checkElevation, compileElevation, type ElevationDocument, type ElevationQueries, type RoleElevationDocument } from './elevation.js'
import { checkProjectGrants, type ProjectGrantsDocument } from './project-grants.js'
import { maxStartupsProblem, parseMaxStartups, parseNetBlockSize, type StartupLimits } from '../bridge/startup-limits.js'
import { checkSshKeys } from './ssh-keys.js'
import { checkTokens, compileTokens, type TokenPolicy, type TokensDocument } from './tokens.js'

// ajv ships CommonJS with a default export; under NodeNext the class sits on `.default`.
const Ajv = AjvModule.default ?? AjvModule

export type Interactive = 'allow' | 'deny' | 'bridge-only'
export type CommandStrings = 'allow' | 'deny' | 'bridge-only'

export interface PolicyDocument {
  version?: number
  anonymous?: { allow?: string[] }
  roles: Record<string, RoleDocument>
  projects: Record<string, { description?: string, members: Record<string, string>, elevation?: ElevationDocument, grants?: ProjectGrantsDocument, images?: string[] }>
  images?: ImagesDocument
  global?: { members?: Record<string, string> }
  users?: Record<string, UserDocument>
  bridge?: BridgeDocument
  audit?: AuditDocument
  elevation?: ElevationDocument
  tokens?: TokensDocument
}

export interface AuditDocument {
  checkpointInterval?: string
  retention?: string
}

/** The audit settings with defaults filled in and durations in milliseconds. */
export interface AuditSettings {
  readonly checkpointIntervalMs: number
  /** null: records are kept forever. */
  readonly retentionMs: number | null
}

export interface BridgeDocument {
  enabled?: boolean
  required?: boolean
  listen?: string
  shell?: string[]
  env?: string[]
  idleTimeout?: string
  maxSession?: string
  hostname?: string
  loginGraceTime?: string
  maxStartups?: string
  perSourceMaxStartups?: number
  perSourceNetBlockSize?: string
}

/** The SSH bridge settings with every default filled in and durations in milliseconds. */
export interface BridgeSettings {
  readonly enabled: boolean
  /** A bridge that cannot start stops `serve` (true) or is left out (false). */
  readonly required: boolean
  readonly host: string
  readonly port: number
  readonly shell: readonly string[]
  readonly env: GlobSet
  readonly idleTimeoutMs: number
  readonly maxSessionMs: number
  readonly hostname: string | null
  /** A connection must log in within this long of being accepted. */
  readonly loginGraceMs: number
  /** Bounds on connections not yet logged in (src/bridge/startup-limits.ts). */
  readonly startups: StartupLimits
}

export interface RoleDocument {
  description?: string
  inherits?: string | string[]
  allow?: string[]
  deny?: string[]
  unsafe?: boolean
  exec?: { interactive?: Interactive, allowCommands?: string[], denyCommands?: string[], commandStrings?: CommandStrings }
  elevation?: RoleElevationDocument
}

export interface UserDocument {
  description?: string
  email?: string
  level?: number
  sshKeys?: string[]
}

export interface CompiledRole {
  readonly name: string
  readonly unsafe: boolean
  /** Roles this one inherits from directly. */
  readonly parents: readonly string[]
  /** Roles this one inherits from, directly or not. */
  readonly ancestors: ReadonlySet<string>
  readonly allow: GlobSet
  readonly deny: GlobSet
  readonly interactive: Interactive
  /** null: any command. */
  readonly allowCommands: GlobSet | null
  readonly denyCommands: GlobSet
  /** Command text (`sh -c`, `python -c`, stdin shells): see policy/command-text.ts. */
  readonly commandStrings: CommandStrings
  allows (action: string): boolean
}

/** Where a user holds a role: a project, or `null` for a global membership. */
export interface Membership {
  readonly project: string | null
  readonly role: CompiledRole
}

export interface CompiledPolicy extends ElevationQueries {
  readonly document: PolicyDocument
  /** sha256 of the canonical document, recorded in the audit trail on every load. */
  readonly digest: string
  readonly roles: ReadonlyMap<string, CompiledRole>
  readonly projects: ReadonlyMap<string, ReadonlyMap<string, CompiledRole>>
  readonly global: ReadonlyMap<string, CompiledRole>
  readonly anonymous: GlobSet
  readonly users: Readonly<Record<string, UserDocument>>
  readonly bridge: BridgeSettings
  readonly audit: AuditSettings
  /** How long tokens may be valid (src/policy/tokens.ts). */
  readonly tokens: TokenPolicy
  /** Image repositories by project and the registry allowlist (src/images/rules.ts). */
  readonly images: ImageRules
  /** Every membership a user holds, project ones first. */
  membershipsOf (user: string): readonly Membership[]
}

export interface PolicyProblem {
  path: string
  message: string
}

export class PolicyValidationError extends Error {
  readonly problems: PolicyProblem[]
  constructor (problems: PolicyProblem[]) {
    super(problems.map((p) => `  ${p.path}: ${p.message}`).join('\n'))
    this.name = 'PolicyValidationError'
    this.problems = problems
  }
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false })
const validateSchema = ajv.compile(POLICY_SCHEMA)

/**
 * Validate and compile. `knownActions`, when given, makes a pattern that matches no known action an error
 * (a typo such as `contaner.*` would otherwise silently grant nothing).
 */
export function compilePolicy (input: unknown, knownActions?: readonly string[]): CompiledPolicy {
  const document = structuredClone(input) as PolicyDocument
  if (!validateSchema(document)) {
    throw new PolicyValidationError((validateSchema.errors ?? []).map(schemaProblem))
  }

  const problems: PolicyProblem[] = []
  checkReferences(document, problems)
  checkBridge(document.bridge, problems)
  checkAudit(document.audit, problems)
  checkTokens(document.tokens, problems)
  checkElevation(document, problems)
  checkProjectGrants(document.projects, problems)
  checkSshKeys(document.users, problems)
  if (knownActions !== undefined) checkPatterns(document, knownActions, problems)
  if (problems.length > 0) throw new PolicyValidationError(problems)

  const roles = new Map<string, CompiledRole>()
  for (const name of Object.keys(document.roles)) roles.set(name, compileRole(document, name))

  const projects = new Map<string, Map<string, CompiledRole>>()
  for (const [project, { members }] of Object.entries(document.projects)) {
    projects.set(project, new Map(Object.entries(members).map(([user, role]) => [user, roles.get(role)!])))
  }
  const global = new Map(Object.entries(document.global?.members ?? {}).map(([user, role]) => [user, roles.get(role)!]))

  const membershipCache = new Map<string, Membership[]>()
  const membershipsOf = (user: string): Membership[] => {
    let found = membershipCache.get(user)
    if (found === undefined) {
      found = []
      for (const [project, members] of projects) {
        const role = members.get(user)
        if (role !== undefined) found.push({ project, role })
      }
      const globalRole = global.get(user)
      if (globalRole !== undefined) found.push({ project: null, role: globalRole })
      membershipCache.set(user, found)
    }
    return found
  }

  const users = document.users ?? {}
  return Object.freeze({
    document,
    digest: createHash('sha256').update(JSON.stringify(document)).digest('hex'),
    roles,
    projects,
    global,
    anonymous: new GlobSet(document.anonymous?.allow ?? []),
    users,
    bridge: compileBridge(document.bridge ?? {}),
    audit: compileAudit(document.audit ?? {}),
    tokens: compileTokens(document.tokens),
    images: compileImageRules(document.projects, document.images),
    membershipsOf,
    ...compileElevation(document, roles, projects, global, users)
  })
}

function schemaProblem (error: { instancePath: string, message?: string, params: Record<string, unknown>, keyword: string }): PolicyProblem {
  let message = error.message ?? 'is invalid'
  if (error.keyword === 'additionalProperties') message = `unknown field "${String(error.params.additionalProperty)}"`
  if (error.keyword === 'enum') message = `must be one of ${JSON.stringify(error.params.allowedValues)}`
  return { path: jsonPath(error.instancePath), message }
}

/** `/roles/dev/allow/0` → `$.roles.dev.allow[0]` */
function jsonPath (pointer: string): string {
  if (pointer === '') return '$'
  return '$' + pointer.split('/').slice(1).map((raw) => {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (/^\d+$/.test(part)) return `[${part}]`
    return /^[A-Za-z_$][\w$]*$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`
  }).join('')
}

function inheritsOf (role: RoleDocument): string[] {
  if (role.inherits === undefined) return []
  return typeof role.inherits === 'string' ? [role.inherits] : role.inherits
}

function checkReferences (document: PolicyDocument, problems: PolicyProblem[]): void {
  const roleNames = Object.keys(document.roles)
  const known = new Set(roleNames)
  const hint = `roles are: ${roleNames.join(', ')}`

  for (const [name, role] of Object.entries(document.roles)) {
    inheritsOf(role).forEach((parent, i) => {
      if (!known.has(parent)) {
        const path = typeof role.inherits === 'string' ? `$.roles.${name}.inherits` : `$.roles.${name}.inherits[${i}]`
        problems.push({ path, message: `inherits unknown role "${parent}" (${hint})` })
      }
    })
  }

  // Cycles: walk each role's ancestry; meeting the role itself again is a cycle.
  for (const name of roleNames) {
    const seen = new Set<string>()
    const stack = [...inheritsOf(document.roles[name]!)]
    while (stack.length > 0) {
      const next = stack.pop()!
      if (next === name) {
        problems.push({ path: `$.roles.${name}.inherits`, message: `inheritance cycle back to "${name}"` })
        break
      }
      if (seen.has(next) || !known.has(next)) continue
      seen.add(next)
      stack.push(...inheritsOf(document.roles[next]!))
    }
  }

  for (const [project, { members }] of Object.entries(document.projects)) {
    for (const [user, role] of Object.entries(members)) {
      if (!known.has(role)) problems.push({ path: `$.projects.${project}.members.${user}`, message: `unknown role "${role}" (${hint})` })
    }
  }
  for (const [user, role] of Object.entries(document.global?.members ?? {})) {
    if (!known.has(role)) problems.push({ path: `$.global.members.${user}`, message: `unknown role "${role}" (${hint})` })
  }
}

function checkPatterns (document: PolicyDocument, knownActions: readonly string[], problems: PolicyProblem[]): void {
  const check = (patterns: string[] | undefined, path: string): void => {
    patterns?.forEach((pattern, i) => {
      const set = new GlobSet([pattern])
      if (!knownActions.some((action) => set.matches(action))) {
        problems.push({ path: `${path}[${i}]`, message: `"${pattern}" matches no action (see the action table in the README)` })
      }
    })
  }
  check(document.anonymous?.allow, '$.anonymous.allow')
  for (const [name, role] of Object.entries(document.roles)) {
    check(role.allow, `$.roles.${name}.allow`)
    check(role.deny, `$.roles.${name}.deny`)
  }
}

function compileRole (document: PolicyDocument, name: string): CompiledRole {
  // Breadth-first ancestry, nearest first, so exec settings come from the closest role that sets them.
  const order: string[] = []
  const queue = [...inheritsOf(document.roles[name]!)]
  while (queue.length > 0) {
    const next = queue.shift()!
    if (order.includes(next)) continue
    order.push(next)
    queue.push(...inheritsOf(document.roles[next]!))
  }
  const lineage = [name, ...order].map((n) => document.roles[n]!)
  const own = lineage[0]!

  const allow = new GlobSet(lineage.flatMap((r) => r.allow ?? []))
  const deny = new GlobSet(lineage.flatMap((r) => r.deny ?? []))
  const interactive = lineage.find((r) => r.exec?.interactive !== undefined)?.exec?.interactive ?? 'allow'
  const allowCommandsList = lineage.find((r) => r.exec?.allowCommands !== undefined)?.exec?.allowCommands
  const denyCommandsList = lineage.flatMap((r) => r.exec?.denyCommands ?? [])
  const commandStrings = commandStringsOf(lineage, allowCommandsList !== undefined || denyCommandsList.length > 0)
  const cache = new Map<string, boolean>()

  return Object.freeze({
    name,
    unsafe: own.unsafe === true,
    parents: Object.freeze([...inheritsOf(own)]),
    ancestors: new Set(order),
    allow,
    deny,
    interactive,
    allowCommands: allowCommandsList === undefined ? null : new GlobSet(allowCommandsList),
    denyCommands: new GlobSet(denyCommandsList),
    commandStrings,
    allows (action: string): boolean {
      let verdict = cache.get(action)
      if (verdict === undefined) {
        verdict = allow.matches(action) && !deny.matches(action)
        if (cache.size < 4096) cache.set(action, verdict)
      }
      return verdict
    }
  })
}

/** The nearest role that sets `exec.commandStrings`; unset: `bridge-only` where command rules exist, else `allow`. */
function commandStringsOf (lineage: readonly RoleDocument[], hasCommandRules: boolean): CommandStrings {
  const set = lineage.find((r) => r.exec?.commandStrings !== undefined)?.exec?.commandStrings
  return set ?? (hasCommandRules ? 'bridge-only' : 'allow')
}

function checkBridge (bridge: BridgeDocument | undefined, problems: PolicyProblem[]): void {
  if (bridge === undefined) return
  if (bridge.listen !== undefined) {
    const port = Number(bridge.listen.slice(bridge.listen.lastIndexOf(':') + 1))
    if (port < 1 || port > 65535) problems.push({ path: '$.bridge.listen', message: `port ${port} is not between 1 and 65535` })
  }
  for (const key of ['idleTimeout', 'maxSession', 'loginGraceTime'] as const) {
    if (bridge[key] !== undefined && durationMs(bridge[key]) <= 0) problems.push({ path: `$.bridge.${key}`, message: 'must be longer than 0' })
  }
  const startups = bridge.maxStartups === undefined ? null : maxStartupsProblem(bridge.maxStartups)
  if (startups !== null) problems.push({ path: '$.bridge.maxStartups', message: startups })
  if (bridge.perSourceNetBlockSize !== undefined && parseNetBlockSize(bridge.perSourceNetBlockSize) === null) {
    problems.push({ path: '$.bridge.perSourceNetBlockSize', message: 'must be "v4bits:v6bits" with at most 32 and 128 bits, e.g. "32:64"' })
  }
}

function compileBridge (bridge: BridgeDocument): BridgeSettings {
  const listen = bridge.listen ?? '127.0.0.1:2222'
  const colon = listen.lastIndexOf(':')
  return Object.freeze({
    enabled: bridge.enabled === true,
    required: bridge.required !== false,
    host: listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
    port: Number(listen.slice(colon + 1)),
    shell: Object.freeze([...(bridge.shell ?? ['/bin/sh'])]),
    env: new GlobSet(bridge.env ?? ['LANG', 'LC_*', 'TERM', 'TZ', 'COLORTERM']),
    idleTimeoutMs: durationMs(bridge.idleTimeout ?? '15m'),
    maxSessionMs: durationMs(bridge.maxSession ?? '8h'),
    hostname: bridge.hostname ?? null,
    loginGraceMs: durationMs(bridge.loginGraceTime ?? '30s'),
    startups: Object.freeze({
      maxStartups: Object.freeze(parseMaxStartups(bridge.maxStartups ?? '20:30:100')!),
      perSource: bridge.perSourceMaxStartups ?? 10,
      netBlock: Object.freeze(parseNetBlockSize(bridge.perSourceNetBlockSize ?? '32:64')!)
    })
  })
}

function checkAudit (audit: AuditDocument | undefined, problems: PolicyProblem[]): void {
  for (const key of ['checkpointInterval', 'retention'] as const) {
    if (audit?.[key] !== undefined && durationMs(audit[key]) <= 0) problems.push({ path: `$.audit.${key}`, message: 'must be longer than 0' })
  }
}

function compileAudit (audit: AuditDocument): AuditSettings {
  return Object.freeze({
    checkpointIntervalMs: durationMs(audit.checkpointInterval ?? '5m'),
    retentionMs: audit.retention !== undefined ? durationMs(audit.retention) : null
  })
}
