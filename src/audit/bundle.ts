// Evidence bundles: everything a reviewer needs to check a range of the audit trail without portcullis's store,
// host or help. A directory (or a .tar.gz of one) holding
//
//   records.jsonl      every record in the range, each line exactly the text its hash covers
//   records.csv        the same records for spreadsheets (see csv.ts)
//   sessions/<id>.rec  the recording file of each session with a record in the range, byte for byte as stored
//                      (raw frames, recordings.ts): session.end's fields.recording holds its sha256
//   sessions/<id>.cast the recording as asciicast, for players: rendered from the .rec (for a recording stored
//                      before frame files, the asciicast chunks byte for byte as stored)
//   sessions/<id>.chunks  for those older recordings only, the byte length of each stored chunk, one per line: their
//                      digest (session.end's fields.cast) is chained over the chunks, so checking it needs the borders
//   checkpoints.jsonl  the stored checkpoints in the range, and one signed for this bundle at its last record
//   audit_ed25519.pub  the key they are signed with
//   report.html        the page a reviewer reads (report/render.ts)
//   manifest.json      what is in the bundle, with each file's sha256
//
// The range holds every record between its ends, so its chain is complete: each record links to the one before,
// and the checkpoint at the last record pins them all to the host's key. verify-bundle.ts checks all of it.

import { once } from 'node:events'
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { PassThrough } from 'node:stream'
import { createGzip } from 'node:zlib'
import { CastDigester, isCastSummary, type CastSummary } from './cast-digest.js'
import { isRecordingSummary, renderRecordingBytes, type RecordingSummary } from './recordings.js'
import { recordHashMatches } from './chain.js'
import { checkpointSignatureProblem, encodeCheckpoint, type Checkpoint } from './checkpoint-format.js'
import { CSV_HEADER, csvRow } from './csv.js'
import { AuditError } from './errors.js'
import { isSessionId } from './keys.js'
import type { StoredRecord } from './query.js'
import type { RecordingReader, RecordingStore } from './recording-store.js'
import type { AuditHead } from './record.js'
import { ReportCollector } from './report/collect.js'
import { writeReport } from './report/render.js'
import type { AuditPublicKey } from './signing-key.js'
import { writeTar, type TarSource } from './tar.js'

export const BUNDLE_FILES = {
  manifest: 'manifest.json',
  records: 'records.jsonl',
  csv: 'records.csv',
  checkpoints: 'checkpoints.jsonl',
  publicKey: 'audit_ed25519.pub',
  report: 'report.html',
  sessions: 'sessions'
} as const

export const castPath = (session: string): string => `${BUNDLE_FILES.sessions}/${session}.cast`
export const chunksPath = (session: string): string => `${BUNDLE_FILES.sessions}/${session}.chunks`
export const recordingFilePath = (session: string): string => `${BUNDLE_FILES.sessions}/${session}.rec`

export interface BundleManifest {
  version: 1
  created: string
  /** since/until as asked (null: open end); fromSeq/toSeq the records they cover. */
  range: { since: string | null, until: string | null, fromSeq: number, toSeq: number }
  /** The prevHash of the first record and the hash of the last: the range's place in the whole chain. */
  chain: { firstPrevHash: string, lastHash: string }
  /** Every file but the manifest, by path inside the bundle. */
  files: Record<string, { sha256: string, bytes: number }>
  /** `portcullis <version>` on `<host>`. */
  generator: string
  /** 'on-host': the bundle holds no recordings by design (a fleet bundle: the fleet database keeps only the
   * session.end records that carry their digests); they stay on the host that recorded them. */
  recordings?: 'on-host'
}

/**
 * What a bundle is read from. The store's owner provides it (the daemon, or `audit bundle --data` on a store no
 * daemon runs): see bundleSourceOf in bundle-source.ts.
 */
