// Filtered reads of the audit trail: who did what, where, when. A query reads one snapshot of the store, so
// records appended while it runs are not seen and the result is one consistent cut of the chain.
//
// Time needs no index: seq order is append order, so a time bound becomes a seq bound by binary search over the
// records (seqAtOrAfter). User, project, container and session go through the indexes (indexes.ts): the query
// reads the entries of the most selective one (found by counting them side by side, a thousand keys per read,
// until the first runs out) and fetches those records. Every record is then checked against the whole filter,
// so an index narrows the read but never decides what is returned.

import { parseDuration } from '../core/duration.js'
import { storageError, tablesOverlapping } from './storage-errors.js'
import type { SealedRecord } from './chain.js'
import { AuditError } from './errors.js'
import { collectContainerNames, containerIndexName, hasIndexes, indexPrefix, seqFromIndexKey, seqHex, type IndexKind } from './indexes.js'
import type { AuditDb } from './level.js'
import { RECORD_RANGE, isSessionId, recordKey } from './keys.js'
import { parseRecord, type AuditDecision, type AuditRecord } from './record.js'

export interface AuditFilter {
  /** Records at or after this time. */
  since?: Date
  /** Records before this time (exclusive, so consecutive ranges neither overlap nor leave a gap). */
  until?: Date
  user?: string
  project?: string
  /** A container's name, or its ID (12 to 64 hex digits). */
  container?: string
  /** An action, or a glob over actions: `*` matches any run of characters (`container.*`). */
  action?: string
  decision?: AuditDecision
  session?: string
  /** First seq (inclusive). */
  fromSeq?: number
  /** Last seq (inclusive). */
  toSeq?: number
}

/** A record with the exact text stored for it (what `recordHashMatches` checks). */
export type StoredRecord = SealedRecord

export type AuditSnapshot = ReturnType<AuditDb['snapshot']>

export interface QueryOptions {
  /** Read this snapshot; without one the query takes its own for its whole run. */
  snapshot?: AuditSnapshot
}

/** Matching records in seq order, streamed in constant memory. */
export async function * queryRecords (db: AuditDb, filter: AuditFilter, options: QueryOptions = {}): AsyncIterable<AuditRecord> {
  for await (const stored of queryStored(db, filter, options)) yield stored.record
}

/** Matching records in seq order with their stored text (exports write that text, byte for byte). */
export async function * queryStored (db: AuditDb, filter: AuditFilter, options: QueryOptions = {}): AsyncIterable<StoredRecord> {
  const snapshot = options.snapshot ?? db.snapshot()
  try {
    yield * run(db, filter, snapshot)
  } catch (err) {
    throw storageError(err, db.location)
  } finally {
    if (options.snapshot === undefined) await snapshot.close()
  }
}

async function * run (db: AuditDb, filter: AuditFilter, snapshot: AuditSnapshot): AsyncIterable<StoredRecord> {
  const bounds = await seqBounds(db, filter, snapshot)
  if (bounds === null) return
  const matches = recordMatcher(filter)
  const lookups = indexLookups(filter)
  if (lookups.length === 0 || !await hasIndexes(db, snapshot)) {
    for await (const [key, text] of db.iterator({ gte: recordKey(bounds.from), lte: recordKey(bounds.to), snapshot })) {
      const record = parse(key, text)
      if (matches(record)) yield { record, text }
    }
    return
  }
  const ranges = lookups.map(([kind, name]) => indexRange(indexPrefix(kind, name), bounds.from, bounds.to))
  const range = ranges.length === 1 ? ranges[0]! : ranges[await smallest(db, snapshot, ranges)]!
  let seqs: number[] = []
  for await (const key of db.keys({ ...range, snapshot })) {
    seqs.push(seqFromIndexKey(key))
    if (seqs.length < FETCH_BATCH) continue
    yield * fetch(db, snapshot, seqs, matches)
    seqs = []
  }
  yield * fetch(db, snapshot, seqs, matches)
}

