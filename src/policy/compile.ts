// Validates a policy document (schema, then references) and compiles it into the frozen shape the policy core
// reads. Every problem is reported with the JSON path it is at, all at once.

import { createHash } from 'node:crypto'
import AjvModule from 'ajv'
import { AUDIT_DEFAULTS, BRIDGE_DEFAULTS, POLICY_SCHEMA } from './schema.js'
import type { CommandStrings, CompiledRole, DenySource, Interactive, Membership } from '../core/policy-model.js'
import { GlobSet } from '../core/glob.js'
import { didYouMean } from './did-you-mean.js'
import { durationMs } from '../core/duration.js'
import { compileImageRules, type ImageRules, type ImagesDocument } from '../core/image-rules.js'
import { checkElevation, compileElevation, type ElevationDocument, type ElevationQueries, type RoleElevationDocument } from './elevation.js'
import { checkProjectGrants, type ProjectGrantsDocument } from '../core/project-grants.js'
import { maxStartupsProblem, parseMaxStartups, parseNetBlockSize, type StartupLimits } from './startup-limits.js'
import { checkSshKeys } from './ssh-keys.js'
import { RESERVED_USERS } from '../core/reserved-users.js'
import { checkTokens, compileTokens, type TokenPolicy, type TokensDocument } from './tokens.js'
import { checkOutputs, compileOutputs, type OutputSettings, type OutputsDocument } from './outputs.js'
import { checkAlerts, compileAlerts, type AlertSettings, type AlertsDocument } from './alerts.js'

// ajv ships CommonJS with a default export; under NodeNext the class sits on `.default`.
const Ajv = AjvModule.default ?? AjvModule

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
  outputs?: OutputsDocument
  alerts?: AlertsDocument
}

interface AuditDocument {
  checkpointInterval?: string
  checkpointRecords?: number
  retention?: string
  verifyInterval?: string
  auditors?: string[]
}

/** The audit settings with defaults filled in and durations in milliseconds. */
export interface AuditSettings {
  readonly checkpointIntervalMs: number
  /** Sign sooner than the interval once this many records came in since the last checkpoint. */
  readonly checkpointRecords: number
  /** null: records are kept forever. */
  readonly retentionMs: number | null
  /** How often serve verifies its trail from the newest good checkpoint to the head. */
  readonly verifyIntervalMs: number
  /** Users who may read the audit trail with their token (audit.auditors); compiled policies always have it. */
  readonly auditors?: ReadonlySet<string>
}

interface BridgeDocument {
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
  maxConnectionsPerUser?: number
  maxSessionsPerConnection?: number
}

/** The SSH bridge settings with every default filled in and durations in milliseconds. */
interface BridgeSettings {
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
  /** Logged-in connections per user, and session channels per connection. */
  readonly maxConnectionsPerUser: number
  readonly maxSessionsPerConnection: number
}

interface RoleDocument {
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
  /** Copies of the records for a SIEM (src/policy/outputs.ts). */
  readonly outputs: OutputSettings
  readonly alerts: AlertSettings
  /** Image repositories by project and the registry allowlist (src/core/image-rules.ts). */
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

// verbose: errors carry their schema, so an unknown field can be matched against the fields that exist there.
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true })
const validateSchema = ajv.compile(POLICY_SCHEMA)

/**
 * Validate and compile. `knownActions`, when given, makes a pattern that matches no known action an error
 * (a typo such as `contaner.*` would otherwise silently grant nothing).
 */
export function compilePolicy (input: unknown, knownActions?: readonly string[]): CompiledPolicy {
  const document = structuredClone(input) as PolicyDocument
  const schemaValid = validateSchema(document)
  const schemaProblems: PolicyProblem[] = schemaValid ? [] : (validateSchema.errors ?? []).map((e) => schemaProblem(e, knownActions))
  const problems: PolicyProblem[] = []
  // Every problem in one run: the reference checks run on a document the schema refused too. They expect its
  // shapes, so one that trips over a wrong type is skipped: the schema problem already names that spot.
  const check = (run: () => void): void => {
    if (schemaValid) return run()
    try {
      run()
    } catch {}
  }
  if (isObject(document) && isObject(document.roles)) {
    check(() => checkReferences(document, problems))
    if (knownActions !== undefined) check(() => checkPatterns(document, knownActions, problems))
  }
  check(() => checkBridge(document.bridge, problems))
  check(() => checkAudit(document.audit, problems))
  check(() => checkTokens(document.tokens, problems))
  check(() => checkOutputs(document.outputs, problems))
  check(() => checkAlerts(document.alerts, problems))
  check(() => checkElevation(document, problems))
  check(() => checkProjectGrants(document.projects, problems))
  check(() => checkSshKeys(document.users, problems))
  check(() => checkReservedNames(document, problems))
  // A value the schema refused is named once, by the schema.
  const refused = new Set(schemaProblems.map((p) => p.path))
  const all = [...schemaProblems, ...problems.filter((p) => !refused.has(p.path))]
  if (all.length > 0) throw new PolicyValidationError(dedupe(all))

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
    outputs: compileOutputs(document.outputs),
    alerts: compileAlerts(document.alerts),
    images: compileImageRules(document.projects, document.images),
    membershipsOf,
    ...compileElevation(document, roles, projects, global, users)
  })
}

