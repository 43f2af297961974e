// Walks the stored chain and names the first record that was edited, removed, inserted or moved, or the first
// session.end whose recording no longer matches the summary it holds.

import { CastDigester, isCastSummary } from './casts.js'
import { bodyTextOf, chainHash } from './chain.js'
import { openAuditDb, type AuditDb } from './level.js'
import { HEAD_KEY, RECORD_RANGE, castRange, chunkIndexFromKey, decodeHead, isSessionId, recordKey, seqFromKey } from './keys.js'
import { GENESIS_HASH, parseRecord, type AuditHead, type AuditRecord } from './record.js'

/** `cast-missing`: a chunk of a session's recording is gone; `cast-mismatch`: the stored recording differs from
 * the summary its session.end holds (a chunk edited, added or cut). */
export type VerifyProblem = 'hash-mismatch' | 'prev-hash-mismatch' | 'gap' | 'unparseable' | 'head-mismatch' | 'cast-missing' | 'cast-mismatch'

export interface VerifyReport {
  ok: boolean
  /** Records checked and found good (the walk stops at the first bad one). */
  records: number
  /** Session recordings checked against their session.end and found good; left out when there were none. */
  sessions?: number
  /** The stored head; `{ seq: 0, hash: GENESIS_HASH }` when none is stored or it is unreadable. */
  head: AuditHead
  /** For a recording problem, `seq` is the session.end's and `session` the session's ID. */
  firstBad?: { seq: number, problem: VerifyProblem, detail: string, session?: string }
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
  let sessions = 0
  const bad = (seq: number, problem: VerifyProblem, detail: string, session?: string): VerifyReport =>
    ({ ok: false, records, ...(sessions > 0 ? { sessions } : {}), head, firstBad: { seq, problem, detail, ...(session !== undefined ? { session } : {}) } })
  const good = (): VerifyReport => ({ ok: true, records, ...(sessions > 0 ? { sessions } : {}), head })

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
    const session = recordingOf(record)
    if (session !== null) {
      const problem = await checkRecording(db, snapshot, session, record.fields!.cast)
      if (problem !== null) return bad(seq, problem.problem, `session ${session}: ${problem.detail}`, session)
      sessions++
    }
    prevHash = hash
    expected++
    records++
  }

  const lastSeq = expected - 1
  if (storedHead === null) {
    if (rawHead === undefined && lastSeq === 0) return good()
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
  return good()
}

/** The session whose recording a record vouches for: a session.end that holds a cast summary. */
function recordingOf (record: AuditRecord): string | null {
  if (record.kind !== 'session' || record.action !== 'session.end' || record.fields?.cast === undefined) return null
  const session = record.fields.session
  return isSessionId(session) ? session : null
}

/** Recomputes a recording's summary from its stored chunks and compares it with what session.end holds. */
async function checkRecording (db: AuditDb, snapshot: ReturnType<AuditDb['snapshot']>, session: string, expected: unknown): Promise<{ problem: VerifyProblem, detail: string } | null> {
  if (!isCastSummary(expected)) return { problem: 'cast-mismatch', detail: 'its session.end holds no readable recording summary' }
  const digester = new CastDigester()
  let stored = 0
  for await (const [key, value] of db.iterator({ ...castRange(session), snapshot })) {
    if (chunkIndexFromKey(key) !== stored) {
      return stored < expected.chunks
        ? { problem: 'cast-missing', detail: `chunk ${stored} of ${expected.chunks} of the recording is missing` }
        : { problem: 'cast-mismatch', detail: `an unexpected key ${JSON.stringify(key)} lies among the recording's chunks: something was inserted` }
    }
    if (stored < expected.chunks) digester.add(value)
    stored++
  }
  if (stored < expected.chunks) {
    return { problem: 'cast-missing', detail: `the recording has ${expected.chunks} chunks but only ${stored} are stored: chunks ${stored} to ${expected.chunks - 1} are missing` }
  }
  if (stored > expected.chunks) {
    return { problem: 'cast-mismatch', detail: `the recording has ${expected.chunks} chunks but ${stored} are stored: chunks were added after it ended` }
  }
  const actual = digester.summary()
  if (actual.digest !== expected.digest || actual.bytes !== expected.bytes) {
    return { problem: 'cast-mismatch', detail: `the stored chunks (${actual.bytes} bytes) do not match the recording's digest (${expected.bytes} bytes): a chunk was edited` }
  }
  return null
}
