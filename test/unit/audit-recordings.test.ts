// Session recordings as raw frames in files of their own (src/audit/recordings.ts): what the bridge writes, what
// export and replay render from it, how a crash's torn tail is read, and how verify and bundles hold the files to
// the digest their session.end carries. Recordings stored the old way (asciicast chunks in LevelDB) still verify
// and play beside them.
import { createHash } from 'node:crypto'
import { appendFileSync, chmodSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { writeBundle } from '../../src/audit/bundle.js'
import { bundleSourceOf } from '../../src/audit/bundle-store.js'
import { verifyBundle } from '../../src/audit/bundle-verify.js'
import { FRAME_HEADER_BYTES, RECORDING_MAGIC, frameHeader, recordingPath, renderRecordingBytes, scanRecordingBytes, type FrameType, type RecordingSummary } from '../../src/audit/recordings.js'
import { recoverInterruptedSessions } from '../../src/audit/sessions.js'
import { ensureAuditKey, type AuditSigningKey } from '../../src/audit/signing-key.js'
import type { AuditStore } from '../../src/audit/store.js'
import { verifyDir } from '../../src/audit/verify.js'
import { CastRecorder, castHeader, type CastHeader } from '../../src/audit/asciicast.js'
import { tempStores } from '../helpers/temp-stores.js'

const { root, freshDir, openStore } = tempStores('portcullis-recordings-')
const logger = pino({ enabled: false })
const id = (n: number): string => 's-' + n.toString(16).padStart(16, '0')
const header = (n: number): CastHeader => castHeader({ width: 80, height: 24, startedAt: new Date('2026-12-05T10:00:00Z'), command: 'bash', user: 'alice', container: 'web-1', project: 'shop', sessionId: id(n) })

async function * pieces (bytes: Buffer, size = 7): AsyncIterable<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

async function render (bytes: Buffer, size?: number): Promise<string> {
  let text = ''
  for await (const piece of renderRecordingBytes(pieces(bytes, size), 'test.rec')) text += piece
  return text
}

/** A recording file built frame by frame at given times (µs). */
function fileOf (head: CastHeader, frames: Array<[FrameType, number, Buffer | string]>): Buffer {
  const json = Buffer.from(JSON.stringify(head))
  const parts = [RECORDING_MAGIC, frameHeader('h', 0, json.length), json]
  for (const [type, micros, payload] of frames) {
    const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8')
    parts.push(frameHeader(type, micros, bytes.length), bytes)
  }
  return Buffer.concat(parts)
}

const euro = Buffer.from('€', 'utf8') // 3 bytes

describe('the frame format', () => {
  it('renders the same asciicast as recording the text live did, characters split across frames and streams kept apart', async () => {
    const frames: Array<[FrameType, number, Buffer | string]> = [
      ['o', 1000, Buffer.concat([Buffer.from('price: '), euro.subarray(0, 2)])],
      ['e', 1500, euro.subarray(0, 1)],
      ['o', 2000, Buffer.concat([euro.subarray(2), Buffer.from('5\r\n')])],
      ['i', 2500, 'ls\r'],
      ['r', 3000, '100x30'],
      ['e', 4000, euro.subarray(1)],
      ['o', 5000, Buffer.from([0xe2, 0x82])] // cut at the end: U+FFFD, as the live recorder wrote it
    ]
    const live = new CastRecorder({ width: 80, height: 24, startedAt: new Date('2026-12-05T10:00:00Z'), command: 'bash', user: 'alice', container: 'web-1', project: 'shop', sessionId: id(1) })
    for (const [type, micros, payload] of frames) {
      const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload)
      if (type === 'o') live.output(bytes, micros / 1000)
      else if (type === 'e') live.errorOutput(bytes, micros / 1000)
      else if (type === 'i') live.input(bytes, micros / 1000)
      else live.resize(100, 30, micros / 1000)
    }
    live.finish(5)
    const expected = live.header() + '\n' + live.drain().join('\n') + '\n'
    const file = fileOf(header(1), frames)
    expect(await render(file)).toBe(expected)
    expect(await render(file, 1)).toBe(expected)
    expect(expected).toContain('"€5\\r\\n"')
  })

  it('reads a file a crash cut mid-frame up to its last whole frame, and says how much follows it', async () => {
    const whole = fileOf(header(1), [['o', 10, 'first\r\n'], ['o', 20, 'second\r\n']])
    const torn = Buffer.concat([whole, frameHeader('o', 30, 100), Buffer.from('only part of it')])
    const scan = await scanRecordingBytes(pieces(torn))
    expect(scan.summary).toEqual({ format: 'frames-v1', frames: 3, bytes: torn.length, sha256: createHash('sha256').update(torn).digest('hex'), tornBytes: FRAME_HEADER_BYTES + 15 })
    expect(scan.invalid).toBeNull()
    expect(scan.bytesOut).toBe(15)
    expect(await render(torn)).toBe(await render(whole))
    expect((await scanRecordingBytes(pieces(whole))).summary.tornBytes).toBeUndefined()
  })

  it('refuses bytes that are not frames with a coded error that names the file and the offset', async () => {
    const whole = fileOf(header(1), [['o', 10, 'fine\r\n']])
    const bad = Buffer.concat([whole, Buffer.from([0x7a, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x41])])
    await expect(render(bad)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_RECORDING_INVALID', message: expect.stringContaining(`test.rec is not a portcullis recording from byte ${whole.length} on`) })
    expect((await scanRecordingBytes(pieces(bad))).invalid).toEqual({ offset: whole.length, why: 'frame 2 has an unknown type (byte 122)' })
    await expect(render(Buffer.from('{"version":2}\n'))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_RECORDING_INVALID' })
  })
})

/** A session as the bridge records it: session.start, the frame file, session.end with its summary, release. */
async function recordSession (store: AuditStore, n: number, options: { open?: boolean } = {}): Promise<{ summary: RecordingSummary | null, startSeq: number }> {
  const session = id(n)
  const start = await store.append({ kind: 'session', user: 'alice', authMethod: 'ssh', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', reason: 'opened over SSH', fields: { session } })
  const sink = await store.openRecording(session, start.seq, header(n), { flushIntervalMs: 0 })
  sink.output(Buffer.from('$ '))
  sink.input(Buffer.from('echo hi\r'))
  sink.output(Buffer.from('hi\r\n'))
  sink.errorOutput(Buffer.from('warning\n'))
  sink.resize(120, 40)
  if (options.open === true) {
    await sink.flush()
    return { summary: null, startSeq: start.seq }
  }
  const summary = await sink.finish()
  await store.append({ kind: 'session', user: 'alice', authMethod: 'ssh', action: 'session.end', project: 'shop', resource: 'web-1', decision: null, reason: 'exited', fields: { session, startSeq: start.seq, exitCode: 0, endedBy: 'exit', recording: summary } })
  await sink.release()
  return { summary, startSeq: start.seq }
}

async function castOf (store: { readCast: (id: string) => AsyncIterable<string> }, session: string): Promise<string> {
  let text = ''
  for await (const piece of store.readCast(session)) text += piece
  return text
}

describe('a recording file in the store', () => {
  let umask: number
  beforeAll(() => { umask = process.umask() })
  afterEach(() => { process.umask(umask) })

  it('is private, new and ours, its summary is the sha256 of its bytes, and it plays back as asciicast', async () => {
    process.umask(0o022)
    const dir = freshDir()
    const store = await openStore(dir)
    const { summary } = await recordSession(store, 1)
    const path = recordingPath(dir, id(1))
    const bytes = readFileSync(path)
    expect(summary).toEqual({ format: 'frames-v1', frames: 6, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') })
    expect(statSync(join(dir, 'recordings')).mode & 0o777).toBe(0o700)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const cast = (await castOf(store, id(1))).trim().split('\n').map((line) => JSON.parse(line))
    expect(cast[0]).toMatchObject({ version: 2, width: 80, height: 24, portcullis: { sessionId: id(1), user: 'alice' } })
    expect(cast.slice(1).map(([, code, data]) => [code, data])).toEqual([['o', '$ '], ['i', 'echo hi\r'], ['o', 'hi\r\n'], ['o', 'warning\n'], ['r', '120x40']])
    // A second recording of the same session is refused: the file is never written over.
    await expect(store.openRecording(id(1), 1, header(1))).rejects.toMatchObject({ code: 'EEXIST' })
  })

  it('is made private again at the next start when someone opened it up', async () => {
    const dir = freshDir()
    let store = await openStore(dir)
    await recordSession(store, 1)
    await store.close()
    chmodSync(join(dir, 'recordings'), 0o755)
    chmodSync(recordingPath(dir, id(1)), 0o644)
    store = await openStore(dir)
    expect(store.madePrivate).toEqual(expect.arrayContaining(['recordings: 0755 -> 0700', `recordings/${id(1)}.rec: 0644 -> 0600`]))
    expect(statSync(recordingPath(dir, id(1))).mode & 0o777).toBe(0o600)
  })

  it('of a session portcullis stopped in gets its summary at the next start, over what is on disk, a torn frame included', async () => {
    const dir = freshDir()
    let store = await openStore(dir)
    await recordSession(store, 1, { open: true })
    await store.close()
    appendFileSync(recordingPath(dir, id(1)), Buffer.concat([frameHeader('o', 99, 50), Buffer.from('cut')]))
    store = await openStore(dir)
    expect(await recoverInterruptedSessions(store, logger)).toEqual([id(1)])
    const bytes = readFileSync(recordingPath(dir, id(1)))
    const [end] = await (async () => { const found = []; for await (const r of store.read({ reverse: true, limit: 1 })) found.push(r); return found })()
    expect(end!.fields).toMatchObject({ endedBy: 'interrupted', bytesIn: 8, bytesOut: 6, bytesErr: 8, recording: { format: 'frames-v1', frames: 6, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), tornBytes: FRAME_HEADER_BYTES + 3 } })
    expect(await castOf(store, id(1))).toContain('"hi\\r\\n"')
    await store.close()
    expect(await verifyDir(dir)).toMatchObject({ ok: true, sessions: 1 })
  })

  it('sits beside a recording stored the old way (chunks in LevelDB): both verify, and both play', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    const start = await store.append({ kind: 'session', user: 'bob', authMethod: 'ssh', action: 'session.start', resource: 'web-1', decision: 'allow', reason: 'opened', fields: { session: id(2) } })
    const old = new CastRecorder({ width: 80, height: 24, startedAt: new Date(), user: 'bob', container: 'web-1', project: null, sessionId: id(2) })
    const sink = store.castSink(id(2), start.seq, { maxChunkBytes: 64, flushIntervalMs: 0 })
    sink.write(old.header() + '\n')
    for (let i = 0; i < 10; i++) old.output(Buffer.from(`old line ${i}\r\n`), i)
    sink.write(old.drain().join('\n') + '\n')
    const cast = await sink.finish()
    await store.append({ kind: 'session', user: 'bob', authMethod: 'ssh', action: 'session.end', resource: 'web-1', decision: null, reason: 'exited', fields: { session: id(2), startSeq: start.seq, endedBy: 'exit', cast } })
    await sink.release()
    await recordSession(store, 3)
    expect(await castOf(store, id(2))).toContain('old line 9')
    expect(await castOf(store, id(3))).toContain('"hi\\r\\n"')
    expect(await store.verify()).toMatchObject({ ok: true, sessions: 2 })
    await store.close()
    expect(await verifyDir(dir)).toMatchObject({ ok: true, sessions: 2 })
  })
})

describe('verify holds each recording file to its session.end', () => {
  async function storeWithRecording (): Promise<{ dir: string, path: string, endSeq: number }> {
    const dir = freshDir()
    const store = await openStore(dir)
    await recordSession(store, 1)
    await store.append({ kind: 'system', action: 'later' })
    const endSeq = store.head().seq - 1
    await store.close()
    return { dir, path: recordingPath(dir, id(1)), endSeq }
  }

  it('reports a file edited in place', async () => {
    const { dir, path, endSeq } = await storeWithRecording()
    const bytes = readFileSync(path)
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0x20
    writeFileSync(path, bytes)
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: endSeq, problem: 'recording-changed', session: id(1) })
  })

  it('reports a file cut short', async () => {
    const { dir, path, endSeq } = await storeWithRecording()
    truncateSync(path, statSync(path).size - 5)
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: endSeq, problem: 'recording-truncated', session: id(1), detail: expect.stringContaining('the file was cut') })
  })

  it('reports bytes added after the end', async () => {
    const { dir, path } = await storeWithRecording()
    appendFileSync(path, Buffer.concat([frameHeader('o', 1, 4), Buffer.from('more')]))
    expect((await verifyDir(dir)).firstBad).toMatchObject({ problem: 'recording-extended', session: id(1) })
  })

  it('reports a file that is gone', async () => {
    const { dir, path } = await storeWithRecording()
    rmSync(path)
    expect((await verifyDir(dir)).firstBad).toMatchObject({ problem: 'recording-missing', session: id(1) })
  })

  it('reports a file no session.end vouches for', async () => {
    const { dir, path } = await storeWithRecording()
    writeFileSync(recordingPath(dir, id(9)), readFileSync(path))
    expect((await verifyDir(dir)).firstBad).toMatchObject({ problem: 'recording-extra', session: id(9) })
  })

  it('reports a link in the file\'s place, and export refuses to follow it', async () => {
    const { dir, path } = await storeWithRecording()
    const elsewhere = join(root, `elsewhere-${Date.now()}.rec`)
    writeFileSync(elsewhere, readFileSync(path))
    rmSync(path)
    symlinkSync(elsewhere, path)
    expect((await verifyDir(dir)).firstBad).toMatchObject({ problem: 'recording-changed', session: id(1), detail: expect.stringContaining('not a regular file') })
    const store = await openStore(dir)
    await expect(castOf(store, id(1))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_RECORDING_INVALID', message: expect.stringContaining('symbolic link') })
  })

  it('takes the file of a session still being recorded as open, not extra', async () => {
    const store = await openStore()
    await recordSession(store, 1, { open: true })
    expect(await store.verify()).toMatchObject({ ok: true })
  })
})

describe('bundles of recording files', () => {
  let key: AuditSigningKey
  beforeAll(() => { key = ensureAuditKey(join(root, 'keys')).key })

  it('carry the file and its rendering; verify-bundle checks both', async () => {
    const store = await openStore()
    await recordSession(store, 1)
    const bundle = freshDir()
    await writeBundle(bundleSourceOf(store, key), bundle, { generator: 'test' })
    expect(readdirSync(join(bundle, 'sessions')).sort()).toEqual([`${id(1)}.cast`, `${id(1)}.rec`])
    expect(readFileSync(join(bundle, 'sessions', `${id(1)}.cast`), 'utf8')).toBe(await castOf(store, id(1)))
    expect(await verifyBundle(bundle)).toMatchObject({ ok: true, sessions: 1 })

    // An edited .cast is not what the chain vouches for, even with the manifest rewritten to match.
    const castFile = join(bundle, 'sessions', `${id(1)}.cast`)
    writeFileSync(castFile, readFileSync(castFile, 'utf8').replace('hi', 'ho'))
    const manifestFile = join(bundle, 'manifest.json')
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'))
    const edited = readFileSync(castFile)
    manifest.files[`sessions/${id(1)}.cast`] = { sha256: createHash('sha256').update(edited).digest('hex'), bytes: edited.length }
    writeFileSync(manifestFile, JSON.stringify(manifest))
    const report = await verifyBundle(bundle)
    expect(report.ok).toBe(false)
    expect(report.problems).toEqual(expect.arrayContaining([expect.objectContaining({ problem: 'cast-mismatch', session: id(1), file: `sessions/${id(1)}.cast` })]))
  })

  it('are refused when a recording file no longer matches its session.end (the checkpoint signed for the bundle verifies it first)', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    await recordSession(store, 1)
    appendFileSync(recordingPath(dir, id(1)), 'x')
    await expect(writeBundle(bundleSourceOf(store, key), freshDir(), { generator: 'test' })).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_CHAIN_BROKEN', message: expect.stringContaining(`session ${id(1)}`) })
  })
})
