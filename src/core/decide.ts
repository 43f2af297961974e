// The policy core: one pure function that decides every call, for the plugin socket, the SSH bridge and
// `portcullis check` alike. No I/O here: everything it needs arrives as plain facts.

import type { Identity, RequestFacts, ResolvedResource, ResourceFacts } from './types.js'
import type { PolicyView, CompiledRole, DenySource, Membership } from './policy-model.js'
import { allowed, denied, type Decision, type DenyCode } from './decision.js'
import { offerElevation } from './elevation-hint.js'
import { judgeExecProcess, judgeExecTarget, judgeStream, type ChannelOptions } from './exec-rules.js'
import type { Grant } from './grant.js'
import { wireRefusal } from './wire-refusal.js'
import { ungrantedNeeds } from './project-grants.js'
import { idLikeNameRefusal, readAsIdRefusal } from './id-like.js'
import { inheritedReach } from './inherited-reach.js'
import { pruneScope } from './prune-scope.js'
import { buildCacheScope, missingCacheNamespace } from './build-cache.js'
import { hostLocalRegistries, imageScope, joinImageProject } from './image-scope.js'
import { PROJECT_LABEL } from './project-label.js'

export interface DecideOptions {
  /** The name portcullis runs under as a plugin; managing it needs an unsafe role. */
  pluginName: string
  /** Where the call comes from: the docker API, or the SSH bridge (which may run `bridge-only` sessions). */
  channel?: 'docker' | 'bridge'
  /** Where the SSH bridge listens, for the hint given to a `bridge-only` role's `docker exec -it`; default: the policy's bridge port. */
  bridgePort?: number
  bridgeHost?: string
  /** The SSH bridge does not listen on this host: a `bridge-only` refusal says so instead of naming a port. */
  bridgeOff?: boolean
  /** The caller's active elevation grants (the caller drops other users' and ended ones); each adds a membership for this call. */
  grants?: readonly Grant[]
}

/** DecideOptions with the bridge port settled, as the role rules take them. */
type JudgeOptions = DecideOptions & ChannelOptions

/** What portcullis's own lookups may do: read-only, and nothing that needs another lookup. */
const INTERNAL_ACTIONS = new Set([
  'container.list', 'container.inspect', 'exec.inspect', 'volume.inspect', 'network.inspect', 'plugin.inspect',
  'system.ping', 'system.version', 'system.events',
  // Adopting existing objects at the first start (src/docker/adopt.ts) and judging image removal by every tag.
  'network.list', 'volume.list', 'image.inspect'
])

/** What the SSH bridge's session grants may do: run the session's exec and nothing else. Looking the exec up (its
 * PID, its exit status) is the bridge's own housekeeping, under its own credential (`bridge-housekeeping`). */
const BRIDGE_ACTIONS = new Set(['container.exec', 'exec.start', 'exec.resize', 'container.inspect'])

/** What may switch portcullis off or change what runs: reading it (inspect) is not management. */
const SELF_MANAGEMENT = new Set(['plugin.disable', 'plugin.enable', 'plugin.remove', 'plugin.set', 'plugin.upgrade', 'plugin.push'])

export const TOKEN_HINT = 'Ask a portcullis admin for a token (`portcullis token issue --user YOU`) and put it in ' +
  'your docker CLI config (~/.docker/config.json): {"HttpHeaders": {"X-Portcullis-Token": "<token>"}}.'

/** Objects that belong to a project by label; images and plugins belong to none. */
const PROJECT_KINDS = new Set(['container', 'exec', 'volume', 'network'])

/** A membership the call may be judged under: one the policy gives, or one a grant adds. */
interface Candidate extends Membership {
  readonly grant?: Grant
}

interface Failure {
  code: DenyCode
  reason: string
  role: string
  /** ROLE_DENIES because a deny pattern matched (the role's allow patterns do match). */
  deniedBy?: DenySource
}

