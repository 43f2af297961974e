// Which project a prune is judged in. dockerd prunes every matching object on the daemon, whatever its project,
// so a prune is a call in project P only when its label filters confine it to P's objects; otherwise (and always
// for images and the build cache, whose labels are user data) it touches every project and needs a global role.

import type { PruneFacts } from './types.js'
import type { PolicyView, Membership } from './policy-model.js'
import { denied, type Decision } from './decision.js'
import { PROJECT_LABEL } from './project-label.js'


export type PruneScope = { project: string | null, subject: string } | { refusal: Decision }

/** The project the prune is judged in (null: every project, global roles only), or why it is refused outright. */
export function pruneScope (policy: PolicyView, action: string, prune: PruneFacts, memberships: readonly Membership[]): PruneScope {
  const facts = { action }
  const filter = (project: string): string => `--filter label=${PROJECT_LABEL}=${project}`
  const mine = [...new Set(memberships.filter((m) => m.project !== null && m.role.allows(action)).map((m) => m.project as string))]
  const command = `docker ${action === 'container.prune' ? 'container' : action.split('.')[0]} prune`
  const yours = mine.length > 0
    ? `: ${command} ${filter(mine[0]!)}${mine.length > 1 ? ` (you may prune in ${mine.join(', ')})` : ''}`
    : `; you hold ${action} in no project, so ask ${globalHolders(policy, action)}`

  // A global role that does not hold the action would only be refused later, without the filter that helps.
  const global = memberships.some((m) => m.project === null && m.role.allows(action))

  if (prune.problem !== undefined) {
    return { refusal: denied('PRUNE_UNCONFINED', `${action}: portcullis cannot read its filters as the daemon would (${prune.problem}); confine it to a project where you hold it with one ${filter('<project>')}${yours}`, facts) }
  }
  if (prune.globalOnly) {
    if (global) return { project: null, subject: `${action} of every project` }
    return {
      refusal: denied('PRUNE_GLOBAL_ONLY', `${action} removes ${prune.removes} of every project: they carry no project label portcullis judged ` +
        `(image labels are user data), so no filter confines it and only global roles may; ask ${globalHolders(policy, action)}`, facts)
    }
  }
  if (prune.projects.length > 1) {
    return { refusal: denied('PRUNE_UNCONFINED', `${action} names several projects (${prune.projects.join(', ')}); an object has one project, so name exactly one${yours}`, facts) }
  }
  const project = prune.projects[0]
  if (project !== undefined) {
    if (!policy.projects.has(project)) {
      return { refusal: denied('UNKNOWN_PROJECT', `${action} is confined to project "${project}", which is not in the policy; use ${mine.length > 0 ? filter(mine[0]!) : 'one of your projects'}`, { action, project }) }
    }
    return { project, subject: `${action} confined to project ${project}` }
  }
  if (global) return { project: null, subject: `${action} of every project` }
  return {
    refusal: denied('PRUNE_UNCONFINED', `${action} would remove ${prune.removes} of every project; confine it to a project where ` +
      `you hold it with ${filter('<project>')} (docker system prune takes the same filter)${yours}`, facts)
  }
}

function globalHolders (policy: PolicyView, action: string): string {
  const users = [...policy.global].filter(([, role]) => role.allows(action)).map(([user]) => user)
  return users.length > 0 ? `a global admin (${users.slice(0, 5).join(', ')}) to run it` : 'a portcullis admin to give a global role the action'
}
