// Names the daemon could read as an object ID. dockerd resolves containers and networks by full ID, then exact
// name, then unique ID prefix (daemon.GetContainer, daemon.FindNetwork): a name made of lowercase hex can mean
// one object at the plugin's look-up and, after a rename or remove, another object's ID prefix at the daemon's.
// IDs are 64 lowercase hex digits, so a name with any other character can never be read as one.

import type { RequestFacts } from '../core/types.js'

const LOWER_HEX = /^[0-9a-f]+$/
const FULL_ID = /^[0-9a-f]{64}$/

/** Whether a reference, as the client wrote it, could be read as an ID or ID prefix. */
function couldBeId (ref: string): boolean {
  return LOWER_HEX.test(ref)
}

/** Whether a reference could be read both as a name and as an ID prefix (a full ID always wins at the daemon). */
export function readsBothWays (ref: string): boolean {
  return LOWER_HEX.test(ref) && !FULL_ID.test(ref)
}

/** Container names: dockerd strips one leading `/` (GetByName and reserveName add it back). */
function containerName (name: string): string {
  return name.startsWith('/') ? name.slice(1) : name
}

/**
 * The first new name a create or rename asks for that could be read as an ID, or undefined.
 * Containers: every `name` query value (create, rename); networks and volumes: the decoded body's Name.
 */
export function idLikeNewName (action: string | null, query: Record<string, string[]>, bodyName: string | undefined): string | undefined {
  switch (action) {
    case 'container.create':
    case 'container.rename': {
      const names = Object.hasOwn(query, 'name') ? query.name ?? [] : []
      return names.find((name) => couldBeId(containerName(name)))
    }
    case 'network.create':
    case 'volume.create':
      return bodyName !== undefined && couldBeId(bodyName) ? bodyName : undefined
    default:
      return undefined
  }
}

/**
 * Sets `facts.idLikeName` when the call names a new object like an ID. A new network's name is also looked up as a
 * reference: dockerd allows two networks of one name (CheckDuplicate is off unless the client asks), and then finds
 * neither by it, so another project's name may not be taken.
 */
export function checkNewName (facts: RequestFacts, bodyName: string | undefined): void {
  const found = idLikeNewName(facts.action, facts.query, bodyName)
  if (found !== undefined) facts.idLikeName = found
  else if (facts.action === 'network.create' && bodyName !== undefined && bodyName !== '') {
    facts.references.push({ kind: 'network', ref: bodyName })
  }
}
