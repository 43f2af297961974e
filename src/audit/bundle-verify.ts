// Checks an evidence bundle with nothing but the bundle (and, if the reviewer has it, the host's published
// public key): each record's hash and its link to the one before, that the last record is signed by a checkpoint
// made with the bundled key, each recording against the digest its session.end holds, and each file against the
// manifest. The records, checkpoints and recordings are what the proof rests on; the manifest's hashes catch
// damage to the other files (report.html, records.csv), which are derived from them.

import { createHash } from 'node:crypto'
import { mkdtemp, realpath, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BUNDLE_FILES, type BundleManifest } from './bundle.js'
import { extractBundleArchive } from './bundle-verify-archive.js'
import { readCheckpoints, readKey, walkRecords } from './bundle-verify-chain.js'
import type { BundleIssue, BundleProblem } from './bundle-verify-issues.js'
import { checkFiles, readManifest } from './bundle-verify-manifest.js'
import { castsIn, checkCast, checkRecording } from './bundle-verify-recordings.js'
import type { Checkpoint } from './checkpoint-format.js'
import { AuditError, messageOf } from './errors.js'
import type { AuditPublicKey } from './signing-key.js'

export type { BundleIssue } from './bundle-verify-issues.js'

export interface BundleVerifyReport {
  ok: boolean
  /** Records checked and found good (the walk stops at the first bad one). */
  records: number
  range?: BundleManifest['range']
  /** The bundled public key: its ID (what checkpoints name) and the sha256 of its SPKI DER. */
  key?: { keyId: string, sha256: string }
  /** The checkpoint that signs the last record. */
  checkpoint?: Checkpoint
  /** Checkpoints whose signature and record were checked and found good. */
  checkpoints: number
  /** Recordings checked against their session.end and found good. */
  sessions: number
  /** Recordings in the bundle whose session.end is not (the session ended after the range, or is still open):
   * only the manifest vouches for them. */
  unanchored: string[]
  /** In a fleet bundle, sessions whose session.end vouches for a recording the bundle does not hold by design
   * (recordings stay on the host): check them there against the digest in that record. */
  onHost?: string[]
  /** Every problem found, the most telling first (a bad record before the file hash it also breaks). */
  problems: BundleIssue[]
  firstBad?: BundleIssue
}

export interface VerifyBundleOptions {
  /** The key the reviewer expects (the one published for the host): the bundled key must be this one. */
  publicKey?: AuditPublicKey
  /** A host's part of a fleet bundle: a manifest that says its recordings stay on the host is believed (the
   * session.end records still name each one); in a bundle of its own, a missing recording is a problem. */
  recordingsOnHost?: boolean
}

/** Verifies a bundle directory, or a .tar.gz of one (extracted to a temporary directory, removed after). Throws
 * PORTCULLIS_AUDIT_BUNDLE_UNREADABLE only when the path cannot be read at all; a damaged archive is a verdict. */
export async function verifyBundle (path: string, options: VerifyBundleOptions = {}): Promise<BundleVerifyReport> {
  return await withBundleDir(path, async (dir) => await verifyBundleDir(dir, options), (damage) => ({ ok: false, records: 0, checkpoints: 0, sessions: 0, unanchored: [], problems: [damage], firstBad: damage }))
}

/** Runs `check` on the bundle directory at `path`, or on a .tar.gz unpacked into a temporary directory (removed
 * after); `damaged` makes the verdict for an archive that cannot be unpacked. */