export interface BundleSource extends RecordingReader, Partial<Pick<RecordingStore, 'readRecordingFile'>> {
  /** The newest durable record: the bundle ends there at the latest. */
  head: () => AuditHead
  /** The seq of the oldest record held (retention may have removed the ones before it); head().seq + 1 when
   * there is none. */
  firstSeq: () => Promise<number>
  /** Records fromSeq..toSeq in seq order, with the exact text stored for each, from one snapshot. */
  readStored: (fromSeq: number, toSeq: number) => AsyncIterable<StoredRecord>
  /** The seq of the first record at or after `time`; head().seq + 1 when there is none. */
  seqAtOrAfter: (time: Date) => Promise<number>
  /** Stored checkpoints whose seq lies in the range, in seq order. */
  checkpoints: (fromSeq: number, toSeq: number) => AsyncIterable<Checkpoint>
  /** Signs record `seq` (stored and logged like any checkpoint) once the chain up to it checks out. */
  signCheckpoint: (seq: number) => Promise<Checkpoint>
  /** The public half of the key signCheckpoint signs with. */
  publicKey: AuditPublicKey
}

export interface BundleOptions {
  /** First record at or after this time. */
  since?: Date
  /** Records before this time (exclusive). */
  until?: Date
  fromSeq?: number
  toSeq?: number
  /** Written into the manifest and the report. */
  generator: string
  /** The report's host name. Default: this machine's. */
  host?: string
  /** Leave every recording out (the source holds none: they stay on the host); the manifest says so. */
  recordingsOnHost?: boolean
  now?: () => Date
}

export interface BundleResult {
  dir: string
  manifest: BundleManifest
  /** The checkpoint signed for this bundle, at its last record. */
  checkpoint: Checkpoint
  records: number
  /** Sessions whose recording is in the bundle. */
  casts: number
}

/**
 * Writes a bundle into `dir` (made if missing; refused when it holds anything). Reads the records once (writing
 * the JSON lines, the CSV and the report's figures as it goes) and each recording once: constant memory, except
 * the report's capped tables. Throws PORTCULLIS_AUDIT_BUNDLE_EMPTY when the range holds no record, and
 * PORTCULLIS_AUDIT_BUNDLE_CHAIN_BROKEN when a record or recording in it does not check out (signing the
 * checkpoint throws PORTCULLIS_AUDIT_CHAIN_BROKEN first when the chain before it does not).
 * Does not mark the range as bundled: the caller does that once the bundle has reached its reader.
 */
