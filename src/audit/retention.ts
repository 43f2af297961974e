// Retention: removes the oldest records once they are older than `audit.retention`, whole segments of
// SEGMENT_SIZE records at a time, and only those kept elsewhere, unless forced: in an evidence bundle (`s!bundled`),
// or on a host that ships to a fleet database, in the database (`s!shipped`, and for a session's recording file the
// recording shipper's mark); and never one a SIEM output has not yet delivered (its mark in the `outputs` key space).
// What remains still verifies: before a segment goes, its last record is signed and that checkpoint kept, and
// `s!base` names the record, so the chain is checked from the one after it, anchored to a signature.

import { rm } from 'node:fs/promises'
import type { Logger } from 'pino'
import { durationText } from '../core/duration.js'
import { readBundledSeq, readShippedSeq } from './bundled.js'
import type { Checkpoint } from './checkpoint-format.js'
import { signCheckpointNow } from './checkpoints.js'
import { AuditError } from './errors.js'
import { indexKeysOf } from './indexes.js'
import type { AuditDb } from './level.js'
import { vouchedSummaries } from './chain-verifier.js'
import { BASE_KEY, CHECKPOINT_RANGE, OUTPUT_DELIVERED_RANGE, castRange, checkpointKey, decodeHead, encodeHead, isSessionId, recordKey, recordingShippedKey } from './keys.js'
import { sublevelOf } from './key-space.js'
import { parseRecord, type AuditRecord } from './record.js'
import { recordingPath } from './recordings.js'
import type { AuditSigningKey } from './signing-key.js'
import { storageError, tablesOverlapping } from './storage-errors.js'
import { auditDatabase, type AuditStore } from './store.js'

/** Records per segment: segment k holds seqs k*SEGMENT_SIZE+1 .. (k+1)*SEGMENT_SIZE. */
export const SEGMENT_SIZE = 10_000

export interface ExpireOptions {
  /** `audit.retention` in milliseconds; null (no retention) removes nothing. */
  retentionMs: number | null
  /** Signs the checkpoint kept for the last removed record. */
  key: AuditSigningKey
  /** Say what would go, remove nothing. */
  dryRun?: boolean
  /** Remove old records even when no bundle holds them yet. */
  force?: boolean
  now?: Date
  logger?: Logger
  /** Who asked for this run (the admin socket's peer), recorded in audit.expired; unset for the daily run. */
  requestedBy?: Record<string, unknown>
}

interface SeqRange {
  fromSeq: number
  toSeq: number
}

export interface ExpiryResult {
  dryRun: boolean
  /** Records whose segment's newest record is older than this may go; null when no retention is set. */
  cutoff: string | null
  /** What was removed (with dryRun: what would be), or null. */
  removed: (SeqRange & { records: number, segments: number }) | null
  /** Old enough, but past the last bundled record and not forced: kept. */
  held: SeqRange | null
  /** The highest seq an `audit bundle` holds (0: none). */
  bundledSeq: number
  /** The highest seq the fleet database holds, when this store ships to one (null: it never did). */
  shippedSeq: number | null
  /** The lowest seq a SIEM output has delivered, when one is configured (null: none is). */
  deliveredSeq?: number | null
  /** On a shipping host, the first session whose recording the fleet database does not yet hold whole: its segment
   * and every later one are held. */
  recordingNotShipped?: string
  /** The checkpoint kept for the last removed record. */
  checkpoint?: Checkpoint
  /** The `audit.expired` system record written. */
  recordSeq?: number
}

/**
 * Removes the segments that are old enough (and bundled, unless `force`), oldest first, each in one batch with
 * its index entries, the recordings of the sessions whose end record it holds, and the checkpoints before its
 * last record; then appends a system record `audit.expired` naming the range. The segment holding the newest
 * record always stays (the head must name a stored record).
 */
export async function expireRecords (store: AuditStore, options: ExpireOptions): Promise<ExpiryResult> {
  const db = auditDatabase(store)
  try {
    // One at a time with checkpoint signing (AuditStore.exclusive): no record goes while one is checked against.
    return await store.exclusive(async () => await expireNow(store, db, options))
  } catch (err) {
    throw storageError(err, db.location, undefined, tablesOverlapping(db))
  }
}

