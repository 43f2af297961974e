// Walks the stored chain and names the first record that was edited, removed, inserted or moved, the first
// session.end whose recording no longer matches the summary it holds, or the first signed checkpoint that is
// forged or no longer matches its record (the chain was rewritten, hashes and all, after it was signed).

import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat } from 'node:fs/promises'
import { CastDigester, isCastSummary } from './cast-digest.js'
import { isRecordingSummary, listRecordingFiles, recordingPath, recordingsDir, } from './recordings.js'
import { ChainVerifier, checkpointFault, isChainFault, vouchedRecording, type ChainFault } from './chain-verifier.js'
import { parseCheckpoint } from './checkpoint-format.js'
import { openAuditDb, type AuditDb } from './level.js'
import { storageError, unreadableDetail } from './storage-errors.js'
import { BASE_KEY, CHECKPOINT_RANGE, HEAD_KEY, MARKER_RANGE, RECORD_RANGE, castRange, markerKey, sessionFromMarkerKey, checkpointKey, chunkIndexFromKey, decodeHead, recordKey, seqFromCheckpointKey, seqFromKey } from './keys.js'
import { GENESIS_HASH, parseRecord, type AuditHead, type AuditRecord } from './record.js'
import { readHeadFile, tailCutProblem } from './head-file.js'
import type { AuditPublicKey } from './signing-key.js'

/** `cast-missing`: a chunk of a session's recording is gone; `cast-mismatch`: the stored recording differs from
 * the summary its session.end holds (a chunk edited, added or cut); `checkpoint-forged`: a stored checkpoint is
 * unreadable, names an unknown key or its signature does not hold; `checkpoint-mismatch`: a checkpoint's record
 * has another hash than the one signed, or is gone (the chain was rewritten or cut after it was signed); `tail-cut`:
 * a head recorded outside LevelDB (a logged checkpoint or head, HEAD.json) names a record past the store's head.
 * For a recording file (recordings/<session>.rec): `recording-missing` it is gone, `recording-truncated` it is
 * shorter than its session.end says, `recording-extended` bytes were added after its end, `recording-changed` its
 * bytes differ from the digest session.end holds, `recording-extra` no session.end vouches for it and no session
 * is open with it (it was added, or its session.end removed). */
type VerifyProblem = 'hash-mismatch' | 'prev-hash-mismatch' | 'gap' | 'unparseable' | 'head-mismatch' | 'cast-missing' | 'cast-mismatch' |
'checkpoint-forged' | 'checkpoint-mismatch' | 'tail-cut' | 'recording-missing' | 'recording-truncated' | 'recording-extended' | 'recording-changed' | 'recording-extra'

export interface VerifyReport {
  ok: boolean
  /** Records checked and found good (the walk stops at the first bad one). */
  records: number
  /** Session recordings checked against their session.end and found good; left out when there were none. */
  sessions?: number
  /** The stored head; `{ seq: 0, hash: GENESIS_HASH }` when none is stored or it is unreadable. */
  head: AuditHead
  /** The last record removed by expiry, when records were: the chain is checked from the one after it. */
  base?: AuditHead
  /** Left out when the store holds no checkpoint and no key was given. */
  checkpoints?: CheckpointsReport
  /** For a recording problem, `seq` is the session.end's and `session` the session's ID. For a checkpoint problem,
   * `checkpoint` is the checkpoint, and with `checkpoint-mismatch` `seq` is the first record after the last good
   * checkpoint: the rewrite is somewhere between it and `checkpoint.seq`. */
  firstBad?: { seq: number, problem: VerifyProblem, detail: string, session?: string, checkpoint?: { seq: number, time: string } }
}

interface CheckpointsReport {
  /** Checkpoints found good (signed by a given key, when keys were given, and matching their record). */
  checked: number
  /** The newest good checkpoint: the records up to it rest on its signature, the ones after it on the chain alone. */
  last?: { seq: number, time: string, keyId: string }
  /** False when no public key was given: checkpoints were compared with their records, their signatures not checked. */
  signaturesChecked: boolean
}

