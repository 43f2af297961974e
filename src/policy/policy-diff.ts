// What changed between two policies, as a list a person and a program can read (PCI DSS 10.2.1.5: changes to
// identities and privileges): members added, removed or moved between roles, roles' patterns and rules, projects,
// SSH keys (as fingerprints, never the key), elevation rules, and every other setting by its JSON path. Pure: the
// `policy.reload` record and `portcullis policy diff` both print this list.
//
// Fail closed: a part of the policy this file does not know is still compared, as a generic "changed" at its
// path, so a new schema field cannot change privileges unseen.

import { createHash } from 'node:crypto'
import { parseAuthorizedKey } from '../ssh/authorized-keys.js'
import type { PolicyDocument } from './compile.js'

type PolicyChangeKind =
  | 'project.added' | 'project.removed'
  | 'member.added' | 'member.removed' | 'member.moved'
  | 'role.added' | 'role.removed' | 'role.changed'
  | 'user.added' | 'user.removed'
  | 'ssh-key.added' | 'ssh-key.removed' | 'ssh-key.changed'
  | 'elevation.changed'
  | 'setting.changed'

export interface PolicyChange {
  readonly kind: PolicyChangeKind
  /** The JSON path of what changed, e.g. `$.projects.web.members.alice`. */
  readonly path: string
  /** The project of a member change; `*` for global members. */
  readonly project?: string
  readonly role?: string
  readonly user?: string
  /** Which part of a role changed: allow, deny, inherits, unsafe, exec, description, or a part this file does not know. */
  readonly part?: string
  /** A scalar's old and new value (a role, a number, a duration); absent when the value is not shown. */
  readonly from?: string | number | boolean | null
  readonly to?: string | number | boolean | null
  /** List entries added and removed (patterns, registries, role names). */
  readonly added?: readonly string[]
  readonly removed?: readonly string[]
  /** In a record only: how many more entries were added or removed than `added` / `removed` list. */
  readonly addedOmitted?: number
  readonly removedOmitted?: number
  /** An SSH key's SHA256 fingerprint as `ssh-keygen -l` prints it. */
  readonly fingerprint?: string
}

type Json = unknown
type Obj = Record<string, Json>

/** The changes from `before` to `after`, in a stable order (by section, then name). */
export function diffPolicies (before: PolicyDocument, after: PolicyDocument): PolicyChange[] {
  const changes: PolicyChange[] = []
  const a = before as unknown as Obj
  const b = after as unknown as Obj
  for (const key of keysOf(a, b)) {
    const path = `$${member(key)}`
    switch (key) {
      case 'roles': diffRoles(obj(a.roles), obj(b.roles), changes); break
      case 'projects': diffProjects(obj(a.projects), obj(b.projects), changes); break
      case 'global': diffObject(obj(a.global), obj(b.global), path, changes, {
        members: (x, y, p) => diffMembers(obj(x), obj(y), p, '*', changes)
      }); break
      case 'users': diffUsers(obj(a.users), obj(b.users), changes); break
      case 'elevation': diffGeneric(a[key], b[key], path, changes, 'elevation.changed'); break
      default: diffGeneric(a[key], b[key], path, changes, 'setting.changed')
    }
  }
  return changes
}

type PartDiffer = (before: Json, after: Json, path: string) => void

/** Compares two objects key by key: a key with a differ of its own uses it, every other key (known or not) is compared generically. */
function diffObject (a: Obj, b: Obj, path: string, changes: PolicyChange[], parts: Record<string, PartDiffer>, fallback?: (key: string, x: Json, y: Json, p: string) => void): void {
  for (const key of keysOf(a, b)) {
    const p = `${path}${member(key)}`
    const own = Object.hasOwn(parts, key) ? parts[key] : undefined
    if (own !== undefined) own(a[key], b[key], p)
    else if (fallback !== undefined) fallback(key, a[key], b[key], p)
    else diffGeneric(a[key], b[key], p, changes, 'setting.changed')
  }
}