export async function writeBundle (source: BundleSource, dir: string, options: BundleOptions): Promise<BundleResult> {
  const now = options.now ?? (() => new Date())
  await prepareEmptyDir(dir)
  const range = await resolveRange(source, options)
  // First, so a missing key or a broken chain is found before anything is written.
  const checkpoint = await source.signCheckpoint(range.toSeq)

  const files: BundleManifest['files'] = {}
  const collector = new ReportCollector()
  const ends = new Map<string, SessionEnd>()
  const sessionOrder: string[] = []
  const seenSessions = new Set<string>()
  let firstPrevHash: string | null = null
  let lastHash: string | null = null

  const jsonl = new HashedFile(join(dir, BUNDLE_FILES.records))
  const csv = new HashedFile(join(dir, BUNDLE_FILES.csv))
  try {
    await csv.write(CSV_HEADER)
    let expected = range.fromSeq
    for await (const { record, text: line } of source.readStored(range.fromSeq, range.toSeq)) {
      if (record.seq !== expected) throw chainBroken(range, expected, `record ${expected} is missing from the store`)
      if (!recordHashMatches(line, lastHash ?? record.prevHash)) {
        throw chainBroken(range, record.seq, lastHash === null || record.prevHash === lastHash ? 'its content does not match its hash' : `it does not link to record ${record.seq - 1}`)
      }
      firstPrevHash ??= record.prevHash
      lastHash = record.hash
      expected++
      await jsonl.write(line + '\n')
      await csv.write(csvRow(record))
      collector.add(record)
      const session = record.fields?.session
      if (isSessionId(session)) {
        if (!seenSessions.has(session)) {
          seenSessions.add(session)
          sessionOrder.push(session)
        }
        if (record.kind === 'session' && record.action === 'session.end') {
          ends.set(session, {
            seq: record.seq,
            cast: isCastSummary(record.fields?.cast) ? record.fields.cast : null,
            recording: isRecordingSummary(record.fields?.recording) ? record.fields.recording : null
          })
        }
      }
    }
    if (expected !== range.toSeq + 1) throw chainBroken(range, expected, `record ${expected} is missing from the store`)
    if (lastHash !== checkpoint.hash) throw chainBroken(range, range.toSeq, 'it changed while the bundle was being written')
    files[BUNDLE_FILES.records] = await jsonl.close()
    files[BUNDLE_FILES.csv] = await csv.close()
  } finally {
    jsonl.destroy()
    csv.destroy()
  }

  const casts = new Map<string, { path: string, file: string, bytes: number }>()
  for (const session of options.recordingsOnHost === true ? [] : sessionOrder) {
    const file = await source.readRecordingFile?.(session) ?? null
    const end = ends.get(session)
    if (file === null && end?.recording != null) throw chainBroken(range, end.seq, `the recording file of session ${session}, which its session.end vouches for, is gone`)
    // A file beside a session.end that vouches for no file (its recording is in chunks, or nothing ran) was added:
    // it must not stand in for what the chain vouches for.
    if (file !== null && end !== undefined && end.recording == null) throw chainBroken(range, end.seq, `a recording file of session ${session} is in the store, but its session.end vouches for no recording file: it was added`)
    const written = file !== null ? await writeRecording(file, dir, session, ends.get(session), range) : await writeCast(source, dir, session, ends.get(session), range)
    if (written === null) continue
    files[castPath(session)] = written.cast
    if ('chunks' in written) files[chunksPath(session)] = written.chunks
    else files[recordingFilePath(session)] = written.recording
    casts.set(session, { path: castPath(session), file: join(dir, castPath(session)), bytes: written.cast.bytes })
  }

  const checkpoints: string[] = []
  let storedCheckpoints = 0
  for await (const stored of source.checkpoints(range.fromSeq, range.toSeq)) {
    if (stored.seq === checkpoint.seq && stored.signature === checkpoint.signature) continue
    // The bundle carries one public key; a checkpoint it cannot check would only read as forged.
    if (checkpointSignatureProblem(stored, [source.publicKey]) !== null) continue
    checkpoints.push(encodeCheckpoint(stored))
    storedCheckpoints++
  }
  checkpoints.push(encodeCheckpoint(checkpoint))
  files[BUNDLE_FILES.checkpoints] = await writeSmallFile(join(dir, BUNDLE_FILES.checkpoints), checkpoints.join('\n') + '\n')
  files[BUNDLE_FILES.publicKey] = await writeSmallFile(join(dir, BUNDLE_FILES.publicKey), source.publicKey.publicKeyPem)

  const created = now().toISOString()
  const host = options.host ?? hostname()
  const manifestRange = {
    since: options.since?.toISOString() ?? null,
    until: options.until?.toISOString() ?? null,
    fromSeq: range.fromSeq,
    toSeq: range.toSeq
  }
  const vouched = [...ends.values()].filter((end) => end.cast !== null || end.recording !== null).length
  const recordings = options.recordingsOnHost === true
    ? `; the bundle holds no session recordings: they stay on the host (${vouched} session.end record${vouched === 1 ? ' holds the digest' : 's hold the digests'} to check them against there)`
    : casts.size === 0 ? '' : `; ${casts.size} session recording${casts.size === 1 ? '' : 's'} read back and, where the session ended in the range, matched against the digest its session.end holds`
  await writeReport(join(dir, BUNDLE_FILES.report), {
    collector,
    range: manifestRange,
    host,
    generatedAt: created,
    generator: options.generator,
    integrity: {
      ok: true,
      detail: `${collector.records} records, seq ${range.fromSeq} to ${range.toSeq}: every record's hash recomputed and linked to the one before${recordings}. ` +
        `The chain up to the last record was checked before it was signed${storedCheckpoints > 0 ? `; ${storedCheckpoints} earlier checkpoint${storedCheckpoints === 1 ? ' in the range is' : 's in the range are'} included` : ''}.`,
      checkpoint: { seq: checkpoint.seq, hash: checkpoint.hash, time: checkpoint.time, keyId: checkpoint.keyId }
    },
    casts
  })
  files[BUNDLE_FILES.report] = await hashFile(join(dir, BUNDLE_FILES.report))

  const manifest: BundleManifest = {
    version: 1,
    created,
    range: manifestRange,
    chain: { firstPrevHash: firstPrevHash!, lastHash: lastHash! },
    files: sortedKeys(files),
    generator: `${options.generator} on ${host}`,
    ...(options.recordingsOnHost === true ? { recordings: 'on-host' as const } : {})
  }
  await writeFile(join(dir, BUNDLE_FILES.manifest), JSON.stringify(manifest, null, 2) + '\n')
  return { dir, manifest, checkpoint, records: collector.records, casts: casts.size }
}