interface KeyRange { gte: string, lte: string }

function indexRange (prefix: string, from: number, to: number): KeyRange {
  return { gte: prefix + seqHex(from), lte: prefix + seqHex(to) }
}

/** Keys counted per read while looking for the smallest index range. */
const COUNT_BATCH = 1000

/** Which range holds the fewest keys: all are read side by side until the first one runs out, so this costs
 * about (number of ranges) x (size of the smallest) keys, read a thousand at a time. */
async function smallest (db: AuditDb, snapshot: AuditSnapshot, ranges: KeyRange[]): Promise<number> {
  const iterators = ranges.map((range) => db.keys({ ...range, snapshot }))
  try {
    for (;;) {
      for (let i = 0; i < iterators.length; i++) {
        if ((await iterators[i]!.nextv(COUNT_BATCH)).length < COUNT_BATCH) return i
      }
    }
  } finally {
    await Promise.all(iterators.map(async (iterator) => await iterator.close()))
  }
}

/** Records fetched per getMany: fewer round trips into LevelDB than one get each. */
const FETCH_BATCH = 128

async function * fetch (db: AuditDb, snapshot: AuditSnapshot, seqs: number[], matches: (record: AuditRecord) => boolean): AsyncIterable<StoredRecord> {
  if (seqs.length === 0) return
  const keys = seqs.map(recordKey)
  const texts = await db.getMany(keys, { snapshot })
  for (let i = 0; i < keys.length; i++) {
    const text = texts[i]
    // An index entry without its record: the record was expired and its entries not yet, or the store was
    // edited; `audit verify` is what reports the latter.
    if (text === undefined) continue
    const record = parse(keys[i]!, text)
    if (matches(record)) yield { record, text }
  }
}

function parse (key: string, text: string): AuditRecord {
  const record = parseRecord(text)
  if (record === null) throw new AuditError('PORTCULLIS_AUDIT_CORRUPT', [key, 'not an audit record'])
  return record
}

/** The seqs [from, to] the filter's seq and time bounds allow, or null when they allow none. */
async function seqBounds (db: AuditDb, filter: AuditFilter, snapshot: AuditSnapshot): Promise<{ from: number, to: number } | null> {
  let from = Math.max(1, filter.fromSeq ?? 1)
  let to = Math.min(Number.MAX_SAFE_INTEGER, filter.toSeq ?? Number.MAX_SAFE_INTEGER)
  if (filter.since !== undefined) from = Math.max(from, await seqAtOrAfter(db, filter.since, snapshot))
  if (filter.until !== undefined) to = Math.min(to, await seqAtOrAfter(db, filter.until, snapshot) - 1)
  return from <= to ? { from, to } : null
}

/**
 * The seq of the first record stamped at or after `time`, or the seq after the last record when none is (1 for
 * an empty store). A binary search over the records: it assumes record times never go backwards, which holds
 * unless the host clock was stepped back; queries also check each record's time, so such a step can only hide
 * records around it, never add wrong ones.
 */
export async function seqAtOrAfter (db: AuditDb, time: Date, snapshot?: AuditSnapshot): Promise<number> {
  try {
    return await searchSeqAtOrAfter(db, time, snapshot)
  } catch (err) {
    throw storageError(err, db.location, undefined, tablesOverlapping(db, RECORD_RANGE))
  }
}

async function searchSeqAtOrAfter (db: AuditDb, time: Date, snapshot?: AuditSnapshot): Promise<number> {
  const iso = time.toISOString()
  const first = await recordAtOrAfter(db, 0, snapshot)
  if (first === null) return 1
  if (first.time >= iso) return first.seq
  const last = await lastRecord(db, snapshot)
  if (last === null || last.time < iso) return (last?.seq ?? first.seq) + 1
  // Records up to `low` are before `time`; records from `high` on are at or after it.
  let low = first.seq
  let high = last.seq
  while (high - low > 1) {
    const middle = low + Math.floor((high - low) / 2)
    // The first record at or after `middle`: a hole in the seqs (there is none in a sound chain) is stepped over.
    const probe = await recordAtOrAfter(db, middle, snapshot)
    if (probe === null || probe.seq >= high || probe.time >= iso) high = middle
    else low = probe.seq
  }
  return high
}