export function decide (policy: PolicyView, identity: Identity, req: RequestFacts, resources: ResourceFacts, options: DecideOptions): Decision {
  const action = req.action
  if (req.wire !== undefined) return wireRefusal(req)
  if (action === null) {
    return denied('UNKNOWN_ROUTE', `portcullis does not know the route ${req.method} ${req.path} and refuses what it does not know`)
  }
  const facts = { action }

  if (identity.method === 'internal') {
    return INTERNAL_ACTIONS.has(action)
      ? allowed(action, null, null, 'portcullis looking up an object')
      : denied('INTERNAL_ONLY_READS', `portcullis's own identity may not ${action}`, facts)
  }

  if (identity.method === 'bridge-housekeeping') return judgeBridgeHousekeeping(identity, req, action)

  if (identity.method === 'bridge') {
    if (!BRIDGE_ACTIONS.has(action)) {
      return denied('BRIDGE_GRANT_SCOPE', `an SSH bridge session grant may only run its exec, not ${action}`, facts)
    }
    // Calls the bridge makes for a session are that session: `bridge-only` roles may be interactive here.
    options = { ...options, channel: 'bridge' }
  }

  if (req.bodyProblem !== undefined) {
    return denied('BAD_BODY', `${action}: the request body is ${describeBodyProblem(req.bodyProblem)}` +
      (req.bodyProblemDetail !== undefined ? ` (${req.bodyProblemDetail})` : ''), facts)
  }
  if (req.idLikeName !== undefined) return idLikeNameRefusal(action, req.idLikeName)
  const ambiguous = readAsIdRefusal(action, resources)
  if (ambiguous !== null) return ambiguous

  if (req.unknownParameters !== undefined && req.unknownParameters.length > 0) {
    return denied('UNKNOWN_PARAMETER', `${action}: portcullis does not know the query parameter(s) ${req.unknownParameters.join(', ')} ` +
      `of ${req.method} ${req.path} and refuses what it does not know; remove them (docs/request-allowlist.md lists what each route takes)`, facts)
  }
  if (req.unknownFields !== undefined && req.unknownFields.length > 0) {
    return denied('UNKNOWN_FIELD', `${action}: portcullis does not know the body field(s) ${req.unknownFields.join(', ')} and refuses ` +
      'them unless empty; remove them (docs/request-allowlist.md lists what each body takes)', facts)
  }

  // What anonymous callers may do, everyone may: an identity never makes a caller weaker.
  const openToAll = policy.anonymous.matches(action) && req.escapes.length === 0 && req.labelProject === undefined && req.target === undefined && req.grantNeeds === undefined && req.prune === undefined
  if (identity.user === null) {
    if (openToAll) return allowed(action, null, null, 'allowed to anonymous callers')
    return denied('ANONYMOUS', `anonymous callers may not ${action}. ${TOKEN_HINT}`, facts)
  }
  if (openToAll) return allowed(action, null, null, 'allowed to every caller')
  const user = identity.user
  const judging: JudgeOptions = { ...options, bridgePort: options.bridgePort ?? policy.bridge.port }
  // Policy memberships first: a grant is credited only for what the user could not do without it.
  const memberships: readonly Candidate[] = options.grants === undefined || options.grants.length === 0
    ? policy.membershipsOf(user)
    : [...policy.membershipsOf(user), ...grantedMemberships(policy, user, options.grants)]

  // Which project is the call judged in?
  let project: string | null | undefined
  let subject = ''
  if (req.prune !== undefined) {
    const scope = pruneScope(policy, action, req.prune, memberships)
    if ('refusal' in scope) return scope.refusal
    project = scope.project
    subject = scope.subject
  } else if (req.labelProject !== undefined) {
    if (req.labelProject === null || req.labelProject === '') {
      return denied('NO_PROJECT_LABEL', `${action} must name its project: add --label ${PROJECT_LABEL}=<project>` +
        projectHint(memberships), facts)
    }
    if (!policy.projects.has(req.labelProject)) {
      return denied('UNKNOWN_PROJECT', `project "${req.labelProject}" is not in the policy` + projectHint(memberships), { action, project: req.labelProject })
    }
    project = req.labelProject
    subject = `project ${project}`
  } else if (resources.target?.exists === true && PROJECT_KINDS.has(resources.target.ref.kind)) {
    project = resources.target.project
    subject = `${describe(resources.target)}`
  } else if (action === 'image.build') {
    // A build that joins a container's or network's namespace (networkmode) is judged in that object's project.
    const owners = new Set(resources.references.filter((r) => r.exists).map((r) => r.project))
    const [owner] = owners
    if (owners.size === 1 && typeof owner === 'string') {
      project = owner
      subject = 'the network the build joins'
    }
  }
  // Image repositories belong to the projects whose `images` patterns match them.
  let unowned: string | undefined
  const images = imageScope(policy.images, action, req, resources.target)
  if ('refusal' in images) return denied(images.code, images.refusal, facts)
  if (images.project !== undefined) ({ project, subject, unowned } = joinImageProject(project, subject, images, action))

  // A BuildKit build is judged in the project its cache namespace names.
  const cache = buildCacheScope(policy, action, req, project, subject)
  if ('refusal' in cache) return cache.refusal
  ;({ project, subject } = cache)

  // Ports, log drivers and subnets the project's grants do not cover need an unsafe role.
  const ungranted = [...ungrantedNeeds(policy.document, project, req.grantNeeds), ...hostLocalRegistries(policy.images, req)]

  // The roles that may answer: the project's role and any global role; for calls outside every project, all of them.
  let candidates: readonly Candidate[]
  if (project === undefined) {
    candidates = memberships
    if (candidates.length === 0) {
      return denied('NO_ROLE', `${user} holds no role in any project; ask a project admin to add you to the policy`, facts)
    }
  } else if (project === null) {
    candidates = memberships.filter((m) => m.project === null)
    if (candidates.length === 0) {
      return denied('UNOWNED_RESOURCE', unowned ?? (resources.target?.projectSource === 'unregistered'
        ? `${subject} was not created through portcullis, so it belongs to no project whatever its ${PROJECT_LABEL} label says; only global roles may act on it`
        : `${subject} has no ${PROJECT_LABEL} label, so only global roles may act on it`), facts)
    }
  } else {
    candidates = memberships.filter((m) => m.project === project || m.project === null)
    if (candidates.length === 0) {
      return offerElevation(policy, denied('NOT_MEMBER', `${user} is not a member of project ${project} (${subject} belongs to it); ask a ${project} admin to add you`, { action, project }),
        user, project, (role) => judgeRole(role, action, req, resources, judging, identity, ungranted) === null)
    }
  }

  // References to other objects must stay inside the project the call is judged in.
  for (const ref of resources.references) {
    // Images and plugins belong to no project by label (an image's project is its repository's: image-scope.ts).
    if (!ref.exists || !PROJECT_KINDS.has(ref.ref.kind)) continue
    if (project === undefined || ref.project !== project) {
      const where = ref.project === null ? 'no project' : `project ${ref.project}`
      return denied('CROSS_PROJECT', `${action} refers to ${describe(ref)}, which belongs to ${where}, not ${project ?? 'this call\'s project'}`, { action, project: project ?? null })
    }
  }

  const failures: Failure[] = []
  for (const membership of candidates) {
    const failure = judgeRole(membership.role, action, req, resources, judging, identity, ungranted)
    if (failure === null) {
      const where = membership.project === null ? '(global role)' : `in ${membership.project}`
      if (membership.grant !== undefined) {
        const until = new Date(membership.grant.expiresAt).toISOString().slice(11, 16)
        return { ...allowed(action, project ?? null, membership.role.name, `${user} is ${membership.role.name} ${where} (grant ${membership.grant.id}, until ${until}Z)`), grant: membership.grant.id }
      }
      return allowed(action, project ?? null, membership.role.name, `${user} is ${membership.role.name} ${where}`)
    }
    failures.push(failure)
  }

  // Refused by every role: explain with the most telling failure (the least generic code wins).
  const best = failures.find((f) => f.code !== 'ROLE_DENIES') ?? failures[0]!
  if (best.code === 'ROLE_DENIES') {
    const held = candidates.map((m) => `${m.role.name}${m.project === null ? ' (global)' : ` in ${m.project}`}`).join(', ')
    const wouldAllow = [...policy.roles.values()].filter((r) => r.allows(action)).map((r) => r.name)
    const hint = wouldAllow.length > 0 ? `; roles that allow it: ${wouldAllow.join(', ')}` : ''
    const byDeny = failures.find((f) => f.deniedBy !== undefined)
    const why = byDeny?.deniedBy === undefined
      ? `role ${held} does not allow it`
      : `role ${byDeny.role} allows it, but ${describeDeny(byDeny.role, byDeny.deniedBy)} refuses it (a deny anywhere in a role's inheritance wins over every allow)`
    const refusal: Decision = {
      ...denied('ROLE_DENIES', `${user} may not ${action}${project ? ` in project ${project}` : ''}: ${why}${hint}`,
        { action, project: project ?? null, role: byDeny?.role ?? best.role }),
      ...(byDeny?.deniedBy !== undefined ? { deniedBy: { ...byDeny.deniedBy } } : {})
    }
    if (typeof project !== 'string') return refusal
    return offerElevation(policy, refusal, user, project, (role) => judgeRole(role, action, req, resources, judging, identity, ungranted) === null)
  }
  return denied(best.code, best.reason, { action, project: project ?? null, role: best.role })
}

