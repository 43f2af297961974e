// What `policy validate` warns about: allow patterns a deny takes away. A deny anywhere in a role's inheritance wins
// over every allow, its own or inherited (the safe rule), so an allow that only denied actions match never takes
// effect, and a deny written in a parent silently narrows the allows of every role that inherits it.

import type { DenySource } from '../core/policy-model.js'
import type { CompiledPolicy } from './compile.js'
import type { PolicyProblem } from './compile.js'
import { GlobSet } from '../core/glob.js'

/** Actions named in a warning, at most. */
const LISTED = 5

export function shadowedAllowWarnings (policy: CompiledPolicy, knownActions: readonly string[]): PolicyProblem[] {
  const warnings: PolicyProblem[] = []
  for (const [name, role] of policy.roles) {
    const own = policy.document.roles[name]?.allow ?? []
    own.forEach((pattern, i) => {
      const glob = new GlobSet([pattern])
      const matched = knownActions.filter((action) => glob.matches(action))
      // A pattern that matches no action at all is an error already (checkPatterns).
      if (matched.length === 0) return
      const denied = matched.map((action) => ({ action, by: role.deniedBy(action) })).filter((d): d is { action: string, by: DenySource } => d.by !== null)
      if (denied.length === 0) return
      const path = `$.roles${key(name)}.allow[${i}]`
      if (denied.length === matched.length) {
        warnings.push({ path, message: `"${pattern}" can never take effect: every action it matches is refused by ${sources(denied.map((d) => d.by), name)} (deny wins over allow)` })
        return
      }
      // Partly denied by a deny written in this same role is deliberate ("container.* but not exec"); by a parent's is a surprise.
      const inherited = denied.filter((d) => d.by.role !== name)
      if (inherited.length === 0) return
      const shown = inherited.slice(0, LISTED).map((d) => d.action).join(', ') + (inherited.length > LISTED ? `, … (${inherited.length} actions)` : '')
      warnings.push({ path, message: `"${pattern}" does not allow ${shown}: refused by ${sources(inherited.map((d) => d.by), name)} (deny wins over allow, across inheritance)` })
    })
  }
  return warnings
}

function sources (found: readonly DenySource[], role: string): string {
  const seen = new Map<string, DenySource>()
  for (const source of found) seen.set(`${source.role}\u0000${source.pattern}`, source)
  return [...seen.values()].map((s) => s.role === role ? `its own deny pattern "${s.pattern}"` : `deny pattern "${s.pattern}" inherited from role ${s.role}`).join(', ')
}

function key (name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`
}

/** Separation of duties (等保 三权分立): an auditor who also holds a role could change what they audit. */
export function auditorDutyWarnings (policy: CompiledPolicy): PolicyProblem[] {
  const warnings: PolicyProblem[] = []
  const { document } = policy
  ;(document.audit?.auditors ?? []).forEach((user, i) => {
    const held = [
      ...Object.entries(document.projects).filter(([, p]) => p.members[user] !== undefined).map(([name, p]) => `${p.members[user]!} in ${name}`),
      ...(document.global?.members?.[user] !== undefined ? [`${document.global.members[user]} globally`] : [])
    ]
    if (held.length === 0) return
    warnings.push({ path: `$.audit.auditors[${i}]`, message: `auditor "${user}" also holds ${held.join(', ')}: separation of duties wants auditors who administer nothing they audit` })
  })
  return warnings
}
