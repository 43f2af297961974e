import { generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterAll, describe, expect, it } from 'vitest'
import { createCheckpoint, encodeCheckpoint, parseCheckpoint } from '../../src/audit/checkpoint-format.js'
import { readCheckpoints, signCheckpoint } from '../../src/audit/checkpoints.js'
import { BASE_KEY, checkpointKey, decodeHead, encodeHead, recordKey } from '../../src/audit/keys.js'
import type { AuditRecord } from '../../src/audit/record.js'
import { recordingPath } from '../../src/audit/recordings.js'
import { SEGMENT_SIZE, expireRecords, type ExpireOptions } from '../../src/audit/retention.js'
import { recordingShipSource } from '../../src/audit/ship-source.js'
import { auditKeyId, ensureAuditKey, type AuditSigningKey } from '../../src/audit/signing-key.js'
import { AuditStore, auditDatabase } from '../../src/audit/store.js'
import { verifyDir } from '../../src/audit/verify.js'
import { formatExpiry, formatVerifyReport } from '../../src/cli/audit-checkpoints.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { tamper } from '../helpers/tamper.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-retention-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let count = 0
const fresh = (name: string): string => join(root, `${name}-${++count}`)

const { key } = ensureAuditKey(fresh('keys'))
const publicKeys = [key]
const DAY = 86_400_000
/** Two days from now every record written by the test is a day past a one-day retention. */
const later = (): Date => new Date(Date.now() + 2 * DAY)
const expire = (store: AuditStore, options: Partial<ExpireOptions> = {}): ReturnType<typeof expireRecords> =>
  expireRecords(store, { retentionMs: DAY, key, now: later(), ...options })

const sessionId = (n: number): string => `s-${n.toString(16).padStart(16, '0')}`

/** Appends a session with a short recording; its end record lands at the seq the store is at. */
async function recordSession (store: AuditStore, n: number): Promise<void> {
  const session = sessionId(n)
  const start = await store.append({ kind: 'session', user: 'alice', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session, containerId: 'ab'.repeat(32) } })
  const sink = store.castSink(session, start.seq, { flushIntervalMs: 0 })
  sink.write('{"version":2,"width":80,"height":24}\n[0.1,"o","hello\\r\\n"]\n')
  const cast = await sink.finish()
  await store.append({ kind: 'session', user: 'alice', action: 'session.end', project: 'shop', resource: 'web-1', fields: { session, startSeq: start.seq, cast } })
  await sink.release()
}

/** Appends a session recorded as the bridge records it today: a recording file of raw frames. */
async function recordFileSession (store: AuditStore, n: number): Promise<void> {
  const session = sessionId(n)
  const start = await store.append({ kind: 'session', user: 'alice', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session, containerId: 'ab'.repeat(32) } })
  const sink = await store.openRecording(session, start.seq, { version: 2, width: 80, height: 24 }, { flushIntervalMs: 0 })
  sink.output(Buffer.from('hello from a file\r\n'))
  const recording = await sink.finish()
  await store.append({ kind: 'session', user: 'alice', action: 'session.end', project: 'shop', resource: 'web-1', fields: { session, startSeq: start.seq, recording } })
  await sink.release()
}

/** Appends decisions up to seq `to`, many at a time (group commit keeps this quick). */
async function fillTo (store: AuditStore, to: number): Promise<void> {
  const pending: Array<Promise<AuditRecord>> = []
  for (let seq = store.head().seq + 1; seq <= to; seq++) {
    pending.push(store.append({ kind: 'decision', user: `user${seq % 7}`, action: 'container.start', project: 'web', resource: `container c${seq % 11} (${'0123456789ab'})`, decision: 'allow', reason: `call ${seq}` }))
  }
  await Promise.all(pending)
}

/**
 * 2.5 segments: a session ending in segment 1 (seqs 101, 102), checkpoints at 5000 and 15000, a session ending
 * in segment 3, and the rest decisions.
 */
async function bigStore (): Promise<{ dir: string, store: AuditStore }> {
  const dir = fresh('store')
  const store = await AuditStore.open(dir)
  await fillTo(store, 100)
  await recordSession(store, 1)
  await fillTo(store, 200)
  await recordFileSession(store, 3)
  await fillTo(store, 5000)
  await signCheckpoint(store, key)
  await fillTo(store, 15000)
  await signCheckpoint(store, key)
  await fillTo(store, 24_000)
  await recordSession(store, 2)
  await recordFileSession(store, 4)
  await fillTo(store, 25_000)
  return { dir, store }
}

async function castText (store: AuditStore, session: string): Promise<string> {
  let text = ''
  for await (const chunk of store.readCast(session)) text += chunk
  return text
}


