// What an image reference names at the daemon right now: its ID, every tag and digest reference. Asked for
// `image.remove` only (a remove by ID removes every tag), and never cached: tags move without a watched event.

import type { ResolvedResource, ResourceRef } from '../core/types.js'
import { PortcullisError } from '../errors.js'
import type { DockerApi } from './api.js'

export async function inspectImage (docker: DockerApi, ref: ResourceRef): Promise<ResolvedResource> {
  let res
  try {
    res = await docker.getJson(`/images/${encodeURIComponent(ref.ref)}/json`)
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_DOCKER_LOOKUP', ref.kind, ref.ref, (err as Error).message)
  }
  if (res.status === 404) return { ref, exists: false, project: null }
  const body = res.body as { Id?: unknown, RepoTags?: unknown, RepoDigests?: unknown } | null
  if (res.status !== 200 || typeof body !== 'object' || body === null) {
    throw new PortcullisError('PORTCULLIS_DOCKER_LOOKUP', ref.kind, ref.ref, `status ${res.status}`)
  }
  return {
    ref,
    exists: true,
    project: null,
    ...(typeof body.Id === 'string' ? { id: body.Id } : {}),
    repoTags: strings(body.RepoTags).filter((t) => t !== '<none>:<none>'),
    repoDigests: strings(body.RepoDigests).filter((d) => d !== '<none>@<none>')
  }
}

function strings (value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}