function diffRoles (a: Obj, b: Obj, changes: PolicyChange[]): void {
  for (const role of keysOf(a, b)) {
    const path = `$.roles${member(role)}`
    if (!(role in a)) { changes.push({ kind: 'role.added', path, role }); continue }
    if (!(role in b)) { changes.push({ kind: 'role.removed', path, role }); continue }
    const list = (part: string) => (x: Json, y: Json, p: string) => {
      const from = listOf(x)
      const to = listOf(y)
      const added = to.filter((e) => !from.includes(e))
      const removed = from.filter((e) => !to.includes(e))
      if (added.length > 0 || removed.length > 0) changes.push({ kind: 'role.changed', path: p, role, part, ...(added.length > 0 ? { added } : {}), ...(removed.length > 0 ? { removed } : {}) })
    }
    diffObject(obj(a[role]), obj(b[role]), path, changes, {
      allow: list('allow'),
      deny: list('deny'),
      // One name or a list: the same when they name the same roles.
      inherits: list('inherits'),
      elevation: (x, y, p) => diffGeneric(x, y, p, changes, 'elevation.changed', { role })
    }, (part, x, y, p) => diffGeneric(x, y, p, changes, 'role.changed', { role, part }))
  }
}

function diffProjects (a: Obj, b: Obj, changes: PolicyChange[]): void {
  for (const project of keysOf(a, b)) {
    const path = `$.projects${member(project)}`
    const before = obj(a[project])
    const after = obj(b[project])
    if (!(project in a)) changes.push({ kind: 'project.added', path, project })
    if (!(project in b)) changes.push({ kind: 'project.removed', path, project })
    // A project added or removed adds or removes its members too: each is a change of privilege.
    if (!(project in a) || !(project in b)) {
      diffMembers(obj(before.members), obj(after.members), `${path}.members`, project, changes)
      continue
    }
    diffObject(before, after, path, changes, {
      members: (x, y, p) => diffMembers(obj(x), obj(y), p, project, changes),
      elevation: (x, y, p) => diffGeneric(x, y, p, changes, 'elevation.changed', { project })
    })
  }
}

function diffMembers (a: Obj, b: Obj, path: string, project: string, changes: PolicyChange[]): void {
  for (const user of keysOf(a, b)) {
    const p = `${path}${member(user)}`
    const from = a[user]
    const to = b[user]
    if (from === undefined) changes.push({ kind: 'member.added', path: p, project, user, role: String(to) })
    else if (to === undefined) changes.push({ kind: 'member.removed', path: p, project, user, role: String(from) })
    else if (from !== to) changes.push({ kind: 'member.moved', path: p, project, user, from: String(from), to: String(to) })
  }
}

function diffUsers (a: Obj, b: Obj, changes: PolicyChange[]): void {
  for (const user of keysOf(a, b)) {
    const path = `$.users${member(user)}`
    if (!(user in a)) changes.push({ kind: 'user.added', path, user })
    if (!(user in b)) changes.push({ kind: 'user.removed', path, user })
    diffObject(obj(a[user]), obj(b[user]), path, changes, {
      sshKeys: (x, y, p) => diffSshKeys(listOf(x), listOf(y), p, user, changes)
    }, (part, x, y, p) => {
      // Contact details and levels of a user who came or went are part of that change.
      if (user in a && user in b) diffGeneric(x, y, p, changes, 'setting.changed', { user, part })
    })
  }
}

function diffSshKeys (a: string[], b: string[], path: string, user: string, changes: PolicyChange[]): void {
  const before = keyLines(a)
  const after = keyLines(b)
  for (const [fingerprint, line] of before) {
    const now = after.get(fingerprint)
    if (now === undefined) changes.push({ kind: 'ssh-key.removed', path, user, fingerprint })
    else if (now !== line) changes.push({ kind: 'ssh-key.changed', path, user, fingerprint, part: 'options or comment' })
  }
  for (const fingerprint of after.keys()) {
    if (!before.has(fingerprint)) changes.push({ kind: 'ssh-key.added', path, user, fingerprint })
  }
}