describe('expiry on a host that ships to a fleet database', { timeout: 60_000 }, () => {
  it('keeps what the database does not hold yet, bundled or not, removes what it holds, and records a forced removal', async () => {
    const store = await AuditStore.open(fresh('shipping'))
    await fillTo(store, 21_000)
    // A bundle is not enough: the copy a shipping host keeps its records for is the database's.
    await store.markBundled(21_000)
    await store.markShipped(5_000)
    const held = await expire(store)
    expect(held).toMatchObject({ removed: null, held: { fromSeq: 1, toSeq: 20_000 }, bundledSeq: 21_000, shippedSeq: 5_000 })
    expect(formatExpiry({ ...held, retention: '1d' })).toContain('kept records 1 to 20000: they are past the retention, but the fleet database does not hold them yet (shipped up to seq 5000)')

    await store.markShipped(12_000)
    expect(await expire(store)).toMatchObject({ removed: { fromSeq: 1, toSeq: 10_000 }, held: { fromSeq: 10_001, toSeq: 20_000 } })
    // The mark only rises.
    await store.markShipped(3_000)
    expect(await expire(store, { dryRun: true })).toMatchObject({ shippedSeq: 12_000 })

    await expire(store, { force: true })
    const [expired] = await store.tail(1)
    expect(expired).toMatchObject({ action: 'audit.expired', fields: { fromSeq: 10_001, toSeq: 20_000, forced: true, shippedSeq: 12_000 } })
    expect(expired!.reason).toContain('forced, 8000 of them were not in the fleet database')
    await store.close()
  })
})

describe('expiry keeps a recording the fleet database does not hold whole', { timeout: 60_000 }, () => {
  it('holds the segment of a session.end whose recording is not shipped, and the later ones; removes it, the file and the mark once the recording shipper marks it', async () => {
    const store = await AuditStore.open(fresh('shipping-recording'))
    await fillTo(store, 100)
    await recordFileSession(store, 7)
    await fillTo(store, 21_000)
    await store.markShipped(21_000)
    const file = recordingPath(store.dir, sessionId(7))
    const held = await expire(store)
    expect(held).toMatchObject({ removed: null, held: { fromSeq: 1, toSeq: 20_000 }, recordingNotShipped: sessionId(7) })
    expect(formatExpiry({ ...held, retention: '1d' })).toContain(`the fleet database does not hold the whole recording of session ${sessionId(7)} yet`)
    expect(existsSync(file)).toBe(true)

    // Part of it is not enough.
    const source = recordingShipSource(store)
    const progress = await source.progress(sessionId(7))
    expect(progress).toMatchObject({ open: false })
    await source.markShipped(sessionId(7), progress!.bytes - 1)
    expect(await expire(store)).toMatchObject({ removed: null, recordingNotShipped: sessionId(7) })

    await source.markShipped(sessionId(7), progress!.bytes)
    const result = await expire(store)
    expect(result).toMatchObject({ removed: { fromSeq: 1, toSeq: 20_000 }, held: null })
    expect(result.recordingNotShipped).toBeUndefined()
    expect(existsSync(file)).toBe(false)
    // Its shipped mark goes with it: no mark outlives its recording.
    expect(await source.shipped(sessionId(7))).toBe(null)
    expect(await source.sessions()).toEqual([])
    await store.close()
  })

  it('a forced expiry removes it anyway, and a host that does not ship keeps to its bundles only', async () => {
    const store = await AuditStore.open(fresh('forced-recording'))
    await fillTo(store, 100)
    await recordFileSession(store, 8)
    await fillTo(store, 11_000)
    await store.markBundled(11_000)
    // Not shipping: the bundle is the copy, the recording is in it.
    expect(await expire(store, { dryRun: true })).toMatchObject({ removed: { fromSeq: 1, toSeq: 10_000 }, shippedSeq: null })
    await store.markShipped(11_000)
    expect(await expire(store, { dryRun: true })).toMatchObject({ removed: null, recordingNotShipped: sessionId(8) })
    expect(await expire(store, { force: true })).toMatchObject({ removed: { fromSeq: 1, toSeq: 10_000 } })
    expect(existsSync(recordingPath(store.dir, sessionId(8)))).toBe(false)
    await store.close()
  })
})

