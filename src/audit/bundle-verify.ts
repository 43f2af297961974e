// Checks an evidence bundle with nothing but the bundle (and, if the reviewer has it, the host's published
// public key): each record's hash and its link to the one before, that the last record is signed by a checkpoint
// made with the bundled key, each recording against the digest its session.end holds, and each file against the
// manifest. The records, checkpoints and recordings are what the proof rests on; the manifest's hashes catch
// damage to the other files (report.html, records.csv), which are derived from them.

import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat, mkdtemp, readdir, realpath, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { BUNDLE_FILES, castPath, chunksPath, recordingFilePath, type BundleManifest } from './bundle.js'
import { BundleEntryError, entryProblem, readBundleChunks, readBundleText } from './bundle-files.js'
import { CastDigester, isCastSummary, type CastSummary } from './casts.js'
import { isRecordingSummary, renderRecordingBytes, type RecordingSummary } from './recordings.js'
import { recordHashMatches } from './chain.js'
import { checkpointSignatureProblem, parseCheckpoint, type Checkpoint } from './checkpoint-format.js'
import { AuditError, messageOf } from './errors.js'
import { isSessionId } from './keys.js'
import { parseRecord } from './record.js'
import { parseAuditPublicKey, type AuditPublicKey } from './signing-key.js'
import { TarFormatError, TarLinkError, extractTar } from './tar.js'

export type BundleProblem =
  | 'archive-damaged' // the .tar.gz cannot be unpacked: cut short, corrupted, or not one
  | 'link' // a symbolic or hard link (in a directory or as a tar entry): never followed
  | 'not-regular' // a FIFO, socket or device where a file belongs: never read
  | 'manifest-invalid' // manifest.json missing or not a bundle manifest
  | 'file-missing' // a file the manifest lists (or every bundle has) is not there
  | 'file-mismatch' // a file's bytes differ from the manifest's sha256
  | 'file-unlisted' // a file the manifest does not list was added
  | 'unparseable' // a line of records.jsonl or checkpoints.jsonl is not a record or checkpoint
  | 'hash-mismatch' // a record's content does not match its own hash: it was edited
  | 'prev-hash-mismatch' // a record does not link to the one before it
  | 'gap' // a record is missing, or out of place
  | 'range-mismatch' // the records do not start or end where the manifest says
  | 'key-invalid' // audit_ed25519.pub is not an Ed25519 public key
  | 'key-mismatch' // the bundled key is not the one the reviewer expects
  | 'checkpoint-forged' // a checkpoint's signature does not hold for the bundled key
  | 'checkpoint-mismatch' // a checkpoint signs a hash its record does not have, or a record not in the bundle
  | 'checkpoint-missing' // no checkpoint signs the last record
  | 'cast-missing' // a recording a session.end vouches for is not in the bundle
  | 'cast-mismatch' // a recording differs from the digest its session.end holds, or a .cast is not the rendering of its .rec

export interface BundleIssue {
  problem: BundleProblem
  /** The file it was found in, as a path inside the bundle. */
  file: string
  seq?: number
  session?: string
  detail: string
}

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
  /** Every problem found, the most telling first (a bad record before the file hash it also breaks). */
  problems: BundleIssue[]
  firstBad?: BundleIssue
}

export interface VerifyBundleOptions {
  /** The key the reviewer expects (the one published for the host): the bundled key must be this one. */
  publicKey?: AuditPublicKey
}

/** Verifies a bundle directory, or a .tar.gz of one (extracted to a temporary directory, removed after). Throws
 * PORTCULLIS_AUDIT_BUNDLE_UNREADABLE only when the path cannot be read at all; a damaged archive is a verdict. */