async function recordAtOrAfter (db: AuditDb, seq: number, snapshot: AuditSnapshot | undefined): Promise<AuditRecord | null> {
  for await (const [key, text] of db.iterator({ gte: recordKey(seq), lt: RECORD_RANGE.lt, limit: 1, ...(snapshot !== undefined ? { snapshot } : {}) })) {
    return parse(key, text)
  }
  return null
}

async function lastRecord (db: AuditDb, snapshot: AuditSnapshot | undefined): Promise<AuditRecord | null> {
  for await (const [key, text] of db.iterator({ ...RECORD_RANGE, reverse: true, limit: 1, ...(snapshot !== undefined ? { snapshot } : {}) })) {
    return parse(key, text)
  }
  return null
}

function indexLookups (filter: AuditFilter): Array<[IndexKind, string]> {
  const lookups: Array<[IndexKind, string]> = []
  if (filter.session !== undefined) lookups.push(['s', filter.session])
  if (filter.container !== undefined) lookups.push(['c', containerIndexName(filter.container)])
  if (filter.project !== undefined) lookups.push(['p', filter.project])
  if (filter.user !== undefined) lookups.push(['u', filter.user])
  return lookups
}

/** Whether a record passes every part of the filter. */
export function recordMatcher (filter: AuditFilter): (record: AuditRecord) => boolean {
  const since = filter.since?.toISOString()
  const until = filter.until?.toISOString()
  const action = filter.action !== undefined ? actionPattern(filter.action) : undefined
  const container = filter.container !== undefined ? containerIndexName(filter.container) : undefined
  const names: string[] = []
  return (record) => {
    if (filter.fromSeq !== undefined && record.seq < filter.fromSeq) return false
    if (filter.toSeq !== undefined && record.seq > filter.toSeq) return false
    if (since !== undefined && record.time < since) return false
    if (until !== undefined && record.time >= until) return false
    if (filter.user !== undefined && record.user !== filter.user) return false
    if (filter.project !== undefined && record.project !== filter.project) return false
    if (filter.decision !== undefined && record.decision !== filter.decision) return false
    if (filter.session !== undefined && record.fields?.session !== filter.session) return false
    if (action !== undefined && (typeof record.action !== 'string' || !action.test(record.action))) return false
    if (container !== undefined) {
      names.length = 0
      collectContainerNames(record, names)
      if (!names.includes(container)) return false
    }
    return true
  }
}

/** `container.*` as a RegExp: `*` is any run of characters, everything else is itself. */
export function actionPattern (glob: string): RegExp {
  return new RegExp('^' + glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$')
}

// A date, or a date and time (`T` or a space between them), with an optional offset; no offset means UTC,
// like every time the audit trail shows.
const ISO_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i

/**
 * A `--since`/`--until` value: an ISO 8601 time (`2026-01-31`, `2026-01-31T08:00:00Z`, `2026-01-31 08:00`; UTC
 * unless an offset is given) or a duration back from `now` (`90s`, `15m`, `8h`, `7d`, `4w`). Throws
 * PORTCULLIS_AUDIT_FILTER_INVALID otherwise.
 */
export function parseTimeBound (text: string, now: Date, name = 'time'): Date {
  const trimmed = text.trim()
  // A bare number is not taken for seconds here: `--since 2026` reads as a year more likely than as 34 minutes.
  const relative = /[smhdw]$/.test(trimmed) ? parseDuration(trimmed, { weeks: true }) : null
  if (relative !== null) return new Date(now.getTime() - relative)
  const iso = ISO_TIME.exec(trimmed)
  if (iso !== null && isCalendarDate(iso[1]!)) {
    const [, date, clock, offset] = iso
    const time = new Date(clock === undefined ? `${date}T00:00:00Z` : `${date}T${clock}${offset === undefined ? 'Z' : offset.toUpperCase()}`)
    if (!Number.isNaN(time.getTime())) return time
  }
  throw new AuditError('PORTCULLIS_AUDIT_FILTER_INVALID', [`${name} ${JSON.stringify(text)}`,
    'use an ISO 8601 time (2026-01-31, 2026-01-31T08:00:00Z; UTC unless it has an offset) or a duration back from now (90s, 15m, 8h, 7d, 4w)'])
}

/** Whether `YYYY-MM-DD` names a real day (Date would take 2026-02-30 for March 2nd). */
function isCalendarDate (date: string): boolean {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number]
  const parsed = new Date(Date.UTC(year, month - 1, day))
  return parsed.getUTCMonth() === month - 1 && parsed.getUTCDate() === day
}