/** The seqs a bundle covers: since/until mapped to seqs, within the records the store holds. */
async function resolveRange (source: BundleSource, options: BundleOptions): Promise<{ fromSeq: number, toSeq: number }> {
  const head = source.head()
  const first = await source.firstSeq()
  let fromSeq = first
  let toSeq = head.seq
  if (options.fromSeq !== undefined) fromSeq = Math.max(fromSeq, options.fromSeq)
  if (options.toSeq !== undefined) toSeq = Math.min(toSeq, options.toSeq)
  if (options.since !== undefined) fromSeq = Math.max(fromSeq, await source.seqAtOrAfter(options.since))
  if (options.until !== undefined) toSeq = Math.min(toSeq, await source.seqAtOrAfter(options.until) - 1)
  if (toSeq < fromSeq) {
    const asked = [
      options.since !== undefined ? `since ${options.since.toISOString()}` : '',
      options.until !== undefined ? `until ${options.until.toISOString()}` : '',
      options.fromSeq !== undefined ? `from seq ${options.fromSeq}` : '',
      options.toSeq !== undefined ? `to seq ${options.toSeq}` : ''
    ].filter((part) => part !== '').join(', ')
    throw new AuditError('PORTCULLIS_AUDIT_BUNDLE_EMPTY', [asked || 'in the store', head.seq < first ? 'none' : `${first} to ${head.seq}`])
  }
  return { fromSeq, toSeq }
}

interface SessionEnd {
  seq: number
  cast: CastSummary | null
  recording: RecordingSummary | null
}

/** Copies one session's recording file and renders it as asciicast beside it. */
async function writeRecording (bytes: AsyncIterable<Buffer>, dir: string, session: string, end: SessionEnd | undefined, range: { fromSeq: number, toSeq: number }): Promise<{ cast: FileDigest, recording: FileDigest }> {
  await mkdir(join(dir, BUNDLE_FILES.sessions), { recursive: true })
  const copyPath = join(dir, recordingFilePath(session))
  let copy: HashedFile | null = new HashedFile(copyPath)
  let cast: HashedFile | null = null
  try {
    for await (const chunk of bytes) await copy.write(chunk)
    const recording = await copy.close()
    copy = null
    if (end?.recording != null && (recording.sha256 !== end.recording.sha256 || recording.bytes !== end.recording.bytes)) {
      throw chainBroken(range, end.seq, `the recording file of session ${session} does not match the sha256 its session.end holds`)
    }
    // Rendered from the copy: the .cast is what the bundled .rec shows, even of a session still being recorded.
    cast = new HashedFile(join(dir, castPath(session)))
    for await (const text of renderRecordingBytes(readFileChunks(copyPath), recordingFilePath(session))) await cast.write(text)
    const rendered = await cast.close()
    cast = null
    return { cast: rendered, recording }
  } finally {
    copy?.destroy()
    cast?.destroy()
  }
}

async function * readFileChunks (path: string): AsyncIterable<Buffer> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) yield chunk as Buffer
}

