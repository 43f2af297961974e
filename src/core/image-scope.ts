// Which project a call that writes or removes image names is judged in (policy `projects.<name>.images`), and
// whether the images a pull or create names come from an allowed registry (`images.registries`). Pure: the
// resolver has already inspected the image an `image.remove` names.

import type { RequestFacts, ResolvedResource } from './types.js'
import { isHostLocalRegistry, parseImageReference, splitDomain, type ImageReference } from './image-reference.js'
import { registryRefusal, type ImageRules } from './image-rules.js'
import type { DenyCode } from './decision.js'

export type ImageScope =
  /** The call names no image repository, or image rules are off. */
  | { project?: undefined }
  /** Judge the call in `project` (null: global roles only, `unowned` says why). */
  | { project: string | null, subject: string, unowned?: string }
  | { project?: undefined, code: DenyCode, refusal: string }

/** Actions whose image names are judged, and where each finds them. */
const WRITES: Record<string, (req: RequestFacts, target: ResolvedResource | undefined) => string[]> = {
  'image.tag': (req) => nonEmpty(req.query.repo),
  'image.import': (req) => nonEmpty(req.query.repo),
  'container.commit': (req) => nonEmpty(req.query.repo),
  // `t`, and the names a BuildKit `moby` output writes (used when `t` is empty, judged always).
  'image.build': (req) => [...nonEmpty(req.query.t), ...(req.buildOutputs ?? [])],
  'image.push': (req, target) => target === undefined ? [] : [target.ref.ref],
  'image.remove': (req, target) => removedNames(target)
}

export function imageScope (rules: ImageRules, action: string, req: RequestFacts, target: ResolvedResource | undefined): ImageScope {
  const registry = registryCheck(rules, action, req)
  if (registry !== null) return registry
  if (!rules.enabled) return {}
  if (action === 'image.load') {
    return {
      project: null,
      subject: 'docker load',
      unowned: 'docker load takes its image names from inside the tarball, which portcullis cannot see, so only global roles may load images; ' +
        'push the image to a registry and pull it, or ask a global admin to load it'
    }
  }
  if (action === 'image.pull') return pullScope(rules, req)
  const find = WRITES[action]
  if (find === undefined) return {}
  const names = find(req, target)
  if (action === 'image.remove' && target?.exists === true && names.length === 0) {
    return { project: null, subject: `image ${target.ref.ref}`, unowned: `image ${target.ref.ref} has no repository name, so it belongs to no project and only global roles may remove it` }
  }
  if (names.length === 0) return {}
  const owners = new Map<string, string[]>()
  for (const name of names) {
    const parsed = parseImageReference(name)
    if ('error' in parsed) {
      return { code: 'IMAGE_NAME', refusal: `${action}: ${parsed.error}; portcullis judges image names as dockerd reads them and refuses what it cannot read` }
    }
    const owner = rules.ownerOf(parsed.repository)
    const key = owner.project ?? (owner.matches.length > 1 ? `\u0000${owner.matches.join(', ')}` : '')
    owners.set(key, [...(owners.get(key) ?? []), parsed.repository])
  }
  const repositories = [...new Set([...owners.values()].flat())]
  const subject = `repository ${repositories.join(', ')}`
  if (owners.size > 1) {
    const projects = [...owners.keys()].map((k) => k === '' ? 'no project' : k.startsWith('\u0000') ? `several (${k.slice(1)})` : `project ${k}`)
    return { project: null, subject, unowned: `${action} names repositories of ${projects.join(' and ')} (${repositories.join(', ')}), so only global roles may; name repositories of one project per call` }
  }
  const [key] = owners.keys()
  if (key !== undefined && key !== '' && !key.startsWith('\u0000')) return { project: key, subject }
  const why = key !== undefined && key.startsWith('\u0000')
    ? `matches the images patterns of several projects (${key.slice(1)})`
    : 'matches no project\'s images pattern'
  return { project: null, subject, unowned: `${subject} ${why}, so only global roles may ${action} it; use a repository under one of your projects' images patterns` }
}

/**
 * A pull writes the local tags of the repository it names: pulling `payments/app:1` from Docker Hub replaces a
 * `payments/app:1` that payments built here. So a repository a project owns is pulled only by its members; one
 * nobody owns (public base images) by anyone whose role allows image.pull, as before.
 */
