// Walks the stored chain and names the first record that was edited, removed, inserted or moved.

import { bodyTextOf, chainHash } from './chain.js'
import { openAuditDb, type AuditDb } from './level.js'
import { HEAD_KEY, RECORD_RANGE, decodeHead, recordKey, seqFromKey } from './keys.js'
import { GENESIS_HASH, parseRecord, type AuditHead } from './record.js'

export type VerifyProblem = 'hash-mismatch' | 'prev-hash-mismatch' | 'gap' | 'unparseable' | 'head-mismatch'

export interface VerifyReport {
  ok: boolean
  /** Records checked and found good (the walk stops at the first bad one). */
  records: number
  /** The stored head; `{ seq: 0, hash: GENESIS_HASH }` when none is stored or it is unreadable. */
  head: AuditHead
  firstBad?: { seq: number, problem: VerifyProblem, detail: string }
}

export interface VerifyOptions {
  /** Start the walk here, trusting the stored hash of the record before it. Default 1. */
  fromSeq?: number
}

/** Verifies a store no daemon owns; fails with PORTCULLIS_AUDIT_LOCKED when one does. */
export async function verifyDir (dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const db = await openAuditDb(dir, { create: false })
  try {
    return await verifyChain(db, options)
  } finally {
    await db.close()
  }
}

export async function verifyChain (db: AuditDb, options: VerifyOptions = {}): Promise<VerifyReport> {
  // One snapshot for the head and the records, so appends during the walk cannot look like tampering.
  const snapshot = db.snapshot()
  try {
    const fromSeq = options.fromSeq !== undefined && Number.isFinite(options.fromSeq) ? Math.floor(options.fromSeq) : 1
    return await walk(db, snapshot, fromSeq)
  } finally {
    await snapshot.close()
  }
}

async function walk (db: AuditDb, snapshot: ReturnType<AuditDb['snapshot']>, fromSeq: number): Promise<VerifyReport> {
  const rawHead = await db.get(HEAD_KEY, { snapshot }) as string | undefined
  const storedHead = rawHead === undefined ? null : decodeHead(rawHead)
  const head = storedHead ?? { seq: 0, hash: GENESIS_HASH }
  let records = 0
  const bad = (seq: number, problem: VerifyProblem, detail: string): VerifyReport =>
    ({ ok: false, records, head, firstBad: { seq, problem, detail } })

  let expected = Math.max(1, Math.min(fromSeq, head.seq + 1))
  let prevHash = GENESIS_HASH
  if (expected > 1) {
    const rawPrev = await db.get(recordKey(expected - 1), { snapshot }) as string | undefined
    if (rawPrev === undefined) return bad(expected - 1, 'gap', `record ${expected - 1} is missing`)
    const prev = parseRecord(rawPrev)
    if (prev === null) return bad(expected - 1, 'unparseable', 'the stored value is not an audit record')
    prevHash = prev.hash
  }

  for await (const [key, value] of db.iterator({ gte: recordKey(expected), lt: RECORD_RANGE.lt, snapshot })) {
    const seq = seqFromKey(key)
    if (seq === null) return bad(expected, 'unparseable', `unexpected key ${JSON.stringify(key)} among the records: something was inserted`)
    if (seq !== expected) {
      return bad(expected, 'gap', seq === expected + 1
        ? `record ${expected} is missing; the next stored record is ${seq}`
        : `records ${expected} to ${seq - 1} are missing`)
    }
    const record = parseRecord(value)
    if (record === null) return bad(seq, 'unparseable', 'the stored value is not an audit record')
    // The hash covers the stored text, so it is recomputed from that text rather than from the parsed record.
    const bodyText = bodyTextOf(value)
    if (bodyText === null) return bad(seq, 'unparseable', 'the stored value does not end with its hash: the record was rewritten')
    const hash = record.hash // JSON.parse keeps the last "hash" key, which is the one bodyTextOf checked
    if (chainHash(record.prevHash, bodyText) !== hash) {
      return bad(seq, 'hash-mismatch', 'the content does not match its hash: the record was edited')
    }
    if (record.prevHash !== prevHash) {
      return bad(seq, 'prev-hash-mismatch', record.seq !== seq
        ? `stored at position ${seq} but written as seq ${record.seq}: records were reordered, inserted or removed`
        : `does not link to record ${seq - 1}: a record was inserted or replaced before it`)
    }
    if (record.seq !== seq) return bad(seq, 'gap', `stored at position ${seq} but written as seq ${record.seq}`)
    prevHash = hash
    expected++
    records++
  }

  const lastSeq = expected - 1
  if (storedHead === null) {
    if (rawHead === undefined && lastSeq === 0) return { ok: true, records, head }
    return bad(lastSeq, 'head-mismatch', rawHead === undefined ? 'the head entry is missing' : 'the head entry is unreadable')
  }
  if (lastSeq > storedHead.seq) {
    return bad(storedHead.seq + 1, 'head-mismatch', `records ${storedHead.seq + 1} to ${lastSeq} lie beyond the head (${storedHead.seq}): they were added outside portcullis`)
  }
  if (lastSeq < storedHead.seq) {
    return bad(lastSeq + 1, 'head-mismatch', `the head says ${storedHead.seq} records but the chain ends at ${lastSeq}: records were removed from the end`)
  }
  if (storedHead.hash !== prevHash) {
    return bad(lastSeq, 'head-mismatch', `the head hash does not match record ${lastSeq}: the last record was replaced`)
  }
  return { ok: true, records, head }
}
