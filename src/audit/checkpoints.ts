// Signed checkpoints: now and then the daemon signs the newest record's seq and hash with its Ed25519 key.
// The hash chain alone shows that records were changed only to someone who cannot recompute it; anyone who can
// write the store can rewrite a whole tail consistently. A checkpoint pins the chain up to its record to a key
// that such a person does not hold, and its copy in the logs leaves the host.

import type { Logger } from 'pino'
import { AuditError } from './errors.js'
import type { AuditDb } from './level.js'
import { BASE_KEY, CHECKPOINT_RANGE, HEAD_KEY, checkpointKey, decodeHead, recordKey, seqFromCheckpointKey } from './keys.js'
import { checkpointSignatureProblem, createCheckpoint, encodeCheckpoint, parseCheckpoint, type Checkpoint } from './checkpoint-format.js'
import { parseRecord } from './record.js'
import { storageError, tablesOverlapping } from './storage-errors.js'
import type { AuditSigningKey } from './signing-key.js'
import { auditDatabase, type AuditStore } from './store.js'
import { verifySnapshot } from './verify.js'

export type { Checkpoint } from './checkpoint-format.js'

export interface SignCheckpointOptions {
  /** The record to sign. Default: the newest. */
  seq?: number
  /** Where the checkpoint is logged (`msg: 'audit checkpoint'`), so that a copy leaves the host with the logs. */
  logger?: Logger
  /** Store it under `k!<seq>` (default). A reader that must not write passes false and keeps what it gets. */
  store?: boolean
  /** The signing time. Default: now. */
  time?: Date
}

/**
 * Signs record `seq` (default: the newest), once the chain up to it checks out, stores the checkpoint (unless
 * `store: false`) and logs it. The check starts at the newest checkpoint before it that `key` signed and that
 * still matches its record, so a daemon signing every few minutes reads only what was added since.
 * Throws PORTCULLIS_AUDIT_NO_RECORD when there is no such record and PORTCULLIS_AUDIT_CHAIN_BROKEN when the chain
 * up to it does not verify.
 */
export async function signCheckpoint (store: AuditStore, key: AuditSigningKey, options: SignCheckpointOptions = {}): Promise<Checkpoint> {
  const db = auditDatabase(store)
  try {
    // One at a time with expiry (AuditStore.exclusive), which removes records a checkpoint is checked against.
    return await store.exclusive(async () => await signCheckpointNow(db, key, options))
  } catch (err) {
    throw storageError(err, db.location, undefined, tablesOverlapping(db))
  }
}

/** signCheckpoint for callers already running in the store's exclusive queue (expiry). */
export async function signCheckpointNow (db: AuditDb, key: AuditSigningKey, options: SignCheckpointOptions = {}): Promise<Checkpoint> {
  const snapshot = db.snapshot()
  let checkpoint: Checkpoint
  try {
    const rawHead = await db.get(HEAD_KEY, { snapshot })
    const head = rawHead === undefined ? null : decodeHead(rawHead)
    const rawBase = await db.get(BASE_KEY, { snapshot })
    const base = rawBase === undefined ? null : decodeHead(rawBase)
    const first = (base?.seq ?? 0) + 1
    const seq = options.seq ?? head?.seq ?? 0
    if (head === null || !Number.isSafeInteger(seq) || seq < first || seq > head.seq) {
      throw new AuditError('PORTCULLIS_AUDIT_NO_RECORD', [String(seq), head === null || head.seq < first ? 'none' : `${first} to ${head.seq}`])
    }
    const anchor = await lastSignedRecord(db, snapshot, key, seq, first)
    const report = await verifySnapshot(db, snapshot, { fromSeq: anchor + 1, toSeq: seq, publicKeys: [key] })
    if (!report.ok) {
      const bad = report.firstBad!
      throw new AuditError('PORTCULLIS_AUDIT_CHAIN_BROKEN', [String(seq), String(bad.seq), `${bad.problem}: ${bad.detail}`])
    }
    const record = parseRecord((await db.get(recordKey(seq), { snapshot }))!)!
    checkpoint = createCheckpoint(key, { seq, hash: record.hash }, options.time)
  } finally {
    await snapshot.close()
  }
  if (options.store !== false) await db.put(checkpointKey(checkpoint.seq), encodeCheckpoint(checkpoint), { sync: true })
  options.logger?.info({ checkpoint }, 'audit checkpoint')
  return checkpoint
}

/** The newest record before `seq` (or `seq` itself) that a checkpoint by `key` vouches for and that still has the
 * hash it signed; `first - 1` when there is none, so the chain is checked from its start. */
async function lastSignedRecord (db: AuditDb, snapshot: ReturnType<AuditDb['snapshot']>, key: AuditSigningKey, seq: number, first: number): Promise<number> {
  for await (const [k, value] of db.iterator({ gte: checkpointKey(first), lte: checkpointKey(seq), reverse: true, snapshot })) {
    const checkpoint = parseCheckpoint(value)
    if (checkpoint === null || checkpoint.seq !== seqFromCheckpointKey(k) || checkpointSignatureProblem(checkpoint, [key]) !== null) continue
    const raw = await db.get(recordKey(checkpoint.seq), { snapshot })
    const record = raw === undefined ? null : parseRecord(raw)
    if (record?.hash === checkpoint.hash) return checkpoint.seq
  }
  return first - 1
}

export interface ReadCheckpointsOptions {
  fromSeq?: number
  toSeq?: number
  snapshot?: ReturnType<AuditDb['snapshot']>
}

/** Stored checkpoints in seq order, as stored (unreadable ones are left out: verify reports them). */
export async function * readCheckpoints (db: AuditDb, options: ReadCheckpointsOptions = {}): AsyncIterable<Checkpoint> {
  const range = {
    gte: options.fromSeq !== undefined ? checkpointKey(Math.max(0, options.fromSeq)) : CHECKPOINT_RANGE.gte,
    ...(options.toSeq !== undefined ? { lte: checkpointKey(Math.max(0, options.toSeq)) } : { lt: CHECKPOINT_RANGE.lt }),
    ...(options.snapshot !== undefined ? { snapshot: options.snapshot } : {})
  }
  try {
    for await (const [, value] of db.iterator(range)) {
      const checkpoint = parseCheckpoint(value)
      if (checkpoint !== null) yield checkpoint
    }
  } catch (err) {
    throw storageError(err, db.location, undefined, tablesOverlapping(db, range))
  }
}