export interface VerifyOptions {
  /** Start the walk here, trusting the stored hash of the record before it. Default 1 (or the record after the
   * base, once records were expired). */
  fromSeq?: number
  /** Stop after this record, without checking the head (signing a checkpoint there needs no more). */
  toSeq?: number
  /** The keys checkpoints may be signed with. Without any, their signatures are not checked. */
  publicKeys?: readonly AuditPublicKey[]
}

type Snapshot = ReturnType<AuditDb['snapshot']>

/** Verifies a store no daemon owns, and that it still holds the head its HEAD.json names (a store whose tail
 * was cut verifies otherwise); fails with PORTCULLIS_AUDIT_LOCKED when a daemon owns it. */
export async function verifyDir (dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const db = await openAuditDb(dir, { create: false })
  try {
    const report = await verifyChain(db, options)
    const recorded = readHeadFile(dir)
    if (!report.ok || recorded === null || 'unreadable' in recorded || options.toSeq !== undefined) return report
    const cut = await tailCutProblem(recorded, report.head, async (seq) => {
      const raw = await db.get(recordKey(seq)) as string | undefined
      return raw === undefined ? null : parseRecord(raw)?.hash ?? null
    })
    if (cut === null) return report
    return { ...report, ok: false, firstBad: { seq: report.head.seq < recorded.seq ? report.head.seq + 1 : recorded.seq, problem: 'tail-cut', detail: cut } }
  } catch (err) {
    throw storageError(err, dir)
  } finally {
    await db.close()
  }
}

export async function verifyChain (db: AuditDb, options: VerifyOptions = {}): Promise<VerifyReport> {
  // One snapshot for the head and the records, so appends during the walk cannot look like tampering.
  const snapshot = db.snapshot()
  try {
    return await verifySnapshot(db, snapshot, options)
  } finally {
    await snapshot.close()
  }
}

/** verifyChain within a snapshot the caller holds (and closes). */
export async function verifySnapshot (db: AuditDb, snapshot: Snapshot, options: VerifyOptions = {}): Promise<VerifyReport> {
  const fromSeq = options.fromSeq !== undefined && Number.isFinite(options.fromSeq) ? Math.floor(options.fromSeq) : 1
  const toSeq = options.toSeq !== undefined && Number.isFinite(options.toSeq) ? Math.floor(options.toSeq) : null
  try {
    return await walk(db, snapshot, fromSeq, toSeq, options.publicKeys)
  } catch (err) {
    throw storageError(err, db.location)
  }
}

