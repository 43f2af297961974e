// The image names a call makes the daemon contact a registry about: pulls, pushes, searches, manifest and
// plugin-privilege look-ups, and a BuildKit build's cache imports and frontend image. The daemon is root in the
// host's network namespace, so these are the places where a caller can point it at the host's own services
// (a registry on 127.0.0.1) or at registries the policy does not allow. A build's `FROM` lines are inside the
// build context, which no authorization plugin sees.

import type { RegistryUse, RequestFacts } from '../core/types.js'
import { readCacheFrom, readSyntaxImage } from './build-query.js'

const IMAGE_ID = /^(?:sha256:)?[0-9a-f]{64}$/

/** The registry uses of a read request, or why a value that names one cannot be read (then it needs unsafe). */
export function registryUses (facts: RequestFacts): { uses: RegistryUse[], unreadable?: string } {
  const uses: RegistryUse[] = []
  const q = facts.query
  const add = (via: string, names: readonly string[] | undefined): void => {
    for (const name of names ?? []) if (name !== '' && !IMAGE_ID.test(name)) uses.push({ name, via })
  }
  switch (facts.action) {
    case 'image.pull': add('fromImage', q.fromImage); break
    case 'image.search': add('term', q.term); break
    case 'plugin.privileges': add('remote', q.remote); break
    case 'image.push': if (facts.target !== undefined) add('push', [facts.target.ref]); break
    case 'distribution.inspect': add('name', [distributionName(facts.path)]); break
    case 'container.create': {
      const image = facts.auditFields.image
      if (typeof image === 'string') add('Image', [image])
      break
    }
    case 'image.build': {
      for (const value of q.cachefrom ?? []) {
        const names = readCacheFrom(value)
        if (names === null) return { uses, unreadable: `cachefrom=${value}` }
        add('cachefrom', names)
      }
      for (const value of q.buildargs ?? []) {
        const names = readSyntaxImage(value)
        if (names === null) return { uses, unreadable: `buildargs=${value}` }
        add('BUILDKIT_SYNTAX', names)
      }
      break
    }
  }
  return { uses }
}

/** `/distribution/{name:.*}/json` → name. */
function distributionName (path: string): string {
  return path.replace(/^\/distribution\//, '').replace(/\/json$/, '')
}