export async function verifyBundle (path: string, options: VerifyBundleOptions = {}): Promise<BundleVerifyReport> {
  let info
  let real
  try {
    // The path given is followed once (it is the operator's choice); nothing inside the bundle is.
    real = await realpath(path)
    info = await stat(real)
  } catch (err) {
    throw new AuditError('PORTCULLIS_AUDIT_BUNDLE_UNREADABLE', [path, messageOf(err)], { cause: err })
  }
  if (info.isDirectory()) return await verifyBundleDir(real, options)
  if (!info.isFile()) throw new AuditError('PORTCULLIS_AUDIT_BUNDLE_UNREADABLE', [path, 'it is neither a directory nor a file'])
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-verify-bundle-'))
  try {
    try {
      await extractTar(createReadStream(real).pipe(createGunzip()), dir, { stripTopDirectory: true })
    } catch (err) {
      if (err instanceof TarLinkError) {
        const issue: BundleIssue = { problem: 'link', file: basename(path), detail: err.message }
        return { ok: false, records: 0, checkpoints: 0, sessions: 0, unanchored: [], problems: [issue], firstBad: issue }
      }
      // A damaged archive is a verdict about the bundle; a file that cannot be read at all is not.
      const damage = err instanceof TarFormatError ? err.message : (err as { code?: string }).code?.startsWith('Z_') === true ? `it is not gzip-compressed, or is damaged (${messageOf(err)})` : null
      if (damage === null) throw new AuditError('PORTCULLIS_AUDIT_BUNDLE_UNREADABLE', [path, messageOf(err)], { cause: err })
      const issue: BundleIssue = { problem: 'archive-damaged', file: basename(path), detail: damage }
      return { ok: false, records: 0, checkpoints: 0, sessions: 0, unanchored: [], problems: [issue], firstBad: issue }
    }
    return await verifyBundleDir(dir, options)
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

async function readManifest (dir: string, problem: (issue: BundleIssue) => void): Promise<BundleManifest | null> {
  let text: string
  try {
    text = await readBundleText(dir, BUNDLE_FILES.manifest)
  } catch (err) {
    if (reportedEntry(err, problem)) return null
    problem({ problem: 'manifest-invalid', file: BUNDLE_FILES.manifest, detail: 'there is no manifest.json: this is not an evidence bundle, or not its top directory' })
    return null
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    problem({ problem: 'manifest-invalid', file: BUNDLE_FILES.manifest, detail: `it is not JSON (${messageOf(err)})` })
    return null
  }
  const why = manifestProblem(value)
  if (why !== null) {
    problem({ problem: 'manifest-invalid', file: BUNDLE_FILES.manifest, detail: why })
    return null
  }
  return value as BundleManifest
}

function manifestProblem (value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'it is not a JSON object'
  const m = value as Partial<BundleManifest>
  if (m.version !== 1) return `version ${JSON.stringify(m.version)} is not one this portcullis reads (1)`
  const range = m.range
  if (range === undefined || !Number.isSafeInteger(range.fromSeq) || !Number.isSafeInteger(range.toSeq) || range.fromSeq < 1 || range.toSeq < range.fromSeq) return 'its range is missing or malformed'
  if (m.chain === undefined || !isHash(m.chain.firstPrevHash) || !isHash(m.chain.lastHash)) return 'its chain hashes are missing or malformed'
  if (m.files === undefined || m.files === null || typeof m.files !== 'object') return 'its file list is missing'
  for (const [path, entry] of Object.entries(m.files)) {
    if (!isSafeBundlePath(path)) return `it lists an unsafe path ${JSON.stringify(path)}`
    if (entry === null || typeof entry !== 'object' || !isHash(entry.sha256) || !Number.isSafeInteger(entry.bytes)) return `its entry for ${path} is malformed`
  }
  return null
}

/** Every listed file is there with its hash; every required file is listed; nothing else was added. */
async function checkFiles (dir: string, manifest: BundleManifest, problem: (issue: BundleIssue) => void): Promise<void> {
  for (const required of [BUNDLE_FILES.records, BUNDLE_FILES.checkpoints, BUNDLE_FILES.publicKey]) {
    if (manifest.files[required] === undefined) problem({ problem: 'file-missing', file: BUNDLE_FILES.manifest, detail: `the manifest does not list ${required}, which every bundle has` })
  }
  for (const [path, expected] of Object.entries(manifest.files)) {
    let actual
    try {
      actual = await hashBundleFile(dir, path)
    } catch (err) {
      if (reportedEntry(err, problem)) continue
      problem({ problem: 'file-missing', file: path, detail: 'the manifest lists it but it is not in the bundle' })
      continue
    }
    if (actual.sha256 !== expected.sha256 || actual.bytes !== expected.bytes) {
      problem({ problem: 'file-mismatch', file: path, detail: `its sha256 (${actual.bytes} bytes) differs from the manifest's (${expected.bytes} bytes): it was changed after the bundle was made` })
    }
  }
  for (const path of await listFiles(dir, problem)) {
    if (path !== BUNDLE_FILES.manifest && manifest.files[path] === undefined) {
      problem({ problem: 'file-unlisted', file: path, detail: 'it is in the bundle but not in the manifest: it was added after the bundle was made' })
    }
  }
}

async function readKey (dir: string, problem: (issue: BundleIssue) => void): Promise<AuditPublicKey | null> {
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
async function readCheckpoints (dir: string, key: AuditPublicKey, problem: (issue: BundleIssue) => void): Promise<Checkpoint[]> {
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

async function walkRecords (dir: string, manifest: BundleManifest, checkpoints: Checkpoint[], problem: (issue: BundleIssue) => void): Promise<RecordWalk> {
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

/** Recomputes a recording's digest from the bundled file cut at the bundled chunk borders. */
async function checkCast (dir: string, session: string, end: { seq: number, cast: CastSummary }, problem: (issue: BundleIssue) => void): Promise<boolean> {
  const file = castPath(session)
  const fail = (kind: BundleProblem, detail: string): false => {
    problem({ problem: kind, file, seq: end.seq, session, detail: `session ${session}: ${detail}` })
    return false
  }
  if (end.cast.chunks === 0) {
    // An empty recording: the bundle holds nothing of it (writeCast writes no file then), so a .cast here was added.
    const present = await lstat(join(dir, file)).then(() => true, () => false)
    return present ? fail('cast-mismatch', `its session.end (record ${end.seq}) vouches for an empty recording, but the bundle holds ${file}: it was added`) : true
  }
  let lengths: number[]
  try {
    const text = await readBundleText(dir, chunksPath(session))
    lengths = text.split('\n').filter((line) => line !== '').map(Number)
  } catch (err) {
    if (reportedEntry(err, problem)) return false
    return fail('cast-missing', `its session.end (record ${end.seq}) vouches for a recording of ${end.cast.bytes} bytes, but the bundle does not hold it (or its ${chunksPath(session)})`)
  }
  if (lengths.some((length) => !Number.isSafeInteger(length) || length < 0)) return fail('cast-mismatch', `${chunksPath(session)} is malformed`)
  const digester = new CastDigester()
  let pending: Buffer = Buffer.alloc(0)
  let index = 0
  try {
    for await (const piece of readBundleChunks(dir, file)) {
      pending = pending.length === 0 ? piece : Buffer.concat([pending, piece])
      while (index < lengths.length && pending.length >= lengths[index]!) {
        digester.add(pending.subarray(0, lengths[index]!).toString('utf8'))
        pending = pending.subarray(lengths[index]!)
        index++
      }
    }
  } catch (err) {
    if (reportedEntry(err, problem)) return false
    return fail('cast-missing', `its session.end (record ${end.seq}) vouches for a recording, but ${file} is not in the bundle`)
  }
  const actual = digester.summary()
  if (index < lengths.length || pending.length > 0 || actual.digest !== end.cast.digest || actual.chunks !== end.cast.chunks || actual.bytes !== end.cast.bytes) {
    return fail('cast-mismatch', `the recording does not match the digest its session.end (record ${end.seq}) holds: it was edited, cut or extended`)
  }
  return true
}

/** Hashes a bundled recording file against the summary its session.end holds, then checks that the bundled
 * .cast is its rendering (what a reviewer plays is what the chain vouches for). */
async function checkRecording (dir: string, session: string, end: { seq: number, recording: RecordingSummary }, problem: (issue: BundleIssue) => void): Promise<boolean> {
  const file = recordingFilePath(session)
  const fail = (kind: BundleProblem, at: string, detail: string): false => {
    problem({ problem: kind, file: at, seq: end.seq, session, detail: `session ${session}: ${detail}` })
    return false
  }
  const hash = createHash('sha256')
  let bytes = 0
  try {
    for await (const piece of readBundleChunks(dir, file)) {
      hash.update(piece)
      bytes += piece.length
    }
  } catch (err) {
    if (reportedEntry(err, problem)) return false
    return fail('cast-missing', file, `its session.end (record ${end.seq}) vouches for a recording file of ${end.recording.bytes} bytes, but the bundle does not hold it`)
  }
  if (bytes !== end.recording.bytes || hash.digest('hex') !== end.recording.sha256) {
    return fail('cast-mismatch', file, `the recording file (${bytes} bytes) does not match the sha256 its session.end (record ${end.seq}, ${end.recording.bytes} bytes) holds: it was edited, cut or extended`)
  }
  const rendered = createHash('sha256')
  const bundled = createHash('sha256')
  try {
    for await (const text of renderRecordingBytes(readBundleChunks(dir, file), file)) rendered.update(text)
    for await (const piece of readBundleChunks(dir, castPath(session))) bundled.update(piece)
  } catch (err) {
    if (reportedEntry(err, problem)) return false
    return fail('cast-missing', castPath(session), `${castPath(session)} is missing or ${file} cannot be rendered (${messageOf(err)})`)
  }
  if (rendered.digest('hex') !== bundled.digest('hex')) {
    return fail('cast-mismatch', castPath(session), `${castPath(session)} is not what ${file} renders to: it was edited`)
  }
  return true
}

/** Sessions with a recording file in the bundle. */
async function castsIn (dir: string): Promise<string[]> {
  try {
    if (!(await lstat(join(dir, BUNDLE_FILES.sessions))).isDirectory()) return []
    return (await readdir(join(dir, BUNDLE_FILES.sessions))).filter((name) => name.endsWith('.cast')).map((name) => name.slice(0, -5)).filter(isSessionId).sort()
  } catch {
    return []
  }
}

/** Files under `dir`, as '/'-separated relative paths. */
/** Regular files under `dir`, as '/'-separated relative paths; links and special files are reported, not listed
 * or entered. */
async function listFiles (dir: string, problem: (issue: BundleIssue) => void, prefix = ''): Promise<string[]> {
  const found: string[] = []
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`
    if (entry.isDirectory()) {
      found.push(...await listFiles(dir, problem, path))
      continue
    }
    const why = entryProblem(await lstat(join(dir, path)))
    if (why !== null) problem({ problem: why.problem === 'missing' ? 'file-missing' : why.problem, file: path, detail: why.detail })
    else found.push(path)
  }
  return found
}

/** A problem opening a bundle file that is a verdict of its own (a link, a FIFO): reported, and true. */
function reportedEntry (err: unknown, problem: (issue: BundleIssue) => void): boolean {
  if (!(err instanceof BundleEntryError) || err.problem === 'missing') return false
  problem({ problem: err.problem, file: err.file, detail: err.message })
  return true
}

async function hashBundleFile (dir: string, path: string): Promise<{ sha256: string, bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of readBundleChunks(dir, path)) {
    hash.update(chunk)
    bytes += chunk.length
  }
  return { sha256: hash.digest('hex'), bytes }
}

async function * lines (dir: string, path: string): AsyncIterable<string> {
  yield * createInterface({ input: Readable.from(readBundleChunks(dir, path)), crlfDelay: Infinity })
}

function isHash (value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)
}

function isSafeBundlePath (path: string): boolean {
  return path !== '' && !path.startsWith('/') && !path.includes('\\') && !path.includes('\u0000') && path.split('/').every((part) => part !== '' && part !== '.' && part !== '..')
}
