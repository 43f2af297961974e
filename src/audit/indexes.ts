// Secondary indexes over the records, so a compliance query ("everything alice did in payments last quarter")
// reads the records it returns rather than the whole chain. One empty-valued key per name a record carries:
//
//   x!u!<user>!<seq16>   x!p!<project>!<seq16>   x!c!<container>!<seq16>   x!s!<session>!<seq16>
//
// written in the same batch as the record (AuditStore #flush), so an index never names a record that is not
// durable nor misses one that is. Time needs no index: seq order is append order (see query.ts).
// Names are escaped so they never hold '!': the range `x!u!alice!` .. `x!u!alice"` then covers alice's keys and
// no one else's ('"' follows '!').

import type { Logger } from 'pino'
import type { AuditDb } from './level.js'
import { INDEX_VERSION_KEY, RECORD_RANGE } from './keys.js'
import { parseRecord, type AuditRecord } from './record.js'

/** Bumped when the layout above changes; a store whose `s!index` differs is indexed again on open. */
const INDEX_VERSION = '1'

/** `u`ser, `p`roject, `c`ontainer, `s`ession. */
export type IndexKind = 'u' | 'p' | 'c' | 's'

/** Where index entries go: the store's batch (see AuditStore #flush), or anything else that takes puts. */
export interface IndexBatch {
  put: (key: string, value: string) => unknown
}

const SEQ_DIGITS = 16
const INDEX_PREFIX = { u: 'x!u!', p: 'x!p!', c: 'x!c!', s: 'x!s!' } as const
const SHORT_ID_LENGTH = 12
const CONTAINER_ID = /^[0-9a-f]{12,64}$/

export function seqHex (seq: number): string {
  return seq.toString(16).padStart(SEQ_DIGITS, '0')
}

/** The name as it appears in a key: '%' and '!' percent-escaped (injective, and free for the usual names). */
export function escapeIndexName (name: string): string {
  if (name.indexOf('!') === -1 && name.indexOf('%') === -1) return name
  return name.replace(/%/g, '%25').replace(/!/g, '%21')
}

/** The key prefix of one name's entries: `x!u!alice!`. */
export function indexPrefix (kind: IndexKind, name: string): string {
  return INDEX_PREFIX[kind] + escapeIndexName(name) + '!'
}

/** The seq an index key ends with. */
export function seqFromIndexKey (key: string): number {
  return Number.parseInt(key.slice(-SEQ_DIGITS), 16)
}

/**
 * How a container filter value is looked up: a Docker ID (12 to 64 lowercase hex digits) by its first 12 digits,
 * anything else as the name it is. Records are indexed the same way, so `pay-1`, `6bb21ffec17d` and the full ID
 * all find the records that name that container.
 */
export function containerIndexName (nameOrId: string): string {
  return CONTAINER_ID.test(nameOrId) ? nameOrId.slice(0, SHORT_ID_LENGTH) : nameOrId
}

/**
 * The containers a record names, as container index names, added to `into` (no duplicates):
 * - decisions on a container: `container pay-1 (6bb21ffec17d)` gives `pay-1` and `6bb21ffec17d`;
 * - decisions on an exec: `exec 3c0f… (container 6bb21ffec17d)` gives `6bb21ffec17d`;
 * - session records: the resource is the container's name;
 * - any record whose fields hold a `containerId`: its first 12 digits.
 */
export function collectContainerNames (record: AuditRecord, into: string[]): void {
  const resource = record.resource
  if (typeof resource === 'string' && resource !== '') {
    if (record.kind === 'session') {
      addOnce(into, containerIndexName(resource))
    } else if (resource.startsWith('container ')) {
      const open = resource.indexOf(' (', 10)
      addOnce(into, containerIndexName(open === -1 ? resource.slice(10) : resource.slice(10, open)))
      if (open !== -1 && resource.endsWith(')')) addId(into, resource.slice(open + 2, -1))
    } else if (resource.startsWith('exec ')) {
      const at = resource.indexOf(' (container ')
      if (at !== -1 && resource.endsWith(')')) addId(into, resource.slice(at + 12, -1))
    }
  }
  const containerId = record.fields?.containerId
  if (typeof containerId === 'string') addId(into, containerId)
}

