// BuildKit cache mounts are one store per daemon: a build names the project its caches belong to with
// BUILDKIT_CACHE_MOUNT_NS (src/request/buildkit.ts), and is judged in that project. Roles that are not unsafe
// must name one; unsafe roles' builds without one use the store no other role may now write to.

import type { RequestFacts } from './types.js'
import type { PolicyView, CompiledRole } from './policy-model.js'
import { denied, type Decision } from './decision.js'

/** The build argument BuildKit prefixes every cache mount id with; a build names its project in it. */
export const CACHE_NAMESPACE_ARG = 'BUILDKIT_CACHE_MOUNT_NS'

/** The project a BuildKit build is judged in, given the one its cache namespace names. */
export function buildCacheScope (
  policy: PolicyView, action: string, req: RequestFacts, project: string | null | undefined, subject: string
): { project: string | null | undefined, subject: string } | { refusal: Decision } {
  const namespace = req.buildKit?.cacheNamespace ?? null
  if (namespace === null) return { project, subject }
  if (!policy.projects.has(namespace)) {
    return { refusal: denied('UNKNOWN_PROJECT', `${CACHE_NAMESPACE_ARG}=${namespace} names a project that is not in the policy; name the project the build belongs to`, { action, project: namespace }) }
  }
  if (project === undefined) return { project: namespace, subject: `the build's cache namespace ${namespace}` }
  if (project === namespace) return { project, subject }
  const where = project === null ? 'no project' : `project ${project}`
  return {
    refusal: denied('BUILD_CACHE_NAMESPACE', `${action} is judged in ${where} (${subject}) but keeps its cache mounts in ${namespace}'s; ` +
      (project === null ? 'tag it into one project' : `use --build-arg ${CACHE_NAMESPACE_ARG}=${project}`), { action, project })
  }
}

/** Why `role` may not run this BuildKit build (it names no cache namespace), or null. */
export function missingCacheNamespace (role: CompiledRole, req: RequestFacts): string | null {
  if (req.buildKit === undefined || req.buildKit.cacheNamespace !== null || role.unsafe) return null
  return `a BuildKit build's cache mounts (RUN --mount=type=cache) are shared by every project on this daemon unless the build ` +
    `names its project; role ${role.name} is not unsafe: add --build-arg ${CACHE_NAMESPACE_ARG}=<project> (the project the build tags into)`
}