/** Copies one session's recording stored in chunks; null when nothing of it is stored. */
async function writeCast (source: BundleSource, dir: string, session: string, end: SessionEnd | undefined, range: { fromSeq: number, toSeq: number }): Promise<{ cast: FileDigest, chunks: FileDigest } | null> {
  const digester = new CastDigester()
  const lengths: number[] = []
  let file: HashedFile | null = null
  try {
    for await (const chunk of source.readCast(session)) {
      if (file === null) {
        await mkdir(join(dir, BUNDLE_FILES.sessions), { recursive: true })
        file = new HashedFile(join(dir, castPath(session)))
      }
      const bytes = Buffer.from(chunk, 'utf8')
      digester.add(chunk)
      lengths.push(bytes.length)
      await file.write(bytes)
    }
    const summary = digester.summary()
    if (end?.cast != null && (summary.digest !== end.cast.digest || summary.chunks !== end.cast.chunks)) {
      throw chainBroken(range, end.seq, `the stored recording of session ${session} does not match the digest its session.end holds`)
    }
    if (file === null) return null
    const cast = await file.close()
    const chunks = await writeSmallFile(join(dir, chunksPath(session)), lengths.join('\n') + '\n')
    return { cast, chunks }
  } finally {
    file?.destroy()
  }
}

function chainBroken (range: { fromSeq: number, toSeq: number }, seq: number, why: string): AuditError {
  return new AuditError('PORTCULLIS_AUDIT_BUNDLE_CHAIN_BROKEN', [String(range.fromSeq), String(range.toSeq), String(seq), why])
}

async function prepareEmptyDir (dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  const present = await readdir(dir)
  if (present.length > 0) throw new AuditError('PORTCULLIS_AUDIT_BUNDLE_DIR_NOT_EMPTY', [dir])
}

interface FileDigest {
  sha256: string
  bytes: number
}

/** A file written with backpressure while its sha256 is computed. */
class HashedFile {
  readonly #out: Writable
  readonly #hash = createHash('sha256')
  #bytes = 0

  constructor (path: string) {
    this.#out = createWriteStream(path, { flags: 'wx' })
    // Errors surface through write/close; this keeps an early one from being unhandled.
    this.#out.on('error', () => {})
  }

  async write (data: string | Buffer): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    this.#hash.update(bytes)
    this.#bytes += bytes.length
    if (!this.#out.write(bytes)) await Promise.race([once(this.#out, 'drain'), once(this.#out, 'error').then(([err]) => { throw err })])
  }

  async close (): Promise<FileDigest> {
    this.#out.end()
    await once(this.#out, 'finish')
    return { sha256: this.#hash.digest('hex'), bytes: this.#bytes }
  }

  destroy (): void {
    if (!this.#out.writableFinished) this.#out.destroy()
  }
}

async function writeSmallFile (path: string, text: string): Promise<FileDigest> {
  const bytes = Buffer.from(text, 'utf8')
  await writeFile(path, bytes, { flag: 'wx' })
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length }
}

/** sha256 and size of a file on disk, read in constant memory. */
async function hashFile (path: string): Promise<FileDigest> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), bytes }
}

function sortedKeys<T> (object: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(object).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/**
 * A bundle directory as a .tar.gz stream whose entries sit under `name/` (how `tar xzf` users expect an archive
 * to unpack). Files are read from disk as the stream is consumed.
 */
export function bundleArchive (dir: string, name: string, files: readonly string[], mtime: Date): Readable {
  const gzip = createGzip()
  const tar = new PassThrough()
  tar.pipe(gzip)
  void (async () => {
    const sources: TarSource[] = []
    for (const path of files) {
      const info = await stat(join(dir, path))
      sources.push({ path: `${name}/${path}`, file: join(dir, path), size: info.size, mtime: info.mtime })
    }
    const directories = [`${name}/`, ...(files.some((path) => path.startsWith(BUNDLE_FILES.sessions + '/')) ? [`${name}/${BUNDLE_FILES.sessions}/`] : [])]
    await writeTar(tar, directories, sources, mtime)
    tar.end()
  })().catch((err: unknown) => { gzip.destroy(err instanceof Error ? err : new Error(String(err))) })
  return gzip
}

/** Every file of a written bundle, manifest first (readers of the archive then learn what to expect early). */
export function bundleFileList (manifest: BundleManifest): string[] {
  return [BUNDLE_FILES.manifest, ...Object.keys(manifest.files)]
}
