// Which project an image repository belongs to (policy `projects.<name>.images` patterns) and which registries
// images may come from (policy `images.registries`). Compiled once per policy; pure.

import { globToRegExp } from './glob.js'
import { normalizePattern, parseImageReference, type ImageReference } from './image-reference.js'

export interface ImagesDocument {
  registries?: string[]
}

/** The repository's owner: a project, null (no pattern matches), or several (patterns overlap: fail closed). */
type RepositoryOwner =
  | { project: string }
  | { project: null, matches: string[] }

export interface ImageRules {
  /** False when no project defines `images`: images then belong to no project (as before image rules). */
  readonly enabled: boolean
  /** null: every registry may be pulled from. */
  readonly registries: ReadonlySet<string> | null
  ownerOf (repository: string): RepositoryOwner
  /** The project's patterns as written, for refusals that say where a name would be allowed. */
  patternsOf (project: string): readonly string[]
}

interface CompiledPattern { project: string, re: RegExp }

export function compileImageRules (projects: Record<string, { images?: string[] }>, images: ImagesDocument | undefined): ImageRules {
  const compiled: CompiledPattern[] = []
  const written = new Map<string, readonly string[]>()
  for (const [project, { images: patterns }] of Object.entries(projects)) {
    if (patterns === undefined) continue
    written.set(project, patterns)
    for (const pattern of patterns) compiled.push({ project, re: globToRegExp(normalizePattern(pattern)) })
  }
  const registries = images?.registries === undefined ? null : new Set(images.registries.map((r) => normalizeRegistry(r)))
  return Object.freeze({
    enabled: written.size > 0,
    registries,
    ownerOf (repository: string): RepositoryOwner {
      const matches = [...new Set(compiled.filter((p) => p.re.test(repository)).map((p) => p.project))]
      return matches.length === 1 ? { project: matches[0]! } : { project: null, matches }
    },
    patternsOf: (project: string) => written.get(project) ?? []
  })
}

/** `index.docker.io` is Docker Hub too; host names compare case-insensitively. */
function normalizeRegistry (registry: string): string {
  const lower = registry.toLowerCase()
  return lower === 'index.docker.io' || lower === 'registry-1.docker.io' ? 'docker.io' : lower
}

/** null when `reference` may be used under the allowlist, otherwise why not. */
export function registryRefusal (rules: ImageRules, reference: Pick<ImageReference, 'domain'>): string | null {
  if (rules.registries === null) return null
  if (rules.registries.has(normalizeRegistry(reference.domain))) return null
  const allowed = [...rules.registries].join(', ')
  return `registry ${reference.domain} is not in the policy's images.registries (${allowed === '' ? 'none' : allowed})`
}

/** Problems a valid policy may still have: printed by `policy validate`, never fatal. */
export function imageRuleWarnings (projects: Record<string, { images?: string[] }>): string[] {
  const warnings: string[] = []
  const defined = Object.entries(projects).filter(([, p]) => p.images !== undefined)
  if (defined.length === 0) {
    warnings.push('no project defines `images`: image repositories belong to no project, so any role that allows image.tag, ' +
      'image.push or image.remove may act on every project\'s images. Add `"images": ["<project>/*"]` to each project.')
    return warnings
  }
  for (const [project] of Object.entries(projects).filter(([, p]) => p.images === undefined)) {
    warnings.push(`project ${project} defines no \`images\`: its members may tag, build and push only into repositories of other projects they belong to`)
  }
  for (const [project, p] of defined) {
    for (const pattern of p.images ?? []) {
      const probe = parseImageReference(pattern.replaceAll('*', 'x'))
      if ('error' in probe) warnings.push(`projects.${project}.images: "${pattern}" can match no valid repository (${probe.error})`)
    }
  }
  return warnings
}