// One store for the sequence of expiries below (filling it is the slow part), and one copy of its state after
// the first expiry for the tampering tests.
describe('expiry', { timeout: 60_000 }, () => {
  let dir: string
  let store: AuditStore

  it('keeps old records that no bundle holds yet, and says so', async () => {
    ({ dir, store } = await bigStore())
    const result = await expire(store)
    expect(result).toMatchObject({ dryRun: false, removed: null, held: { fromSeq: 1, toSeq: 20_000 }, bundledSeq: 0 })
    expect(formatExpiry({ ...result, retention: '1d' })).toContain('kept records 1 to 20000: they are past the retention, but no evidence bundle holds them (bundled up to seq 0)')
    expect((await store.tail(1))[0]!.seq).toBe(25_000) // nothing was recorded either
    expect(await store.verify({ publicKeys })).toMatchObject({ ok: true, records: 25_000 })
  })

  it('removes nothing that is not old enough, and nothing at all on a dry run', async () => {
    await store.markBundled(15_000)
    expect(await expire(store, { now: new Date() })).toMatchObject({ removed: null, held: null })
    expect(await expire(store, { retentionMs: null })).toMatchObject({ cutoff: null, removed: null })
    const dry = await expire(store, { dryRun: true })
    expect(dry).toMatchObject({ dryRun: true, removed: { fromSeq: 1, toSeq: 10_000, records: 10_000, segments: 1 }, held: { fromSeq: 10_001, toSeq: 20_000 } })
    expect(formatExpiry({ ...dry, retention: '1d' })).toContain('would remove records 1 to 10000')
    expect(await expire(store, { dryRun: true, force: true })).toMatchObject({ removed: { fromSeq: 1, toSeq: 20_000, segments: 2 }, held: null })
    expect(store.head().seq).toBe(25_000)
  })

  it('removes whole bundled segments with their indexes and recordings, and the rest still verifies', async () => {
    const result = await expire(store)
    expect(result).toMatchObject({ removed: { fromSeq: 1, toSeq: SEGMENT_SIZE, records: SEGMENT_SIZE, segments: 1 }, held: { fromSeq: 10_001, toSeq: 20_000 }, bundledSeq: 15_000 })
    expect(result.checkpoint).toMatchObject({ seq: SEGMENT_SIZE, keyId: key.keyId })
    expect(result.recordSeq).toBe(25_001)

    const [expired] = await store.tail(1)
    expect(expired).toMatchObject({ kind: 'system', action: 'audit.expired', fields: { fromSeq: 1, toSeq: 10_000, records: 10_000, forced: false, retention: '1d', bundledSeq: 15_000 } })

    // Records, index entries, the recording of the session that ended in the segment, and old checkpoints are gone;
    // the checkpoint at the new base stays, as does everything after it.
    expect(await auditDatabase(store).get(recordKey(1))).toBeUndefined()
    expect(await auditDatabase(store).get(recordKey(SEGMENT_SIZE))).toBeUndefined()
    expect(await auditDatabase(store).get(recordKey(SEGMENT_SIZE + 1))).toBeDefined()
    const leftInSegment = []
    for await (const key of auditDatabase(store).keys({ gte: 'x!', lt: 'x"' })) if (Number.parseInt(key.slice(-16), 16) <= SEGMENT_SIZE) leftInSegment.push(key)
    expect(leftInSegment).toEqual([])
    expect(await castText(store, sessionId(1))).toBe('')
    expect(await castText(store, sessionId(2))).toContain('hello')
    expect(existsSync(recordingPath(store.dir, sessionId(3)))).toBe(false)
    expect(await castText(store, sessionId(4))).toContain('hello from a file')
    const checkpoints: number[] = []
    for await (const c of readCheckpoints(auditDatabase(store))) checkpoints.push(c.seq)
    expect(checkpoints).toEqual([SEGMENT_SIZE, 15_000])
    expect(decodeHead((await auditDatabase(store).get(BASE_KEY))!)).toEqual({ seq: SEGMENT_SIZE, hash: result.checkpoint!.hash })

    const report = await store.verify({ publicKeys })
    expect(report).toMatchObject({ ok: true, records: 15_001, base: { seq: SEGMENT_SIZE }, checkpoints: { checked: 2, last: { seq: 15_000 } } })
    expect(formatVerifyReport(report)).toContain('records 1 to 10000 were expired; the chain is checked from record 10001')
    // A query still works over what is left.
    let found = 0
    for await (const record of store.query({ user: 'user3' })) {
      expect(record.seq).toBeGreaterThan(SEGMENT_SIZE)
      found++
    }
    expect(found).toBeGreaterThan(0)
  })

  it('removes records no bundle holds when forced, and records that it did', async () => {
    const result = await expire(store, { force: true })
    expect(result).toMatchObject({ removed: { fromSeq: 10_001, toSeq: 20_000, segments: 1 }, held: null })
    const [expired] = await store.tail(1)
    expect(expired).toMatchObject({ action: 'audit.expired', fields: { fromSeq: 10_001, toSeq: 20_000, forced: true } })
    expect(expired!.reason).toContain('forced, 5000 of them were in no bundle')
    expect(await store.verify({ publicKeys })).toMatchObject({ ok: true, records: 5002, base: { seq: 20_000 } })
    // The segment holding the newest record always stays.
    expect(await expire(store, { force: true, now: new Date(Date.now() + 3 * DAY) })).toMatchObject({ removed: null })
    // A new checkpoint over the rest starts from the kept one.
    await expect(signCheckpoint(store, key)).resolves.toMatchObject({ seq: 25_002 })
    await store.close()
    expect(await verifyDir(dir, { publicKeys })).toMatchObject({ ok: true, base: { seq: 20_000 }, checkpoints: { last: { seq: 25_002 } } })
  })

  it('trusts the base only when the checkpoint kept for it holds', async () => {
    const base = decodeHead((await withDb(dir, async (db) => await db.get(BASE_KEY)))!)!

    await tamper(dir, async (db) => { await db.put(BASE_KEY, encodeHead({ seq: base.seq, hash: 'f'.repeat(64) })) })
    expect((await verifyDir(dir, { publicKeys })).firstBad).toMatchObject({ seq: base.seq, problem: 'checkpoint-mismatch' })
    await tamper(dir, async (db) => { await db.put(BASE_KEY, encodeHead(base)) })

    const kept = await withDb(dir, async (db) => await db.get(checkpointKey(base.seq)))
    const other = (() => {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      return { keyId: auditKeyId(publicKey), publicKey, privateKey, publicKeyPem: '', path: '' } satisfies AuditSigningKey
    })()
    await tamper(dir, async (db) => { await db.put(checkpointKey(base.seq), encodeCheckpoint(createCheckpoint(other, base))) })
    expect((await verifyDir(dir, { publicKeys })).firstBad).toMatchObject({ seq: base.seq, problem: 'checkpoint-forged' })

    await tamper(dir, async (db) => { await db.del(checkpointKey(base.seq)) })
    expect((await verifyDir(dir, { publicKeys })).firstBad).toMatchObject({ seq: base.seq, problem: 'gap', detail: expect.stringContaining('no checkpoint signs record 20000') })

    await tamper(dir, async (db) => { await db.put(checkpointKey(base.seq), kept!) })
    expect(parseCheckpoint(kept!)?.seq).toBe(base.seq)
    expect(await verifyDir(dir, { publicKeys })).toMatchObject({ ok: true })
  })
})