/** null when the role allows the call, otherwise why not. */
function judgeRole (role: CompiledRole, action: string, req: RequestFacts, resources: ResourceFacts, options: JudgeOptions, identity: Identity, ungranted: readonly string[] = []): Failure | null {
  const fail = (code: DenyCode, reason: string): Failure => ({ code, reason, role: role.name })
  if (!role.allows(action)) {
    const deny = role.allow.matches(action) ? role.deniedBy(action) : null
    return deny === null ? fail('ROLE_DENIES', '') : { ...fail('ROLE_DENIES', ''), deniedBy: deny }
  }

  if (SELF_MANAGEMENT.has(action) && isSelf(resources.target, options.pluginName) && !role.unsafe) {
    return fail('SELF_PROTECTION', `${action} on the portcullis plugin itself needs an unsafe role; role ${role.name} is not unsafe`)
  }

  if (req.escapes.length > 0 && !role.unsafe) {
    const asked = req.escapes.map((e) => `${e.setting} (${e.detail})`).join(', ')
    return fail('UNSAFE_REQUIRED', `${action} reaches the host: ${asked}. Only unsafe roles may; role ${role.name} is not. Remove these settings or ask an admin`)
  }
  const inherited = role.unsafe ? null : inheritedReach(action, resources)
  if (inherited !== null) {
    return fail('UNSAFE_REQUIRED', `${inherited}. Only unsafe roles may; role ${role.name} is not. Use an object without these settings or ask an admin`)
  }

  if (ungranted.length > 0 && !role.unsafe) {
    return fail('GRANT_REQUIRED', `${action} reaches the host through ${ungranted.join('; ')}. Role ${role.name} is not unsafe; add the grant or ask an admin`)
  }

  const cacheShared = missingCacheNamespace(role, req)
  if (cacheShared !== null) return fail('BUILD_CACHE_NAMESPACE', cacheShared)

  const exec = req.exec
  // Exec rules (interactive, command globs, command text) live in exec-rules.ts, shared with exec start.
  const execFailure = (exec !== undefined ? judgeExecProcess(role, { cmd: exec.cmd, tty: exec.tty, stdin: exec.attachStdin, privileged: false }, options, 'create') : null) ??
    judgeExecTarget(role, action, resources.target, identity, options) ?? judgeStream(role, req.stream, options)
  if (execFailure !== null) return fail(execFailure.code, execFailure.reason)
  return null
}

