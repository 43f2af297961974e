// A BuildKit build (`POST /build?version=2`, `DOCKER_BUILDKIT=1 docker build`): its `RUN --mount=type=cache`
// directories are one store for the whole daemon, keyed by the mount's id or target path, so a step of one
// project could write the package cache another project's build reads. BuildKit's Dockerfile frontend prefixes
// every cache mount id with the BUILDKIT_CACHE_MOUNT_NS build argument; portcullis asks for it, naming the
// project the build is judged in.

import { CACHE_NAMESPACE_ARG } from '../core/build-cache.js'
import type { BuildKitFacts, RequestFacts } from '../core/types.js'
import { readBuildArg } from './build-query.js'


/** For a BuildKit build: its cache namespace; undefined for any other call (or a classic build). */
export function buildKitFacts (facts: RequestFacts): BuildKitFacts | undefined {
  if (facts.action !== 'image.build' || facts.query.version?.[0] !== '2') return undefined
  const args = facts.query.buildargs?.[0]
  const namespace = args === undefined ? undefined : readBuildArg(args, CACHE_NAMESPACE_ARG)
  return { cacheNamespace: typeof namespace === 'string' && namespace !== '' ? namespace : null }
}