describe('records removed from the start by someone else', () => {
  it('are a gap, with or without a base entry', async () => {
    const dir = fresh('store')
    const store = await AuditStore.open(dir)
    await fillTo(store, 30)
    await store.close()
    const record10 = await withDb(dir, async (db) => JSON.parse((await db.get(recordKey(10)))!) as AuditRecord)
    await tamper(dir, async (db) => {
      for (let seq = 1; seq <= 10; seq++) await db.del(recordKey(seq))
    })
    expect((await verifyDir(dir, { publicKeys })).firstBad).toMatchObject({ seq: 1, problem: 'gap' })
    await tamper(dir, async (db) => { await db.put(BASE_KEY, encodeHead(record10)) })
    expect((await verifyDir(dir, { publicKeys })).firstBad).toMatchObject({ seq: 10, problem: 'gap' })
  })
})

async function withDb<T> (dir: string, read: (db: Level<string, string>) => Promise<T>): Promise<T> {
  const db = new Level<string, string>(dir)
  await db.open()
  try {
    return await read(db)
  } finally {
    await db.close()
  }
}

describe('the policy\'s audit settings', () => {
  const minimal = { roles: { dev: { allow: ['container.*'] } }, projects: {} }

  it('default to a checkpoint every 5 minutes and no retention', () => {
    expect(compilePolicy(minimal).audit).toEqual({ checkpointIntervalMs: 300_000, checkpointRecords: 100_000, retentionMs: null, verifyIntervalMs: 3_600_000, auditors: new Set() })
    expect(compilePolicy({ ...minimal, audit: { checkpointInterval: '30s', checkpointRecords: 500, retention: '400d', verifyInterval: '10m', auditors: ['dana'] } }).audit).toEqual({ checkpointIntervalMs: 30_000, checkpointRecords: 500, retentionMs: 400 * DAY, verifyIntervalMs: 600_000, auditors: new Set(['dana']) })
  })

  it('refuse durations of zero, other shapes and unknown fields', () => {
    expect(() => compilePolicy({ ...minimal, audit: { checkpointInterval: '0m' } })).toThrow(/\$\.audit\.checkpointInterval: must be longer than 0/)
    expect(() => compilePolicy({ ...minimal, audit: { retention: '1 year' } })).toThrow(/\$\.audit\.retention/)
    expect(() => compilePolicy({ ...minimal, audit: { retain: '1d' } })).toThrow(/unknown field "retain"/)
  })
})
