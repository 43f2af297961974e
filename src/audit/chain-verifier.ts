// The chain's rules, once, for every source that holds a chain (the store, an evidence bundle, next a central
// database): each entry's text ends with its own hash, that hash covers the text and the hash before it, the
// record names the place it is stored at, a checkpoint signs the hash its record has, and a session.end names
// the recording it vouches for. A source feeds entries in order and words what the verifier finds its own way.

import { isCastSummary, type CastSummary } from './cast-digest.js'
import { bodyTextOf, chainHash } from './chain.js'
import { checkpointSignatureProblem, type Checkpoint } from './checkpoint-format.js'
import { isSessionId } from './keys.js'
import { parseRecord, type AuditRecord } from './record.js'
import { isRecordingSummary, type RecordingSummary } from './recordings.js'
import type { AuditPublicKey } from './signing-key.js'

/** One entry of a chain as its source holds it: the place it is stored at and its stored text. */
export interface ChainEntry {
  seq: number
  text: string
}

/** What is wrong with an entry, in the order the verifier looks: `missing` entries before this one are not there;
 * `unparseable` the text is not an audit record; `unsealed` it does not end with its hash; `edited` its content
 * does not match its hash; `unlinked` it does not link to the entry before it; `misplaced` it names another seq
 * than the place it is stored at. `record` is the parsed record, when the text is one. */
export type ChainFault =
  | { fault: 'missing', expected: number, seq: number }
  | { fault: 'unparseable' }
  | { fault: 'unsealed' | 'edited' | 'unlinked' | 'misplaced', record: AuditRecord }

/** A recording a session.end vouches for: its chunks' summary (`cast`) or its file's (`recording`). */
export type VouchedRecording =
  | { session: string, cast: unknown }
  | { session: string, recording: unknown }

/** Walks a chain from a trusted start (the first seq, and the hash of the record before it). */
export class ChainVerifier {
  /** The seq the next entry must have. */
  expected: number
  /** The hash the next entry must link to. */
  prevHash: string
  /** Entries checked and found good. */
  records = 0

  constructor (start: { seq: number, prevHash: string }) {
    this.expected = start.seq
    this.prevHash = start.prevHash
  }

  /** Checks the next entry: its record when it holds, else the first fault. Only a good entry moves the walk on. */
  next (entry: ChainEntry): AuditRecord | ChainFault {
    if (entry.seq !== this.expected) return { fault: 'missing', expected: this.expected, seq: entry.seq }
    const record = parseRecord(entry.text)
    if (record === null) return { fault: 'unparseable' }
    // The hash covers the stored text, so it is recomputed from that text rather than from the parsed record.
    const bodyText = bodyTextOf(entry.text)
    if (bodyText === null) return { fault: 'unsealed', record }
    // JSON.parse keeps the last "hash" key, which is the one bodyTextOf checked.
    if (chainHash(record.prevHash, bodyText) !== record.hash) return { fault: 'edited', record }
    if (record.prevHash !== this.prevHash) return { fault: 'unlinked', record }
    if (record.seq !== entry.seq) return { fault: 'misplaced', record }
    this.prevHash = record.hash
    this.expected++
    this.records++
    return record
  }
}

export function isChainFault (result: AuditRecord | ChainFault): result is ChainFault {
  return 'fault' in result
}

/** Why a checkpoint does not vouch for its record: `forged` its signature does not hold for any of the keys (not
 * checked without keys), `mismatch` its record has another hash, `beyond` the chain ends before its record. */
export type CheckpointFault = { fault: 'forged', why: string } | { fault: 'mismatch' } | { fault: 'beyond' }

/** Checks a checkpoint against the keys it may be signed with and the hash of the record it signs (null: the
 * record is not in the chain). */
export function checkpointFault (checkpoint: Checkpoint, keys: readonly AuditPublicKey[] | undefined, record: { hash: string } | null): CheckpointFault | null {
  const why = keys !== undefined ? checkpointSignatureProblem(checkpoint, keys) : null
  if (why !== null) return { fault: 'forged', why }
  if (record === null) return { fault: 'beyond' }
  return checkpoint.hash === record.hash ? null : { fault: 'mismatch' }
}

/** The recording a record vouches for: a session.end of a session that holds a recording or cast summary. */
export function vouchedRecording (record: AuditRecord): VouchedRecording | null {
  if (record.kind !== 'session' || record.action !== 'session.end') return null
  const fields = record.fields
  if (fields === undefined || (fields.cast === undefined && fields.recording === undefined)) return null
  if (!isSessionId(fields.session)) return null
  return fields.recording !== undefined ? { session: fields.session, recording: fields.recording } : { session: fields.session, cast: fields.cast }
}

/** Both summaries a session.end may hold, when readable (a bundle checks each it finds). */
export function vouchedSummaries (record: AuditRecord): { session: string, cast?: CastSummary, recording?: RecordingSummary } | null {
  if (record.kind !== 'session' || record.action !== 'session.end' || !isSessionId(record.fields?.session)) return null
  const { cast, recording } = record.fields
  return {
    session: record.fields.session,
    ...(isCastSummary(cast) ? { cast } : {}),
    ...(isRecordingSummary(recording) ? { recording } : {})
  }
}
