// The networks dockerd looks up again when it starts a container. A create (or a `network connect` to a stopped
// container) stores the network as the client named it; until the container has run, its endpoint has no
// NetworkID, and every start finds the network by that name (daemon.FindNetwork). If the network was removed and
// another project made one with the same name, the start would join that one: so a start is judged on the
// networks as they resolve now, like the references of a create.

import type { ResourceRef } from '../core/types.js'
import { isUserNetwork } from '../request/docker-specs.js'

/** Actions after which the daemon connects the container's stored networks. */
export const STARTING_ACTIONS: ReadonlySet<string> = new Set(['container.start', 'container.restart'])

export type StoredNetworks = Record<string, { NetworkID?: string } | null> | null | undefined

/** What the daemon will look each stored network up by: its NetworkID when known, else the stored name. */
export function networksToFind (networks: StoredNetworks): ResourceRef[] {
  const refs: ResourceRef[] = []
  for (const [name, endpoint] of Object.entries(networks ?? {})) {
    // Built-in networks (none, host, bridge) cannot be re-made under their names; their IDs are not a project's.
    if (!isUserNetwork(name)) continue
    const id = endpoint?.NetworkID
    refs.push({ kind: 'network', ref: typeof id === 'string' && id !== '' ? id : name })
  }
  return refs
}