async function walk (db: AuditDb, snapshot: Snapshot, fromSeq: number, toSeq: number | null, keys: readonly AuditPublicKey[] | undefined): Promise<VerifyReport> {
  const rawHead = await db.get(HEAD_KEY, { snapshot }) as string | undefined
  const storedHead = rawHead === undefined ? null : decodeHead(rawHead)
  const head = storedHead ?? { seq: 0, hash: GENESIS_HASH }
  const rawBase = await db.get(BASE_KEY, { snapshot }) as string | undefined
  const base = rawBase === undefined ? null : decodeHead(rawBase)
  let records = 0
  let sessions = 0
  const checkpoints: CheckpointsReport = { checked: 0, signaturesChecked: keys !== undefined }
  let anyCheckpoint = keys !== undefined || rawBase !== undefined
  const summary = (): Omit<VerifyReport, 'ok'> => ({
    records,
    ...(sessions > 0 ? { sessions } : {}),
    head,
    ...(base !== null ? { base } : {}),
    ...(anyCheckpoint ? { checkpoints } : {})
  })
  type FirstBad = NonNullable<VerifyReport['firstBad']>
  const bad = (seq: number, problem: VerifyProblem, detail: string, more: Pick<FirstBad, 'session' | 'checkpoint'> = {}): VerifyReport =>
    ({ ok: false, ...summary(), firstBad: { seq, problem, detail, ...more } })
  const good = (): VerifyReport => ({ ok: true, ...summary() })

  if (rawBase !== undefined && base === null) return bad(1, 'unparseable', 'the base entry (the last expired record) is unreadable')
  const first = base === null ? 1 : base.seq + 1
  let expected = Math.max(first, Math.min(fromSeq, head.seq + 1))
  let prevHash = GENESIS_HASH
  if (base !== null) {
    // Expiry keeps the checkpoint of the last record it removed: without it, anyone could cut the chain's start.
    const raw = await db.get(checkpointKey(base.seq), { snapshot }) as string | undefined
    if (raw === undefined) {
      return bad(base.seq, 'gap', `records 1 to ${base.seq} are gone and no checkpoint signs record ${base.seq}, the last of them: portcullis keeps one whenever it expires records, so someone else removed them`)
    }
    const checkpoint = parseCheckpoint(raw)
    const fault = checkpoint === null || checkpoint.seq !== base.seq ? { fault: 'forged' as const, why: 'it is unreadable' } : checkpointFault(checkpoint, keys, base)
    if (checkpoint === null || fault?.fault === 'forged') {
      return bad(base.seq, 'checkpoint-forged', `the checkpoint that vouches for the expired records 1 to ${base.seq} is forged: ${fault?.fault === 'forged' ? fault.why : ''}`, checkpoint === null ? {} : { checkpoint: { seq: checkpoint.seq, time: checkpoint.time } })
    }
    if (fault !== null) {
      return bad(base.seq, 'checkpoint-mismatch', `the base entry gives record ${base.seq} (the last expired one) another hash than the checkpoint signed at ${checkpoint.time}: the base was rewritten`, { checkpoint: { seq: checkpoint.seq, time: checkpoint.time } })
    }
    checkpoints.checked++
    checkpoints.last = { seq: checkpoint.seq, time: checkpoint.time, keyId: checkpoint.keyId }
    if (expected === first) prevHash = base.hash
  }
  if (expected > first) {
    const rawPrev = await db.get(recordKey(expected - 1), { snapshot }) as string | undefined
    if (rawPrev === undefined) return bad(expected - 1, 'gap', `record ${expected - 1} is missing`)
    const prev = parseRecord(rawPrev)
    if (prev === null) return bad(expected - 1, 'unparseable', 'the stored value is not an audit record')
    prevHash = prev.hash
  }
  /** The last record a good checkpoint (or the trusted start) vouches for. */
  let vouched = expected - 1
  /** Sessions whose recording file a session.end in the walk vouches for. */
  const vouchedFiles = new Set<string>()

  // Checkpoints are read beside the records, in step with them.
  const stored = db.iterator({ gte: checkpointKey(expected), ...(toSeq !== null ? { lte: checkpointKey(toSeq) } : { lt: CHECKPOINT_RANGE.lt }), snapshot })
  const nextCheckpoint = async (): Promise<{ seq: number, raw: string } | undefined> => {
    const entry = await stored.next()
    if (entry === undefined) return undefined
    anyCheckpoint = true
    // A key that is not a checkpoint key cannot pass the seq comparison below and is reported as unreadable.
    return { seq: seqFromCheckpointKey(entry[0]) ?? -1, raw: entry[1] }
  }
  /** Checks the checkpoint stored for record `seq`; `record` is null when the chain ends before it. */
  const checkCheckpoint = (seq: number, raw: string, record: AuditRecord | null, lastSeq: number): VerifyReport | null => {
    const checkpoint = parseCheckpoint(raw)
    if (checkpoint === null || checkpoint.seq !== seq) return bad(Math.max(seq, 1), 'checkpoint-forged', 'a stored checkpoint is unreadable or filed under another record')
    const at = { checkpoint: { seq, time: checkpoint.time } }
    const fault = checkpointFault(checkpoint, keys, record)
    if (fault?.fault === 'forged') return bad(seq, 'checkpoint-forged', `the checkpoint for record ${seq}, dated ${checkpoint.time}, is forged: ${fault.why}`, at)
    if (fault?.fault === 'beyond') {
      return bad(lastSeq + 1, 'checkpoint-mismatch', `a checkpoint signed at ${checkpoint.time} vouches for record ${seq}, but the chain ends at record ${lastSeq}: records were removed from the end, and the head rewritten to hide it`, at)
    }
    if (fault?.fault === 'mismatch') {
      return bad(vouched + 1, 'checkpoint-mismatch', `record ${seq} no longer has the hash the checkpoint signed at ${checkpoint.time} holds: the chain was rewritten, hashes and all, somewhere in records ${vouched + 1} to ${seq}` +
        (checkpoints.last !== undefined ? ` (record ${vouched} is the last one a good checkpoint vouches for)` : ''), at)
    }
    checkpoints.checked++
    checkpoints.last = { seq, time: checkpoint.time, keyId: checkpoint.keyId }
    vouched = seq
    return null
  }

  /** The store's words for what the chain verifier found at stored position `seq`. */
  const storeFault = async (fault: ChainFault, seq: number): Promise<VerifyReport> => {
    switch (fault.fault) {
      case 'missing': {
        const unreadable = await unreadableDetail(db, recordKey(expected), snapshot)
        return bad(expected, 'gap', (seq === expected + 1
          ? `record ${expected} is missing; the next stored record is ${seq}`
          : `records ${expected} to ${seq - 1} are missing`) + (unreadable !== null ? ` (${unreadable})` : ''))
      }
      case 'unparseable': return bad(seq, 'unparseable', 'the stored value is not an audit record')
      case 'unsealed': return bad(seq, 'unparseable', 'the stored value does not end with its hash: the record was rewritten')
      case 'edited': return bad(seq, 'hash-mismatch', 'the content does not match its hash: the record was edited')
      case 'unlinked': return bad(seq, 'prev-hash-mismatch', fault.record.seq !== seq
        ? `stored at position ${seq} but written as seq ${fault.record.seq}: records were reordered, inserted or removed`
        : `does not link to record ${seq - 1}: a record was inserted or replaced before it`)
      case 'misplaced': return bad(seq, 'gap', `stored at position ${seq} but written as seq ${fault.record.seq}`)
    }
  }

  try {
    let pending = await nextCheckpoint()
    const chain = new ChainVerifier({ seq: expected, prevHash })
    for await (const [key, value] of db.iterator({ gte: recordKey(expected), ...(toSeq !== null ? { lte: recordKey(toSeq) } : { lt: RECORD_RANGE.lt }), snapshot })) {
      const seq = seqFromKey(key)
      if (seq === null) return bad(expected, 'unparseable', `unexpected key ${JSON.stringify(key)} among the records: something was inserted`)
      const result = chain.next({ seq, text: value })
      if (isChainFault(result)) return await storeFault(result, seq)
      const record = result
      const vouches = vouchedRecording(record)
      if (vouches !== null) {
        const { session } = vouches
        const problem = 'recording' in vouches
          ? await checkRecordingFile(db.location, session, vouches.recording)
          : await checkRecording(db, snapshot, session, vouches.cast)
        if (problem !== null) return bad(seq, problem.problem, `session ${session}: ${problem.detail}`, { session })
        if ('recording' in vouches) vouchedFiles.add(session)
        sessions++
      }
      while (pending !== undefined && pending.seq <= seq) {
        const problem = checkCheckpoint(pending.seq, pending.raw, pending.seq === seq ? record : null, seq)
        if (problem !== null) return problem
        pending = await nextCheckpoint()
      }
      expected = chain.expected
      records = chain.records
    }
    prevHash = chain.prevHash

    const lastSeq = expected - 1
    if (toSeq !== null) {
      return lastSeq < toSeq ? bad(lastSeq + 1, 'gap', `record ${lastSeq + 1} is missing`) : good()
    }
    if (storedHead === null) {
      if (rawHead === undefined && lastSeq === 0) return pending === undefined ? good() : checkCheckpoint(pending.seq, pending.raw, null, lastSeq) ?? good()
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
    // A checkpoint beyond the end: the chain was cut after it was signed, and the head moved back to match.
    if (pending !== undefined) {
      const problem = checkCheckpoint(pending.seq, pending.raw, null, lastSeq)
      if (problem !== null) return problem
    }
    // Only a walk of the whole chain has seen every session.end that may vouch for a file.
    if (expected - records === first) {
      const extra = await extraRecording(db, snapshot, vouchedFiles)
      if (extra !== null) return bad(lastSeq, 'recording-extra', extra.detail, extra.session !== null ? { session: extra.session } : {})
    }
    return good()
  } catch (err) {
    // LevelDB stopped at a table or block it cannot read: the first record not yet checked is the one in it.
    throw storageError(err, db.location, expected)
  } finally {
    await stored.close()
  }
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

/** Hashes a session's recording file and compares it with the summary its session.end holds. */
async function checkRecordingFile (storeDir: string, session: string, expected: unknown): Promise<{ problem: VerifyProblem, detail: string } | null> {
  if (!isRecordingSummary(expected)) return { problem: 'recording-changed', detail: 'its session.end holds no readable recording summary' }
  const path = recordingPath(storeDir, session)
  let size: number
  try {
    const stat = await lstat(path)
    if (!stat.isFile()) return { problem: 'recording-changed', detail: `${path} is not a regular file (a link or special file took its place)` }
    size = stat.size
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return { problem: 'recording-missing', detail: `its recording file ${path} (${expected.bytes} bytes) is gone` }
    throw err
  }
  // The first expected.bytes of the file are hashed, so a file with bytes added after its end is told from an edited one.
  const prefix = await hashPrefix(path, expected.bytes)
  if (size < expected.bytes) return { problem: 'recording-truncated', detail: `its recording file ${path} holds ${size} bytes, but its session.end vouches for ${expected.bytes}: the file was cut` }
  if (prefix !== expected.sha256) return { problem: 'recording-changed', detail: `its recording file ${path} does not match the sha256 its session.end holds: the file was edited` }
  if (size > expected.bytes) return { problem: 'recording-extended', detail: `its recording file ${path} holds ${size} bytes, ${size - expected.bytes} more than its session.end vouches for: bytes were added after it ended` }
  return null
}

function hashPrefix (path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256')
  if (bytes === 0) return Promise.resolve(hash.digest('hex'))
  return new Promise((resolve, reject) => {
    createReadStream(path, { start: 0, end: bytes - 1, highWaterMark: 1024 * 1024 })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')))
  })
}

/** A file in recordings/ that no session.end of the chain vouches for and no open session is writing. */
async function extraRecording (db: AuditDb, snapshot: Snapshot, vouched: ReadonlySet<string>): Promise<{ session: string | null, detail: string } | null> {
  const storeDir = db.location
  const { sessions, others } = listRecordingFiles(storeDir)
  if (others.length > 0) return { session: null, detail: `${recordingsDir(storeDir)} holds ${others.join(', ')}, which portcullis never writes: something was added` }
  const unvouched = sessions.filter((session) => !vouched.has(session))
  if (unvouched.length === 0) return null
  const open = new Set<string>()
  for await (const key of db.keys({ ...MARKER_RANGE, snapshot })) {
    const session = sessionFromMarkerKey(key)
    if (session !== null) open.add(session)
  }
  for (const session of unvouched) {
    if (open.has(session)) continue
    // A session that began after the walk's snapshot was taken: its marker is there now.
    if (await db.get(markerKey(session)) !== undefined) continue
    return { session, detail: `session ${session}: the recording file ${recordingPath(storeDir, session)} has no session.end that vouches for it and no open session writes it: it was added, or its session.end removed` }
  }
  return null
}
