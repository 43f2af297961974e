// Who created each exec: remembered when the daemon answers an exec create portcullis allowed (201 {"Id": …}),
// so that an exec start is judged on its creator, not only on its container. Bounded per user and in all, so no
// caller can make portcullis hold more, nor push other users' execs out; a forgotten exec has no known creator
// and only an unsafe role may start it (fail closed).

import type { ExecCreator, Identity, ResourceFacts } from '../core/types.js'

const FULL_ID = /^[0-9a-f]{64}$/

export interface ExecCreatorsOptions {
  /** Execs kept in all (oldest forgotten first). */
  maxEntries?: number
  /** Execs kept per creator: a caller that makes more forgets its own oldest ones. */
  maxPerUser?: number
}

interface Entry extends ExecCreator {
  key: string
}

export class ExecCreators {
  private readonly byId = new Map<string, Entry>()
  private readonly perUser = new Map<string, string[]>()
  private readonly maxEntries: number
  private readonly maxPerUser: number

  constructor (options: ExecCreatorsOptions = {}) {
    this.maxEntries = options.maxEntries ?? 50_000
    this.maxPerUser = options.maxPerUser ?? 2_000
  }

  /** Remembers that `identity` created exec `id`; ignores anything that is not a full exec ID. */
  remember (id: string, identity: Identity): void {
    if (!FULL_ID.test(id) || this.byId.has(id)) return
    const key = `${identity.user ?? ''}\u0000${identity.session ?? ''}`
    let own = this.perUser.get(key)
    if (own === undefined) this.perUser.set(key, own = [])
    while (own.length >= this.maxPerUser) this.forget(own[0]!)
    while (this.byId.size >= this.maxEntries) this.forget(this.byId.keys().next().value!)
    own.push(id)
    this.byId.set(id, { key, user: identity.user, ...(identity.session !== undefined ? { session: identity.session } : {}) })
  }

  /** The creator, or null when portcullis did not see this exec created (or has forgotten it). */
  creatorOf (id: string): ExecCreator | null {
    const entry = this.byId.get(id)
    if (entry === undefined) return null
    return entry.session !== undefined ? { user: entry.user, session: entry.session } : { user: entry.user }
  }

  get size (): number {
    return this.byId.size
  }

  private forget (id: string): void {
    const entry = this.byId.get(id)
    if (entry === undefined) return
    this.byId.delete(id)
    const own = this.perUser.get(entry.key)
    if (own === undefined) return
    const at = own.indexOf(id)
    if (at >= 0) own.splice(at, 1)
    if (own.length === 0) this.perUser.delete(entry.key)
  }
}

/** The exec ID in a 201 answer to an exec create: the daemon sends the body base64-encoded JSON `{"Id": "…"}`. */
export function createdExecId (status: number | undefined, body: string | null | undefined): string | null {
  if (status !== 201 || typeof body !== 'string' || body === '' || body.length > 4096) return null
  try {
    const parsed = JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as unknown
    const id = parsed !== null && typeof parsed === 'object' ? (parsed as { Id?: unknown }).Id : undefined
    return typeof id === 'string' && FULL_ID.test(id) ? id : null
  } catch {
    return null
  }
}

/** The resources with the target exec's creator filled in (a copy: resolved answers are shared). */
export function withExecCreator (resources: ResourceFacts, creators: ExecCreators): ResourceFacts {
  const target = resources.target
  if (target?.exec === undefined || target.id === undefined) return resources
  return { ...resources, target: { ...target, exec: { ...target.exec, creator: creators.creatorOf(target.id) } } }
}