/** Fingerprint → the line. A line that does not parse (a policy that was not validated) is named by the hash of the whole line. */
function keyLines (lines: string[]): Map<string, string> {
  const keys = new Map<string, string>()
  for (const line of lines) keys.set(sshFingerprint(line), line.trim())
  return keys
}

/** `SHA256:<base64 without padding>` of the key blob, as `ssh-keygen -lf` prints it. */
function sshFingerprint (line: string): string {
  let blob: Buffer
  try {
    blob = parseAuthorizedKey(line).publicSSH
  } catch {
    return `line-sha256:${createHash('sha256').update(line).digest('base64').replace(/=+$/, '')}`
  }
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/** Any value: scalars by value, lists of scalars by entries added and removed, objects key by key. */
function diffGeneric (a: Json, b: Json, path: string, changes: PolicyChange[], kind: PolicyChangeKind, about: Partial<PolicyChange> = {}): void {
  if (same(a, b)) return
  // A section or list that appears or goes is compared with an empty one, so each setting in it is named.
  if (a === undefined && isObj(b)) a = {}
  if (b === undefined && isObj(a)) b = {}
  if (a === undefined && Array.isArray(b)) a = []
  if (b === undefined && Array.isArray(a)) b = []
  if (isObj(a) && isObj(b)) {
    for (const key of keysOf(a, b)) diffGeneric(a[key], b[key], `${path}${member(key)}`, changes, kind, about)
    return
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const from = a.map(entryText)
    const to = b.map(entryText)
    const added = to.filter((e) => !from.includes(e))
    const removed = from.filter((e) => !to.includes(e))
    if (added.length > 0 || removed.length > 0) changes.push({ ...about, kind, path, ...(added.length > 0 ? { added } : {}), ...(removed.length > 0 ? { removed } : {}) })
    else changes.push({ ...about, kind, path, part: about.part ?? 'order' })
    return
  }
  // A URL may carry a secret (a webhook's token): say it changed, not what it is.
  const shown = !/webhook/i.test(path)
  changes.push({ ...about, kind, path, ...(shown ? { from: scalar(a), to: scalar(b) } : {}) })
}

const MAX_VALUE = 200

function scalar (value: Json): string | number | boolean | null {
  if (value === undefined || value === null) return null
  if (typeof value === 'number' || typeof value === 'boolean') return value
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE)}… (${text.length} characters)` : text
}

function entryText (value: Json): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE)}…` : text
}

function listOf (value: Json): string[] {
  if (value === undefined || value === null) return []
  return (Array.isArray(value) ? value : [value]).map(entryText)
}

function same (a: Json, b: Json): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))
}

function canonical (value: Json): Json {
  if (Array.isArray(value)) return value.map(canonical)
  if (isObj(value)) return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]))
  return value
}

function isObj (value: Json): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function obj (value: Json): Obj {
  return isObj(value) ? value : {}
}

function keysOf (a: Obj, b: Obj): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
}