/** `deny pattern "container.remove" of role developer, which operator inherits`, or `its own deny pattern …`. */
function describeDeny (role: string, deny: DenySource): string {
  return deny.role === role
    ? `its own deny pattern "${deny.pattern}"`
    : `deny pattern "${deny.pattern}" of role ${deny.role}, which ${role} inherits,`
}

function isSelf (target: ResolvedResource | undefined, pluginName: string): boolean {
  if (target === undefined || target.ref.kind !== 'plugin') return false
  const name = target.name ?? target.ref.ref
  // `localhost:5000/portcullis:1.2` and `portcullis:latest` are both portcullis.
  const base = name.replace(/:[^:/]*$/, '').split('/').pop()
  return base === pluginName
}

function describe (resource: ResolvedResource): string {
  return `${resource.ref.kind} ${resource.ref.ref}`
}

function describeBodyProblem (problem: NonNullable<RequestFacts['bodyProblem']>): string {
  switch (problem) {
    case 'missing': return 'missing (send it as application/json)'
    case 'empty': return 'empty'
    case 'invalid-json': return 'not valid JSON'
    case 'too-large': return 'too large for the daemon to show to authorization plugins (1 MiB at most)'
    case 'not-an-object': return 'not a JSON object'
    case 'form-encoded': return 'form-encoded (the daemon would read its values ahead of the query string)'
  }
}

/** The grants' roles as memberships; a grant of another user, or for a role or project the policy no longer has, adds nothing. */
function grantedMemberships (policy: PolicyView, user: string, grants: readonly Grant[]): Candidate[] {
  const found: Candidate[] = []
  for (const grant of grants) {
    const role = policy.roles.get(grant.role)
    if (grant.user === user && role !== undefined && policy.projects.has(grant.project)) found.push({ project: grant.project, role, grant })
  }
  return found
}

function projectHint (memberships: readonly Membership[]): string {
  const projects = [...new Set(memberships.map((m) => m.project).filter((p): p is string => p !== null))]
  return projects.length > 0 ? `; your projects: ${projects.join(', ')}` : ''
}

/** The bridge's own credential for one session: it may inspect the exec the bridge created for that session, by its
 * full ID, and nothing else (not another exec, not its container, not a start or resize). */
function judgeBridgeHousekeeping (identity: Identity, req: RequestFacts, action: string): Decision {
  const own = identity.exec !== undefined && req.target?.kind === 'exec' && req.target.ref === identity.exec
  if (action === 'exec.inspect' && own && (req.unknownParameters === undefined || req.unknownParameters.length === 0)) {
    return allowed(action, null, null, `the SSH bridge looking up the exec of its session ${identity.session ?? ''}`)
  }
  return denied('BRIDGE_GRANT_SCOPE', `the SSH bridge's housekeeping credential may only inspect the exec of its own session, not ${action}` +
    (req.target !== undefined ? ` of ${req.target.kind} ${req.target.ref}` : ''), { action })
}
