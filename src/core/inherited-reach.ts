// Host reach inherited from an existing object. A container created by an unsafe role with binds, devices, host
// namespaces or privileges hands that reach to whoever enters it; so do volumes that bind a host path and networks
// on the host's interfaces to whoever mounts or joins them. Such calls need an unsafe role, like asking for the
// reach directly.

import type { ResolvedResource, ResourceFacts } from './types.js'

/** Calls that run code in, read from or write into the target container (or exec) itself. */
const ENTERING = new Set([
  'container.exec', 'exec.start', 'container.archive', 'container.put-archive', 'container.commit',
  'container.export', 'container.attach'
])

/** Calls whose references (volumes-from, links, namespaces, volumes, networks) are taken into the new object. */
// A build's networkmode=container:<x> or network puts its RUN steps in that namespace, as a create would.
const TAKING_REFERENCES = new Set(['container.create', 'image.build'])

/** Calls that join the target (a network) to a container. */
const JOINING_TARGET = new Set(['network.connect'])

/** `enters container bindy (534e98e0d301), which reaches the host: …`, or null when the call inherits no reach. */
export function inheritedReach (action: string, resources: ResourceFacts): string | null {
  const found: string[] = []
  const target = resources.target
  if (target?.exists === true && (ENTERING.has(action) || JOINING_TARGET.has(action))) {
    const text = describeReach(target)
    if (text !== null) found.push(`${ENTERING.has(action) ? 'enters' : 'joins'} ${text}`)
  }
  if (TAKING_REFERENCES.has(action)) {
    for (const ref of resources.references) {
      const text = ref.exists ? describeReach(ref) : null
      if (text !== null) found.push(`takes from ${text}`)
    }
  }
  return found.length === 0 ? null : `${action} ${found.join('; ')}`
}

function describeReach (resource: ResolvedResource): string | null {
  if (resource.hostReach === undefined || resource.hostReach.length === 0) return null
  const kind = resource.ref.kind === 'exec' ? 'the exec of container' : resource.ref.kind
  const id = resource.containerId ?? resource.id
  const name = resource.name ?? resource.ref.ref
  const shown = id !== undefined && id !== name ? `${name} (${id.slice(0, 12)})` : name
  return `${kind} ${shown}, which reaches the host: ${resource.hostReach.map((e) => `${e.setting} (${e.detail})`).join(', ')}`
}