/** The filter's names as query parameters (admin route) and as CLI flags (`--from-seq` for fromSeq). */
export const FILTER_PARAMS = ['since', 'until', 'user', 'project', 'container', 'action', 'decision', 'session', 'fromSeq', 'toSeq'] as const
export type FilterParam = typeof FILTER_PARAMS[number]

/** A filter from text parameters (query string, CLI flags); empty and missing values are left out. Throws
 * PORTCULLIS_AUDIT_FILTER_INVALID for a value that cannot be one. */
export function filterFromParams (params: Partial<Record<FilterParam, string | undefined>>, now: Date): AuditFilter {
  const filter: AuditFilter = {}
  const value = (name: FilterParam): string | undefined => {
    const raw = params[name]
    return raw === undefined || raw === '' ? undefined : raw
  }
  const since = value('since')
  const until = value('until')
  if (since !== undefined) filter.since = parseTimeBound(since, now, 'since')
  if (until !== undefined) filter.until = parseTimeBound(until, now, 'until')
  for (const name of ['user', 'project', 'container', 'action', 'session'] as const) {
    const text = value(name)
    if (text !== undefined) filter[name] = text
  }
  if (filter.session !== undefined && !isSessionId(filter.session)) {
    throw new AuditError('PORTCULLIS_AUDIT_FILTER_INVALID', [`session ${JSON.stringify(filter.session)}`, 'session IDs look like s-3f9a0c1b2d4e5f60; `portcullis audit sessions` lists them'])
  }
  const decision = value('decision')
  if (decision !== undefined) {
    if (decision !== 'allow' && decision !== 'deny') throw new AuditError('PORTCULLIS_AUDIT_FILTER_INVALID', [`decision ${JSON.stringify(decision)}`, 'use allow or deny'])
    filter.decision = decision
  }
  for (const name of ['fromSeq', 'toSeq'] as const) {
    const text = value(name)
    if (text === undefined) continue
    if (!/^\d{1,15}$/.test(text)) throw new AuditError('PORTCULLIS_AUDIT_FILTER_INVALID', [`${name} ${JSON.stringify(text)}`, 'use a record sequence number'])
    filter[name] = Number(text)
  }
  return filter
}

/** The filter as query parameters, times as ISO 8601 (filterFromParams reads them back). */
export function filterToParams (filter: AuditFilter): URLSearchParams {
  const params = new URLSearchParams()
  for (const name of FILTER_PARAMS) {
    const value = filter[name]
    if (value === undefined) continue
    params.set(name, value instanceof Date ? value.toISOString() : String(value))
  }
  return params
}

/** Whether the filter selects by anything but seq. */
export function filtersRecords (filter: AuditFilter): boolean {
  return FILTER_PARAMS.some((name) => name !== 'fromSeq' && name !== 'toSeq' && filter[name] !== undefined)
}
