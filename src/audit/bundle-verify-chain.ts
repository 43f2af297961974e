// A bundle's chain: the bundled key, the checkpoints it signs, and every record's hash and link to the one before,
// from the hash the manifest names to the last record, which a checkpoint must sign.

import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { BUNDLE_FILES, type BundleManifest } from './bundle.js'
import { readBundleChunks, readBundleText } from './bundle-files.js'
import { reportedEntry, type BundleIssue, type BundleProblem } from './bundle-verify-issues.js'
import { isCastSummary, type CastSummary } from './casts.js'
import { recordHashMatches } from './chain.js'
import { checkpointSignatureProblem, parseCheckpoint, type Checkpoint } from './checkpoint-format.js'
import { messageOf } from './errors.js'
import { isSessionId } from './keys.js'
import { parseRecord } from './record.js'
import { isRecordingSummary, type RecordingSummary } from './recordings.js'
import { parseAuditPublicKey, type AuditPublicKey } from './signing-key.js'

export async function readKey (dir: string, problem: (issue: BundleIssue) => void): Promise<AuditPublicKey | null> {
  let pem: string
  try {
    pem = await readBundleText(dir, BUNDLE_FILES.publicKey)
  } catch (err) {
    if (reportedEntry(err, problem)) return null
    problem({ problem: 'file-missing', file: BUNDLE_FILES.publicKey, detail: 'the bundle holds no public key to check its checkpoints with' })
    return null
  }
  try {
    return parseAuditPublicKey(pem)
  } catch (err) {
    problem({ problem: 'key-invalid', file: BUNDLE_FILES.publicKey, detail: `it is not an Ed25519 public key (${messageOf(err)})` })
    return null
  }
}

/** The checkpoints whose signature holds; the others are reported. */
export async function readCheckpoints (dir: string, key: AuditPublicKey, problem: (issue: BundleIssue) => void): Promise<Checkpoint[]> {
  const good: Checkpoint[] = []
  let line = 0
  try {
    for await (const text of lines(dir, BUNDLE_FILES.checkpoints)) {
      line++
      const checkpoint = parseCheckpoint(text)
      if (checkpoint === null) {
        problem({ problem: 'unparseable', file: BUNDLE_FILES.checkpoints, detail: `line ${line} is not a checkpoint` })
        continue
      }
      const why = checkpointSignatureProblem(checkpoint, [key])
      if (why !== null) problem({ problem: 'checkpoint-forged', file: BUNDLE_FILES.checkpoints, seq: checkpoint.seq, detail: `the checkpoint at record ${checkpoint.seq} (line ${line}): ${why}` })
      else good.push(checkpoint)
    }
  } catch (err) {
    if (!reportedEntry(err, problem)) problem({ problem: 'file-missing', file: BUNDLE_FILES.checkpoints, detail: 'the bundle holds no checkpoints' })
  }
  return good
}

interface RecordWalk {
  records: number
  /** The walk reached the last record without a problem. */
  complete: boolean
  /** Each good checkpoint, and whether its record (when reached) has the hash it signs. */
  checkpointMatches: Map<Checkpoint, boolean>
  /** session.end records that vouch for a recording, by session. */
  ends: Map<string, { seq: number, cast: CastSummary }>
  /** session.end records that vouch for a recording file, by session. */
  recordings: Map<string, { seq: number, recording: RecordingSummary }>
}

export async function walkRecords (dir: string, manifest: BundleManifest, checkpoints: Checkpoint[], problem: (issue: BundleIssue) => void): Promise<RecordWalk> {
  const walk: RecordWalk = { records: 0, complete: false, checkpointMatches: new Map(), ends: new Map(), recordings: new Map() }
  const bySeq = new Map<number, Checkpoint[]>()
  for (const checkpoint of checkpoints) bySeq.set(checkpoint.seq, [...(bySeq.get(checkpoint.seq) ?? []), checkpoint])
  const file = BUNDLE_FILES.records
  const bad = (seq: number, kind: BundleProblem, detail: string): RecordWalk => {
    problem({ problem: kind, file, seq, detail })
    return walk
  }
  let expected = manifest.range.fromSeq
  let prevHash = manifest.chain.firstPrevHash
  try {
    for await (const line of lines(dir, file)) {
      const record = parseRecord(line)
      if (record === null) return bad(expected, 'unparseable', `line ${expected - manifest.range.fromSeq + 1} is not an audit record`)
      if (record.seq !== expected) {
        return bad(expected, 'gap', record.seq > expected
          ? `record ${expected} is missing; the next line is record ${record.seq}`
          : `line ${expected - manifest.range.fromSeq + 1} holds record ${record.seq} where record ${expected} belongs: records were reordered or duplicated`)
      }
      if (!recordHashMatches(line, record.prevHash)) return bad(record.seq, 'hash-mismatch', 'the content does not match its hash: the record was edited')
      if (record.prevHash !== prevHash) {
        return bad(record.seq, 'prev-hash-mismatch', record.seq === manifest.range.fromSeq
          ? 'the first record does not link to the hash the manifest names'
          : `does not link to record ${record.seq - 1}: a record was inserted or replaced before it`)
      }
      for (const checkpoint of bySeq.get(record.seq) ?? []) {
        const matches = checkpoint.hash === record.hash
        walk.checkpointMatches.set(checkpoint, matches)
        if (!matches) problem({ problem: 'checkpoint-mismatch', file, seq: record.seq, detail: `record ${record.seq}'s hash differs from the one its checkpoint signed: the chain was rewritten` })
      }
      const session = record.fields?.session
      if (record.kind === 'session' && record.action === 'session.end' && isSessionId(session) && isCastSummary(record.fields?.cast)) {
        walk.ends.set(session, { seq: record.seq, cast: record.fields.cast })
      }
      if (record.kind === 'session' && record.action === 'session.end' && isSessionId(session) && isRecordingSummary(record.fields?.recording)) {
        walk.recordings.set(session, { seq: record.seq, recording: record.fields.recording })
      }
      prevHash = record.hash
      expected++
      walk.records++
    }
  } catch (err) {
    if (reportedEntry(err, problem)) return walk
    return bad(expected, 'file-missing', `${file} cannot be read`)
  }
  const lastSeq = expected - 1
  if (lastSeq !== manifest.range.toSeq) {
    return bad(lastSeq + 1, 'range-mismatch', lastSeq < manifest.range.toSeq
      ? `the records end at ${lastSeq} but the manifest says ${manifest.range.toSeq}: records were removed from the end`
      : `the records go on to ${lastSeq} but the manifest says ${manifest.range.toSeq}`)
  }
  if (prevHash !== manifest.chain.lastHash) return bad(lastSeq, 'range-mismatch', 'the last record\'s hash is not the one the manifest names')
  walk.complete = true
  return walk
}

async function * lines (dir: string, path: string): AsyncIterable<string> {
  yield * createInterface({ input: Readable.from(readBundleChunks(dir, path)), crlfDelay: Infinity })
}