function member (name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`
}

/** One line per change, for people. */
export function describeChange (c: PolicyChange): string {
  const where = c.project === '*' ? 'globally' : c.project !== undefined ? `in project ${c.project}` : ''
  const list = (): string => [c.added !== undefined ? `added ${c.added.join(', ')}` : '', c.removed !== undefined ? `removed ${c.removed.join(', ')}` : ''].filter((s) => s !== '').join('; ')
  const values = (): string => c.added !== undefined || c.removed !== undefined ? list() : c.part === 'order' ? 'order changed' : 'from' in c ? `${show(c.from)} → ${show(c.to)}` : 'changed'
  switch (c.kind) {
    case 'project.added': return `project ${c.project} added`
    case 'project.removed': return `project ${c.project} removed`
    case 'member.added': return `${c.user} added as ${c.role} ${where}`
    case 'member.removed': return `${c.user} removed (was ${c.role}) ${where}`
    case 'member.moved': return `${c.user} moved from ${c.from} to ${c.to} ${where}`
    case 'role.added': return `role ${c.role} added`
    case 'role.removed': return `role ${c.role} removed`
    case 'role.changed': return `role ${c.role} ${c.part}: ${values()} (${c.path})`
    case 'user.added': return `user ${c.user} added`
    case 'user.removed': return `user ${c.user} removed`
    case 'ssh-key.added': return `SSH key ${c.fingerprint} added for ${c.user}`
    case 'ssh-key.removed': return `SSH key ${c.fingerprint} removed from ${c.user}`
    case 'ssh-key.changed': return `SSH key ${c.fingerprint} of ${c.user}: ${c.part}`
    case 'elevation.changed': return `elevation ${c.path}: ${values()}`
    case 'setting.changed': return `changed: ${c.path}: ${values()}`
  }
}

function show (value: PolicyChange['from']): string {
  return value === null || value === undefined ? '(unset)' : typeof value === 'string' ? JSON.stringify(value) : String(value)
}

/** Each kind's name in a summary: one, several. */
const SUMMARY_NAMES: Record<PolicyChangeKind, readonly [string, string]> = {
  'project.added': ['project added', 'projects added'],
  'project.removed': ['project removed', 'projects removed'],
  'member.added': ['member added', 'members added'],
  'member.removed': ['member removed', 'members removed'],
  'member.moved': ['member moved', 'members moved'],
  'role.added': ['role added', 'roles added'],
  'role.removed': ['role removed', 'roles removed'],
  'role.changed': ['role change', 'role changes'],
  'user.added': ['user added', 'users added'],
  'user.removed': ['user removed', 'users removed'],
  'ssh-key.added': ['SSH key added', 'SSH keys added'],
  'ssh-key.removed': ['SSH key removed', 'SSH keys removed'],
  'ssh-key.changed': ['SSH key changed', 'SSH keys changed'],
  'elevation.changed': ['elevation change', 'elevation changes'],
  'setting.changed': ['other setting changed', 'other settings changed']
}

/** One line: how many changes of each kind ("2 members added, 1 SSH key removed"), or that nothing changed. */
export function summarizeChanges (changes: readonly PolicyChange[]): string {
  if (changes.length === 0) return 'no change'
  const counts = new Map<PolicyChangeKind, number>()
  for (const c of changes) counts.set(c.kind, (counts.get(c.kind) ?? 0) + 1)
  return [...counts].map(([kind, n]) => `${n} ${SUMMARY_NAMES[kind][n === 1 ? 0 : 1]}`).join(', ')
}

/** The most changes a `policy.reload` record carries; `portcullis policy diff` prints them all. */
export const MAX_RECORDED_CHANGES = 100

/** The most entries one change's `added` or `removed` carries in a record. */
export const MAX_RECORDED_ENTRIES = 50

/** The changes as a record's fields: the first MAX_RECORDED_CHANGES, each with at most MAX_RECORDED_ENTRIES list
 * entries, and how many more there are. */
export function recordedChanges (changes: readonly PolicyChange[]): { changes: readonly PolicyChange[], changesOmitted?: number } {
  const kept = changes.slice(0, MAX_RECORDED_CHANGES).map(boundEntries)
  return changes.length <= MAX_RECORDED_CHANGES ? { changes: kept } : { changes: kept, changesOmitted: changes.length - MAX_RECORDED_CHANGES }
}

function boundEntries (change: PolicyChange): PolicyChange {
  const { added, removed } = change
  if ((added?.length ?? 0) <= MAX_RECORDED_ENTRIES && (removed?.length ?? 0) <= MAX_RECORDED_ENTRIES) return change
  return {
    ...change,
    ...(added !== undefined && added.length > MAX_RECORDED_ENTRIES ? { added: added.slice(0, MAX_RECORDED_ENTRIES), addedOmitted: added.length - MAX_RECORDED_ENTRIES } : {}),
    ...(removed !== undefined && removed.length > MAX_RECORDED_ENTRIES ? { removed: removed.slice(0, MAX_RECORDED_ENTRIES), removedOmitted: removed.length - MAX_RECORDED_ENTRIES } : {})
  }
}