async function expireNow (store: AuditStore, db: AuditDb, options: ExpireOptions): Promise<ExpiryResult> {
  const dryRun = options.dryRun === true
  const bundledSeq = await readBundledSeq(db)
  const shippedSeq = await readShippedSeq(db)
  if (options.retentionMs === null) return { dryRun, cutoff: null, removed: null, held: null, bundledSeq, shippedSeq }
  const now = options.now ?? new Date()
  const cutoff = new Date(now.getTime() - options.retentionMs)
  const result: ExpiryResult = { dryRun, cutoff: cutoff.toISOString(), removed: null, held: null, bundledSeq, shippedSeq }
  // A record may go once a copy of it is kept elsewhere: in the fleet database for a store that ships to one (which
  // then never loses a record the database does not hold), else in an evidence bundle.
  // A SIEM output's copy does not count as kept (its agent may not have read it), but what the output has not
  // written yet stays for it, unless forced: the output then records the gap it finds (src/siem/record-output.ts).
  const deliveredSeq = await readDeliveredSeq(db)
  result.deliveredSeq = deliveredSeq
  const keptAfter = Math.min(shippedSeq ?? bundledSeq, options.force === true ? Infinity : (deliveredSeq ?? Infinity))

  const base = await readBase(db)
  const head = store.head()
  const segments: SeqRange[] = []
  for (let k = Math.floor(base / SEGMENT_SIZE); ; k++) {
    const range = { fromSeq: Math.max(k * SEGMENT_SIZE + 1, base + 1), toSeq: (k + 1) * SEGMENT_SIZE }
    if (range.toSeq >= head.seq) break
    const newest = await readRecord(db, range.toSeq)
    if (!(Date.parse(newest.time) < cutoff.getTime())) break
    if (range.toSeq > keptAfter && options.force !== true) {
      // The bundled and shipped seqs only grow, so every later old segment is past them too.
      result.held = { fromSeq: result.held?.fromSeq ?? range.fromSeq, toSeq: range.toSeq }
      continue
    }
    // A shipping host keeps a recording until the fleet database holds it whole, and with it every later segment:
    // what is removed must stay one run from the base.
    if (shippedSeq !== null && options.force !== true && result.held === null) {
      const session = await recordingNotShipped(db, range)
      if (session !== null) result.recordingNotShipped = session
    }
    if (result.recordingNotShipped !== undefined) {
      result.held = { fromSeq: result.held?.fromSeq ?? range.fromSeq, toSeq: range.toSeq }
      continue
    }
    segments.push(range)
  }
  if (segments.length === 0) return result
  const fromSeq = segments[0]!.fromSeq
  const toSeq = segments[segments.length - 1]!.toSeq
  result.removed = { fromSeq, toSeq, records: toSeq - fromSeq + 1, segments: segments.length }
  if (dryRun) return result

  for (const segment of segments) result.checkpoint = await removeSegment(db, segment, options)
  const forced = options.force === true && toSeq > keptAfter
  const unshipped = shippedSeq !== null && toSeq > shippedSeq ? toSeq - shippedSeq : 0
  const retention = durationText(options.retentionMs)
  const record = await store.append({
    kind: 'system',
    action: 'audit.expired',
    reason: `records ${fromSeq} to ${toSeq} expired: older than the retention (${retention}, before ${result.cutoff})` +
      (forced ? (shippedSeq === null ? `; forced, ${toSeq - bundledSeq} of them were in no bundle` : `; forced, ${unshipped} of them were not in the fleet database`) : ''),
    fields: {
      fromSeq,
      toSeq,
      records: toSeq - fromSeq + 1,
      retention,
      cutoff: result.cutoff,
      bundledSeq,
      ...(shippedSeq !== null ? { shippedSeq } : {}),
      forced,
      checkpoint: { seq: result.checkpoint!.seq, hash: result.checkpoint!.hash, keyId: result.checkpoint!.keyId },
      ...(options.requestedBy !== undefined ? { requestedBy: options.requestedBy } : {})
    }
  })
  result.recordSeq = record.seq
  options.logger?.info({ fromSeq, toSeq, forced, recordSeq: record.seq }, 'audit records expired')
  return result
}