function addId (into: string[], id: string): void {
  if (CONTAINER_ID.test(id)) addOnce(into, id.slice(0, SHORT_ID_LENGTH))
}

function addOnce (into: string[], name: string): void {
  if (name !== '' && !into.includes(name)) into.push(name)
}

// Reused by every call on the hot path: the store appends thousands of records a second.
const scratch: string[] = []

/** Adds the index entries of `record` to a batch. Called once per record, in the batch that writes it. */
export function addIndexEntries (batch: IndexBatch, record: AuditRecord): void {
  const hex = seqHex(record.seq)
  if (typeof record.user === 'string' && record.user !== '') batch.put(INDEX_PREFIX.u + escapeIndexName(record.user) + '!' + hex, '')
  if (typeof record.project === 'string' && record.project !== '') batch.put(INDEX_PREFIX.p + escapeIndexName(record.project) + '!' + hex, '')
  const session = record.fields?.session
  if (typeof session === 'string' && session !== '') batch.put(INDEX_PREFIX.s + escapeIndexName(session) + '!' + hex, '')
  if (record.resource == null && record.fields?.containerId === undefined) return
  scratch.length = 0
  collectContainerNames(record, scratch)
  for (let i = 0; i < scratch.length; i++) batch.put(INDEX_PREFIX.c + escapeIndexName(scratch[i]!) + '!' + hex, '')
}

/** Every index key of `record`: what has to go when the record goes (retention). */
export function indexKeysOf (record: AuditRecord): string[] {
  const keys: string[] = []
  addIndexEntries({ put: (key) => keys.push(key) }, record)
  return keys
}

/** Records indexed per batch while building the indexes of an older store. */
const BACKFILL_BATCH = 4096

/**
 * Indexes a store written before indexes existed (no `s!index`), streaming its records in batches; then writes
 * `s!index`, so an interrupted run starts over (its puts are idempotent) and a finished one never runs again.
 * Call it before anything appends. An empty store just gets `s!index`. Resolves with the records indexed.
 */
export async function ensureIndexes (db: AuditDb, logger?: Logger): Promise<number> {
  if (await db.get(INDEX_VERSION_KEY) === INDEX_VERSION) return 0
  let indexed = 0
  let batch = db.batch()
  const started = Date.now()
  let announced = false
  try {
    for await (const [key, value] of db.iterator(RECORD_RANGE)) {
      const record = parseRecord(value)
      // An unreadable record is verify's to report; the rest still get indexed.
      if (record === null) {
        logger?.warn({ key }, 'an audit record cannot be read while indexing; `portcullis audit verify` tells more')
        continue
      }
      addIndexEntries(batch, record)
      if (++indexed % BACKFILL_BATCH !== 0) continue
      await batch.write()
      batch = db.batch()
      if (!announced && Date.now() - started > 2000) {
        logger?.info('indexing the audit records of an older store for filtered exports; this runs once')
        announced = true
      }
    }
    batch.put(INDEX_VERSION_KEY, INDEX_VERSION)
    await batch.write({ sync: true })
  } finally {
    await batch.close()
  }
  if (indexed > 0) logger?.info({ records: indexed, ms: Date.now() - started }, 'audit records indexed')
  return indexed
}

/** Whether the store's indexes can be trusted to be complete (they cannot on an older store opened read-only). */
export async function hasIndexes (db: AuditDb, snapshot?: ReturnType<AuditDb['snapshot']>): Promise<boolean> {
  return await db.get(INDEX_VERSION_KEY, snapshot !== undefined ? { snapshot } : {}) === INDEX_VERSION
}
