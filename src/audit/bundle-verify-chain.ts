// A bundle's chain: the bundled key, the checkpoints it signs, and every record's hash and link to the one before,
// from the hash the manifest names to the last record, which a checkpoint must sign.

import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { BUNDLE_FILES, type BundleManifest } from './bundle.js'
import { readBundleChunks, readBundleText } from './bundle-files.js'
import { reportedEntry, type BundleIssue, type BundleProblem } from './bundle-verify-issues.js'
import type { CastSummary } from './cast-digest.js'
import { ChainVerifier, checkpointFault, isChainFault, vouchedSummaries } from './chain-verifier.js'
import { checkpointSignatureProblem, parseCheckpoint, type Checkpoint } from './checkpoint-format.js'
import { messageOf } from './errors.js'
import type { RecordingSummary } from './recordings.js'
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
  const chain = new ChainVerifier({ seq: manifest.range.fromSeq, prevHash: manifest.chain.firstPrevHash })
  const line = (seq: number): number => seq - manifest.range.fromSeq + 1
  try {
    for await (const text of lines(dir, file)) {
      const expected = chain.expected
      const result = chain.next({ seq: expected, text })
      if (isChainFault(result)) {
        // A record out of place is named as such, whatever else is wrong with it.
        if (result.fault === 'missing' || result.fault === 'unparseable') return bad(expected, 'unparseable', `line ${line(expected)} is not an audit record`)
        const record = result.record
        if (record.seq !== expected) {
          return bad(expected, 'gap', record.seq > expected
            ? `record ${expected} is missing; the next line is record ${record.seq}`
            : `line ${line(expected)} holds record ${record.seq} where record ${expected} belongs: records were reordered or duplicated`)
        }
        if (result.fault === 'unlinked') {
          return bad(record.seq, 'prev-hash-mismatch', record.seq === manifest.range.fromSeq
            ? 'the first record does not link to the hash the manifest names'
            : `does not link to record ${record.seq - 1}: a record was inserted or replaced before it`)
        }
        return bad(record.seq, 'hash-mismatch', 'the content does not match its hash: the record was edited')
      }
      const record = result
      for (const checkpoint of bySeq.get(record.seq) ?? []) {
        const matches = checkpointFault(checkpoint, undefined, record) === null
        walk.checkpointMatches.set(checkpoint, matches)
        if (!matches) problem({ problem: 'checkpoint-mismatch', file, seq: record.seq, detail: `record ${record.seq}'s hash differs from the one its checkpoint signed: the chain was rewritten` })
      }
      const vouches = vouchedSummaries(record)
      if (vouches?.cast !== undefined) walk.ends.set(vouches.session, { seq: record.seq, cast: vouches.cast })
      if (vouches?.recording !== undefined) walk.recordings.set(vouches.session, { seq: record.seq, recording: vouches.recording })
      walk.records = chain.records
    }
  } catch (err) {
    if (reportedEntry(err, problem)) return walk
    return bad(chain.expected, 'file-missing', `${file} cannot be read`)
  }
  const lastSeq = chain.expected - 1
  if (lastSeq !== manifest.range.toSeq) {
    return bad(lastSeq + 1, 'range-mismatch', lastSeq < manifest.range.toSeq
      ? `the records end at ${lastSeq} but the manifest says ${manifest.range.toSeq}: records were removed from the end`
      : `the records go on to ${lastSeq} but the manifest says ${manifest.range.toSeq}`)
  }
  if (chain.prevHash !== manifest.chain.lastHash) return bad(lastSeq, 'range-mismatch', 'the last record\'s hash is not the one the manifest names')
  walk.complete = true
  return walk
}

async function * lines (dir: string, path: string): AsyncIterable<string> {
  yield * createInterface({ input: Readable.from(readBundleChunks(dir, path)), crlfDelay: Infinity })
}