/** Signs the segment's last record, then removes the segment in one batch and moves the base to it. */
async function removeSegment (db: AuditDb, segment: SeqRange, options: ExpireOptions): Promise<Checkpoint> {
  // Throws PORTCULLIS_AUDIT_CHAIN_BROKEN when the chain up to it does not verify: nothing is removed then.
  const checkpoint = await signCheckpointNow(db, options.key, { seq: segment.toSeq, ...(options.logger !== undefined ? { logger: options.logger } : {}) })
  const ops: Array<{ type: 'del', key: string } | { type: 'put', key: string, value: string }> = []
  /** Sessions whose session.end goes with a recording file: the file and its shipped mark go once the records are. */
  const recorded: string[] = []
  for await (const [key, value] of db.iterator({ gte: recordKey(segment.fromSeq), lte: recordKey(segment.toSeq) })) {
    ops.push({ type: 'del', key })
    const record = parseRecord(value)
    if (record === null) continue
    for (const indexKey of indexKeysOf(record)) ops.push({ type: 'del', key: indexKey })
    const session = record.fields?.session
    if (record.kind === 'session' && record.action === 'session.end' && isSessionId(session)) {
      for await (const chunkKey of db.keys(castRange(session))) ops.push({ type: 'del', key: chunkKey })
      if (record.fields?.recording !== undefined) recorded.push(session)
    }
  }
  // Checkpoints of removed records vouch for nothing any more; the one at the new base is what verify needs.
  for await (const key of db.keys({ gte: CHECKPOINT_RANGE.gte, lt: checkpointKey(segment.toSeq) })) ops.push({ type: 'del', key })
  ops.push({ type: 'put', key: BASE_KEY, value: encodeHead({ seq: checkpoint.seq, hash: checkpoint.hash }) })
  await db.batch(ops, { sync: true })
  // After the records: a crash in between leaves files `audit verify` reports as extra, never a session.end
  // without its recording.
  const marks = sublevelOf(db, 'fleet')
  for (const session of recorded) {
    await rm(recordingPath(db.location, session), { force: true })
    await marks.del(recordingShippedKey(session))
  }
  return checkpoint
}

/** The first session.end in `range` whose recording file the fleet database does not hold whole (the recording
 * shipper's `rec!` mark in the `fleet` key space), or null. */
async function recordingNotShipped (db: AuditDb, range: SeqRange): Promise<string | null> {
  const marks = sublevelOf(db, 'fleet')
  for await (const value of db.values({ gte: recordKey(range.fromSeq), lte: recordKey(range.toSeq) })) {
    if (!value.includes('"session.end"')) continue
    const record = parseRecord(value)
    const vouched = record === null ? null : vouchedSummaries(record)
    if (vouched?.recording === undefined) continue
    const mark = await marks.get(recordingShippedKey(vouched.session))
    if (mark === undefined || Number(mark) < vouched.recording.bytes) return vouched.session
  }
  return null
}

/** The lowest seq the SIEM outputs (src/siem) noted as delivered, or null when no output keeps a mark. */
async function readDeliveredSeq (db: AuditDb): Promise<number | null> {
  let lowest: number | null = null
  for await (const value of sublevelOf(db, 'outputs').values(OUTPUT_DELIVERED_RANGE)) {
    const seq = Number(value)
    lowest = Math.min(lowest ?? Infinity, Number.isSafeInteger(seq) && seq >= 0 ? seq : 0)
  }
  return lowest
}

/** The seq of the last expired record; 0 when none was. */
async function readBase (db: AuditDb): Promise<number> {
  const raw = await db.get(BASE_KEY)
  if (raw === undefined) return 0
  const base = decodeHead(raw)
  if (base === null) throw new AuditError('PORTCULLIS_AUDIT_CORRUPT', [BASE_KEY, 'not a seq and hash'])
  return base.seq
}

async function readRecord (db: AuditDb, seq: number): Promise<AuditRecord> {
  const raw = await db.get(recordKey(seq))
  const record = raw === undefined ? null : parseRecord(raw)
  if (record === null) throw new AuditError('PORTCULLIS_AUDIT_CORRUPT', [recordKey(seq), raw === undefined ? 'it is missing' : 'not an audit record'])
  return record
}

