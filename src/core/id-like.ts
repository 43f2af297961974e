// Refusals for names the daemon could read as IDs (see request/object-names.ts): new objects may not take such
// names, and a reference that the daemon could read otherwise by the time it acts is refused.

import type { ResolvedResource, ResourceFacts } from './types.js'
import { denied, type Decision } from './decision.js'

/** For a create or rename whose new name is all lowercase hex. */
export function idLikeNameRefusal (action: string, name: string): Decision {
  const kind = action.split('.')[0]
  return denied('ID_LIKE_NAME', `${action}: the name "${name}" is all lowercase hex, so the daemon could read it as the ID ` +
    `(or ID prefix) of another ${kind}; choose a name with another character, e.g. "${name}-1"`, { action })
}

/** The first target or reference that is all hex and was found by name, or matched nothing; null when none. */
export function readAsIdRefusal (action: string, resources: ResourceFacts): Decision | null {
  const all: Array<ResolvedResource | undefined> = [resources.target, ...resources.references]
  for (const found of all) {
    if (found?.readAsId === undefined) continue
    const { kind, ref } = found.ref
    if (found.readAsId === 'prefix') {
      // Only a create keeps the reference (the daemon finds the network again at every start, maybe another one).
      if (action !== 'container.create' || found === resources.target) continue
      return denied('AMBIGUOUS_REFERENCE', `${action}: "${ref}" is an ID prefix of network ${found.name ?? ref}; the daemon looks the network up ` +
        `again by that prefix at every start, when it may be another network's; name the network by its name (${found.name ?? ref}) or full ID`, { action })
    }
    const list = kind === 'network' ? 'docker network ls --no-trunc' : 'docker ps -a --no-trunc'
    const reason = found.readAsId === 'name'
      ? `${action}: "${ref}" is all hex and found ${kind} ${ref} by its name, but the daemon could read it as the ID prefix of another ` +
        `${kind} by the time it acts; name it by its full ID (${list})` +
        (kind === 'container' ? ' or rename it to a name that is not all hex' : '')
      : `${action}: "${ref}" matches no ${kind} now, but it is all hex, so the daemon could read it as the ID prefix of a ${kind} ` +
        `created meanwhile; name the ${kind} by its full ID (${list}) or its name`
    return denied('AMBIGUOUS_REFERENCE', reason, { action })
  }
  return null
}