interface SchemaError {
  instancePath: string
  message?: string
  params: Record<string, unknown>
  keyword: string
  parentSchema?: object
  data?: unknown
}

function schemaProblem (error: SchemaError, knownActions: readonly string[] | undefined): PolicyProblem {
  let message = error.message ?? 'is invalid'
  if (error.keyword === 'additionalProperties') {
    const field = String(error.params.additionalProperty)
    const fields = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {}).filter((f) => f !== '$schema')
    message = `unknown field "${field}"${didYouMean(field, fields)}`
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params.allowedValues as unknown[]).map(String)
    message = `must be one of ${JSON.stringify(error.params.allowedValues)}${typeof error.data === 'string' ? didYouMean(error.data, allowed) : ''}`
  }
  // An action pattern that breaks the pattern syntax (`Container.Start`): point at the action it was meant to be.
  if (error.keyword === 'pattern' && /\/(allow|deny)\/\d+$/.test(error.instancePath) && typeof error.data === 'string' && knownActions !== undefined) {
    message += didYouMean(error.data, actionPatternNames(knownActions))
  }
  return { path: jsonPath(error.instancePath), message }
}

/** Every action and every `resource.*`, the names a pattern is most likely a typo of. */
function actionPatternNames (knownActions: readonly string[]): string[] {
  return ['*', ...new Set(knownActions.map((a) => `${a.slice(0, a.indexOf('.'))}.*`)), ...knownActions]
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** ajv reports some problems once per branch of a oneOf; the reader needs each once. */
function dedupe (problems: PolicyProblem[]): PolicyProblem[] {
  const seen = new Set<string>()
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
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

function inheritsOf (role: RoleDocument | undefined): string[] {
  if (!isObject(role) || role.inherits === undefined) return []
  if (typeof role.inherits === 'string') return [role.inherits]
  return Array.isArray(role.inherits) ? role.inherits.filter((r): r is string => typeof r === 'string') : []
}

function checkReferences (document: PolicyDocument, problems: PolicyProblem[]): void {
  const roleNames = Object.keys(document.roles)
  const known = new Set(roleNames)
  const unknownRole = (role: string): string => `unknown role "${role}"${didYouMean(role, roleNames)} (roles are: ${roleNames.join(', ')})`

  for (const [name, role] of Object.entries(document.roles)) {
    inheritsOf(role).forEach((parent, i) => {
      if (!known.has(parent)) {
        const path = typeof role.inherits === 'string' ? `$.roles.${name}.inherits` : `$.roles.${name}.inherits[${i}]`
        problems.push({ path, message: `inherits ${unknownRole(parent)}` })
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

  for (const [project, entry] of Object.entries(isObject(document.projects) ? document.projects : {})) {
    for (const [user, role] of Object.entries(isObject(entry) && isObject(entry.members) ? entry.members : {})) {
      if (typeof role === 'string' && !known.has(role)) problems.push({ path: `$.projects.${project}.members.${user}`, message: unknownRole(role) })
    }
  }
  const globalMembers = isObject(document.global) && isObject(document.global.members) ? document.global.members : {}
  for (const [user, role] of Object.entries(globalMembers)) {
    if (typeof role === 'string' && !known.has(role)) problems.push({ path: `$.global.members.${user}`, message: unknownRole(role) })
  }
}

function checkPatterns (document: PolicyDocument, knownActions: readonly string[], problems: PolicyProblem[]): void {
  const names = actionPatternNames(knownActions)
  const check = (patterns: unknown, path: string): void => {
    if (!Array.isArray(patterns)) return
    patterns.forEach((pattern: unknown, i) => {
      if (typeof pattern !== 'string') return
      const set = new GlobSet([pattern])
      if (!knownActions.some((action) => set.matches(action))) {
        problems.push({ path: `${path}[${i}]`, message: `"${pattern}" matches no action${didYouMean(pattern, names)} (\`portcullis actions\` lists them)` })
      }
    })
  }
  check(isObject(document.anonymous) ? document.anonymous.allow : undefined, '$.anonymous.allow')
  for (const [name, role] of Object.entries(document.roles)) {
    if (!isObject(role)) continue
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
  const names = [name, ...order]
  const lineage = names.map((n) => document.roles[n]!)
  const own = lineage[0]!
  // Nearest role first: the refusal names the deny the reader is most likely to be looking at.
  const denySources = names.flatMap((role, i) => (lineage[i]!.deny ?? []).map((pattern) => ({ pattern, role, glob: new GlobSet([pattern]) })))

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
    },
    deniedBy (action: string): DenySource | null {
      const found = denySources.find((d) => d.glob.matches(action))
      return found === undefined ? null : { pattern: found.pattern, role: found.role }
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
  const listen = bridge.listen ?? BRIDGE_DEFAULTS.listen
  const colon = listen.lastIndexOf(':')
  return Object.freeze({
    enabled: bridge.enabled ?? BRIDGE_DEFAULTS.enabled,
    required: bridge.required ?? BRIDGE_DEFAULTS.required,
    host: listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
    port: Number(listen.slice(colon + 1)),
    shell: Object.freeze([...(bridge.shell ?? BRIDGE_DEFAULTS.shell)]),
    env: new GlobSet(bridge.env ?? BRIDGE_DEFAULTS.env),
    idleTimeoutMs: durationMs(bridge.idleTimeout ?? BRIDGE_DEFAULTS.idleTimeout),
    maxSessionMs: durationMs(bridge.maxSession ?? BRIDGE_DEFAULTS.maxSession),
    hostname: bridge.hostname ?? null,
    loginGraceMs: durationMs(bridge.loginGraceTime ?? BRIDGE_DEFAULTS.loginGraceTime),
    startups: Object.freeze({
      maxStartups: Object.freeze(parseMaxStartups(bridge.maxStartups ?? BRIDGE_DEFAULTS.maxStartups)!),
      perSource: bridge.perSourceMaxStartups ?? BRIDGE_DEFAULTS.perSourceMaxStartups,
      netBlock: Object.freeze(parseNetBlockSize(bridge.perSourceNetBlockSize ?? BRIDGE_DEFAULTS.perSourceNetBlockSize)!)
    }),
    maxConnectionsPerUser: bridge.maxConnectionsPerUser ?? BRIDGE_DEFAULTS.maxConnectionsPerUser,
    maxSessionsPerConnection: bridge.maxSessionsPerConnection ?? BRIDGE_DEFAULTS.maxSessionsPerConnection
  })
}

function checkAudit (audit: AuditDocument | undefined, problems: PolicyProblem[]): void {
  for (const key of ['checkpointInterval', 'retention', 'verifyInterval'] as const) {
    if (audit?.[key] !== undefined && durationMs(audit[key]) <= 0) problems.push({ path: `$.audit.${key}`, message: 'must be longer than 0' })
  }
}

function compileAudit (audit: AuditDocument): AuditSettings {
  return Object.freeze({
    checkpointIntervalMs: durationMs(audit.checkpointInterval ?? AUDIT_DEFAULTS.checkpointInterval),
    checkpointRecords: audit.checkpointRecords ?? AUDIT_DEFAULTS.checkpointRecords,
    retentionMs: audit.retention !== undefined ? durationMs(audit.retention) : null,
    verifyIntervalMs: durationMs(audit.verifyInterval ?? AUDIT_DEFAULTS.verifyInterval),
    auditors: new Set(audit.auditors ?? [])
  })
}

/** Users, members and global members may not bear the names portcullis records its own calls under. */
function checkReservedNames (document: PolicyDocument, problems: PolicyProblem[]): void {
  const places: Array<[string, unknown]> = [['$.users', document.users], ['$.global.members', document.global?.members]]
  if (isObject(document.projects)) {
    for (const [project, body] of Object.entries(document.projects)) places.push([`$.projects.${project}.members`, isObject(body) ? body.members : undefined])
  }
  for (const [path, names] of places) {
    if (!isObject(names)) continue
    for (const name of Object.keys(names)) {
      if (RESERVED_USERS.has(name)) {
        problems.push({ path: `${path}.${name}`, message: `"${name}" is the name portcullis records its own calls under; give the person another name` })
      }
    }
  }
}