function pullScope (rules: ImageRules, req: RequestFacts): ImageScope {
  const projects = new Set<string>()
  const repositories: string[] = []
  for (const name of nonEmpty(req.query.fromImage)) {
    const parsed = parseImageReference(name)
    if ('error' in parsed) return { code: 'IMAGE_NAME', refusal: `image.pull: ${parsed.error}; portcullis judges image names as dockerd reads them and refuses what it cannot read` }
    const owner = rules.ownerOf(parsed.repository)
    if (owner.project === null && owner.matches.length === 0) continue
    projects.add(owner.project ?? '')
    repositories.push(parsed.repository)
  }
  if (projects.size === 0) return {}
  const subject = `repository ${repositories.join(', ')}`
  const [only] = projects
  if (projects.size === 1 && only !== undefined && only !== '') return { project: only, subject }
  return { project: null, subject, unowned: `${subject} matches the images patterns of several projects, so only global roles may pull it` }
}

/** Combines the project of the call's container (commit) with its image repository's project. */
export function joinImageProject (project: string | null | undefined, subject: string, scope: { project: string | null, subject: string, unowned?: string }, action: string): { project: string | null, subject: string, unowned?: string } {
  if (project === undefined || project === scope.project) return scope.unowned === undefined ? { project: scope.project, subject: scope.subject } : scope
  const from = project === null ? 'no project' : `project ${project}`
  const to = scope.project === null ? 'no project' : `project ${scope.project}`
  return {
    project: null,
    subject: `${subject} and ${scope.subject}`,
    unowned: `${action} takes ${subject} (${from}) into ${scope.subject} (${to}), so only global roles may; use a repository of ${from}`
  }
}

/** Every registry a call makes the daemon contact must be in `images.registries`, when the policy has that list. */
function registryCheck (rules: ImageRules, action: string, req: RequestFacts): ImageScope | null {
  if (rules.registries === null) return null
  for (const { name, via } of req.registryUses ?? []) {
    const domain = registryOf(name, via)
    if ('error' in domain) return { code: 'IMAGE_NAME', refusal: `${action}: ${domain.error}; portcullis judges image names as dockerd reads them and refuses what it cannot read` }
    const refusal = registryRefusal(rules, domain)
    if (refusal !== null) {
      const hint = action === 'container.create' ? '; run an image from an allowed registry, or name the image by its full ID' : '; use an allowed registry'
      return { code: 'REGISTRY_NOT_ALLOWED', refusal: `${action} of ${name} (${via}): ${refusal}${hint}` }
    }
  }
  return null
}

/**
 * Without `images.registries`, a registry on the host itself (loopback, link-local) is a host service the daemon
 * would talk to as root: like a port or a subnet, it is allowed by naming it in the policy (there: in
 * `images.registries`) or to an unsafe role. Returns what to name, one entry per registry.
 */
export function hostLocalRegistries (rules: ImageRules, req: RequestFacts): string[] {
  if (rules.registries !== null) return []
  const found = new Set<string>()
  for (const { name, via } of req.registryUses ?? []) {
    const domain = registryOf(name, via)
    if (!('error' in domain) && isHostLocalRegistry(domain.domain)) found.add(`registry ${domain.domain} (${via}), a service on the host itself: list it in images.registries`)
  }
  return [...found]
}

/** The registry a name makes the daemon contact. A search term is no image name: only its registry part counts. */
function registryOf (name: string, via: string): Pick<ImageReference, 'domain'> | { error: string } {
  if (via === 'term') return { domain: splitDomain(name).domain }
  return parseImageReference(name)
}

/** What an `image.remove` removes: the name it was given when that name is one of the image's own, else every tag. */
function removedNames (target: ResolvedResource | undefined): string[] {
  if (target === undefined) return []
  const given = parseImageReference(target.ref.ref)
  if (target.exists !== true || target.repoTags === undefined) return 'error' in given ? [] : [target.ref.ref]
  if (!('error' in given) && isOwnName(given, target)) return [target.ref.ref]
  return target.repoTags
}

function isOwnName (given: ImageReference, target: ResolvedResource): boolean {
  const same = (name: string): boolean => {
    const parsed = parseImageReference(name)
    return !('error' in parsed) && parsed.repository === given.repository &&
      (given.digest !== undefined ? parsed.digest === given.digest : (parsed.tag ?? 'latest') === (given.tag ?? 'latest'))
  }
  return given.digest !== undefined ? (target.repoDigests ?? []).some(same) : (target.repoTags ?? []).some(same)
}

function nonEmpty (values: string[] | undefined): string[] {
  return (values ?? []).filter((v) => v !== '')
}