export async function withBundleDir<T> (path: string, check: (dir: string) => Promise<T>, damaged: (damage: BundleIssue) => T): Promise<T> {
  let info
  let real
  try {
    // The path given is followed once (it is the operator's choice); nothing inside the bundle is.
    real = await realpath(path)
    info = await stat(real)
  } catch (err) {
    throw new AuditError('PORTCULLIS_AUDIT_BUNDLE_UNREADABLE', [path, messageOf(err)], { cause: err })
  }
  if (info.isDirectory()) return await check(real)
  if (!info.isFile()) throw new AuditError('PORTCULLIS_AUDIT_BUNDLE_UNREADABLE', [path, 'it is neither a directory nor a file'])
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-verify-bundle-'))
  try {
    const damage = await extractBundleArchive(path, real, dir)
    if (damage !== null) return damaged(damage)
    return await check(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The order problems are reported in: what a reviewer should look at first. */
const PRIORITY: BundleProblem[] = ['archive-damaged', 'link', 'not-regular', 'manifest-invalid', 'key-invalid', 'key-mismatch', 'unparseable', 'gap', 'hash-mismatch', 'prev-hash-mismatch', 'range-mismatch',
  'checkpoint-forged', 'checkpoint-mismatch', 'checkpoint-missing', 'cast-missing', 'cast-mismatch', 'file-missing', 'file-mismatch', 'file-unlisted']

export async function verifyBundleDir (dir: string, options: VerifyBundleOptions = {}): Promise<BundleVerifyReport> {
  const report: BundleVerifyReport = { ok: false, records: 0, checkpoints: 0, sessions: 0, unanchored: [], problems: [] }
  // A link is reported once, however many readers stumble on it.
  const problem = (issue: BundleIssue): void => {
    if ((issue.problem === 'link' || issue.problem === 'not-regular') && report.problems.some((p) => p.problem === issue.problem && p.file === issue.file)) return
    report.problems.push(issue)
  }
  const finish = (): BundleVerifyReport => {
    report.problems.sort((a, b) => PRIORITY.indexOf(a.problem) - PRIORITY.indexOf(b.problem))
    report.ok = report.problems.length === 0
    if (!report.ok) report.firstBad = report.problems[0]
    return report
  }

  const manifest = await readManifest(dir, problem)
  if (manifest === null) return finish()
  report.range = manifest.range

  await checkFiles(dir, manifest, problem)

  const key = await readKey(dir, problem)
  if (key !== null) {
    report.key = { keyId: key.keyId, sha256: createHash('sha256').update(key.publicKey.export({ type: 'spki', format: 'der' })).digest('hex') }
    if (options.publicKey !== undefined && options.publicKey.keyId !== key.keyId) {
      problem({ problem: 'key-mismatch', file: BUNDLE_FILES.publicKey, detail: `the bundle is signed with key ${key.keyId}, not the expected key ${options.publicKey.keyId}` })
    }
  }
  const trusted = options.publicKey ?? key
  const checkpoints = trusted === null ? [] : await readCheckpoints(dir, trusted, problem)

  const walk = await walkRecords(dir, manifest, checkpoints, problem)
  report.records = walk.records
  const verifiedCheckpoints = new Set<Checkpoint>()
  for (const [checkpoint, matched] of walk.checkpointMatches) if (matched) verifiedCheckpoints.add(checkpoint)
  for (const checkpoint of checkpoints) {
    if (checkpoint.seq < manifest.range.fromSeq || checkpoint.seq > manifest.range.toSeq) {
      problem({ problem: 'checkpoint-mismatch', file: BUNDLE_FILES.checkpoints, seq: checkpoint.seq, detail: `it signs record ${checkpoint.seq}, which is not in the bundle (records ${manifest.range.fromSeq} to ${manifest.range.toSeq})` })
    }
  }
  report.checkpoints = verifiedCheckpoints.size
  if (walk.complete && trusted !== null) {
    const last = checkpoints.find((checkpoint) => checkpoint.seq === manifest.range.toSeq && verifiedCheckpoints.has(checkpoint))
    if (last !== undefined) report.checkpoint = last
    else problem({ problem: 'checkpoint-missing', file: BUNDLE_FILES.checkpoints, seq: manifest.range.toSeq, detail: `no valid checkpoint signs the last record (${manifest.range.toSeq}), so nothing pins the records to the host's key` })
  }

  const anchored = new Set<string>()
  if (options.recordingsOnHost === true && manifest.recordings === 'on-host') {
    report.onHost = [...new Set([...walk.ends.keys(), ...walk.recordings.keys()])].sort()
    walk.ends.clear()
    walk.recordings.clear()
  }
  for (const [session, end] of walk.ends) {
    anchored.add(session)
    if (await checkCast(dir, session, end, problem)) report.sessions++
  }
  for (const [session, end] of walk.recordings) {
    anchored.add(session)
    if (await checkRecording(dir, session, end, problem)) report.sessions++
  }
  report.unanchored = (await castsIn(dir)).filter((session) => !anchored.has(session))
  return finish()
}
