// Which records `audit tail` shows. Filters (user, decision, action glob) narrow the tail; the plugin's own
// look-ups (authMethod internal), the bridge's housekeeping calls and `system.ping` are noise to a person
// watching and are hidden unless `all` is asked for. Applied in the daemon, so a followed tail sends only what
// is shown; hidden records are counted so the CLI can say how many it left out.
import { actionPattern } from './query.js'
import type { AuditDecision, AuditRecord } from './record.js'

export interface TailFilter {
  user?: string
  decision?: AuditDecision
  /** A glob over actions: `*` matches any run of characters. */
  action?: string
  /** Show the own look-ups, housekeeping and pings too. */
  all: boolean
}

export type TailVerdict = 'show' | 'hidden' | 'filtered'

/** Records the daemon makes about itself (its own look-ups, the bridge's housekeeping) and pings. */
function isHousekeeping (record: AuditRecord): boolean {
  return record.authMethod === 'internal' || record.authMethod === 'bridge-housekeeping' || record.action === 'system.ping'
}

/** The filter as a predicate: `filtered` when a filter excludes the record, `hidden` when only `all` would show it. */
export function tailMatcher (filter: TailFilter): (record: AuditRecord) => TailVerdict {
  const action = filter.action !== undefined ? actionPattern(filter.action) : null
  return (record) => {
    if (filter.user !== undefined && record.user !== filter.user) return 'filtered'
    if (filter.decision !== undefined && record.decision !== filter.decision) return 'filtered'
    if (action !== null && (record.action === null || !action.test(record.action))) return 'filtered'
    if (!filter.all && isHousekeeping(record)) return 'hidden'
    return 'show'
  }
}

/** The query string `audit tail` sends for a filter (and the route reads back with tailFilterFromQuery). */
export function tailFilterToParams (filter: TailFilter): URLSearchParams {
  const params = new URLSearchParams()
  if (filter.user !== undefined) params.set('user', filter.user)
  if (filter.decision !== undefined) params.set('decision', filter.decision)
  if (filter.action !== undefined) params.set('action', filter.action)
  params.set('all', String(filter.all))
  return params
}

/** A filter from a route's query, or the reason a value is not one it can take. */
export function tailFilterFromQuery (query: Record<string, unknown>): TailFilter | string {
  const text = (name: string): string | undefined => typeof query[name] === 'string' && query[name] !== '' ? query[name] : undefined
  const decision = text('decision')
  if (decision !== undefined && decision !== 'allow' && decision !== 'deny') return 'decision takes allow or deny'
  const user = text('user')
  const action = text('action')
  return {
    ...(user !== undefined ? { user } : {}),
    ...(decision !== undefined ? { decision } : {}),
    ...(action !== undefined ? { action } : {}),
    // Hiding is asked for (all=false, which `audit tail` sends without --all): other readers of the route get
    // every record, as before.
    all: query.all !== 'false' && query.all !== '0'
  }
}
