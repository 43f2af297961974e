// A failed write denies calls only while writes fail: the store reopens itself from its durable head, checks the
// chain from there, records the outage (an alert and the gap in service) and takes records again, no restart.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterAll, afterEach, expect, it, vi } from 'vitest'
import { recordKey } from '../../src/audit/keys.js'
import { AuditStore, auditDatabase } from '../../src/audit/store.js'
import type { AuditInput, AuditRecord } from '../../src/audit/record.js'
import { waitFor } from '../helpers/wait.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-recovery-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let dirCount = 0
const open: AuditStore[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(open.splice(0).map(async (store) => await store.close().catch(() => {})))
})

async function openStore (): Promise<AuditStore> {
  const store = await AuditStore.open(join(root, `store-${++dirCount}`), { retryMaxMs: 200 })
  open.push(store)
  return store
}

const decision = (n: number): AuditInput => ({ kind: 'decision', user: 'alice', action: 'container.list', decision: 'allow', reason: `call ${n}` })

/** While `full.on` is true, every record batch fails as a full disk makes it fail; with `full.afterWrite`, the batch
 * is written first (as when only its fsync fails). */
interface FullDisk {
  on: boolean
  afterWrite?: boolean
  /** The LevelDB the store last wrote a batch to, for a test that changes it behind the store's back. */
  level?: Level<string, string>
}
function fillDisk (): FullDisk {
  const full: FullDisk = { on: true }
  // The store writes records with classic-level's own batch (see writeOperations in store.ts).
  const original = (Level.prototype as unknown as { _batch: unknown })._batch as (this: Level<string, string>, ...args: unknown[]) => unknown
  vi.spyOn(Level.prototype as unknown as { _batch: (...args: unknown[]) => Promise<void> }, '_batch').mockImplementation(function (this: Level<string, string>, ...args: unknown[]) {
    const operations = args[0]
    // A batch of records (the store's #flush): one that puts a record key.
    if (!Array.isArray(operations) || !operations.some((op: { key: string }) => op.key.startsWith('r!'))) return original.apply(this, args)
    full.level = this
    return (async () => {
      if (full.on && full.afterWrite === true) await original.apply(this, args)
      if (full.on) throw Object.assign(new Error('IO error: 000003.log: No space left on device'), { code: 'LEVEL_IO_ERROR' })
      await original.apply(this, args)
    })()
  } as never)
  return full
}

/** What `read` returns once `ok` holds of it; fails naming `what` after 5 s. */
async function until<T> (what: string, read: () => T, ok: (value: T) => boolean): Promise<T> {
  const found = await waitFor(what, () => {
    const value = read()
    return ok(value) ? { value } : undefined
  }, { timeoutMs: 5000, intervalMs: 20, detail: () => `the store's outage: ${JSON.stringify(read())}` })
  return found.value
}

it('denies calls while writes fail, then takes them again by itself and records the gap in service', async () => {
  const store = await openStore()
  const before = await store.append(decision(1))
  const full = fillDisk()

  await expect(store.append(decision(2))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_WRITE_FAILED' })
  await expect(store.append(decision(3))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_UNAVAILABLE' })
  await expect(store.append({ kind: 'system', action: 'policy.reload' })).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_UNAVAILABLE' })
  expect(() => store.castSink('s-0123456789abcdef', 1)).toThrow(expect.objectContaining({ code: 'PORTCULLIS_AUDIT_UNAVAILABLE' }))
  // Retries go on (and fail) while the disk is full.
  await until('a second failed retry', () => store.outage()?.attempts ?? 0, (n) => n >= 2)
  await expect(store.append(decision(4))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_UNAVAILABLE' })
  expect(store.outage()).toMatchObject({ state: 'failing', code: 'PORTCULLIS_AUDIT_WRITE_FAILED', deniedCalls: 3, refusedRecords: 4, durable: { seq: 1, hash: before.hash } })
  expect(store.outage()!.error).toContain('No space left on device')
  expect(store.failure).not.toBeNull()
  // Nothing else writes beside the records either (a key space, a checkpoint): LevelDB would drop it when the
  // store is reopened.
  await expect(store.keySpace('ownership').put('probe', 'x')).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_UNAVAILABLE' })
  await expect(store.keySpace('elevation').del('probe')).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_UNAVAILABLE' })
  await expect(auditDatabase(store).put('o!probe', 'x')).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_UNAVAILABLE' })

  full.on = false
  await until('the store writing again', () => store.outage(), (outage) => outage === null)
  expect(store.failure).toBeNull()
  const after = await store.append(decision(5))
  const records: AuditRecord[] = []
  for await (const record of store.read()) records.push(record)
  expect(records.map((r) => r.action ?? r.reason)).toEqual(['container.list', 'audit.write-failed', 'audit.write-recovered', 'container.list'])
  const [, alert, gap] = records
  expect(alert).toMatchObject({ kind: 'system', code: 'PORTCULLIS_AUDIT_WRITE_FAILED', fields: { alert: true, durableSeq: 1 } })
  expect(alert!.reason).toContain('No space left on device')
  expect(gap).toMatchObject({ kind: 'system', fields: { deniedCalls: 3, refusedRecords: 4, resumedAfterSeq: 1 } })
  expect((gap!.fields as { downMs: number }).downMs).toBeGreaterThan(0)
  expect((gap!.fields as { attempts: number }).attempts).toBeGreaterThanOrEqual(2)
  expect(after.seq).toBe(4)
  // The key spaces follow the reopened database.
  await store.keySpace('ownership').put('probe', 'x')
  expect(await store.keySpace('ownership').get('probe')).toBe('x')
  await auditDatabase(store).put('o!probe', 'x')
  expect(await auditDatabase(store).get('o!probe')).toBe('x')
  expect(await store.verify()).toMatchObject({ ok: true, records: 4 })
})

it('keeps refusing, with its own code, a store that lost a record written before the failure', async () => {
  const store = await openStore()
  await store.append(decision(1))
  const durable = await store.append(decision(2))
  const full = fillDisk()
  await expect(store.append(decision(3))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_WRITE_FAILED' })
  // Someone removes a record behind portcullis's back while it cannot write.
  await full.level!.del(recordKey(durable.seq))
  full.on = false

  const outage = await until('the store giving up on recovery', () => store.outage(), (o) => o?.state === 'broken')
  expect(outage).toMatchObject({ state: 'broken', code: 'PORTCULLIS_AUDIT_RECOVERY_REFUSED' })
  expect(outage!.error).toContain('record 2')
  await expect(store.append(decision(4))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_RECOVERY_REFUSED' })
  expect(await store.verify()).toMatchObject({ ok: false })
})

it('names the records that reached the disk although their write reported failure (their calls were denied)', async () => {
  const store = await openStore()
  await store.append(decision(1))
  const full = fillDisk()
  full.afterWrite = true
  await expect(store.append(decision(2))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_WRITE_FAILED' })
  full.afterWrite = false
  await until('a first failed retry', () => store.outage()?.attempts ?? 0, (n) => n >= 1)
  full.on = false
  await until('the store writing again', () => store.outage(), (outage) => outage === null)

  const records: AuditRecord[] = []
  for await (const record of store.read()) records.push(record)
  expect(records.map((r) => r.action)).toEqual(['container.list', 'container.list', 'audit.write-failed', 'audit.write-recovered'])
  expect(records[3]).toMatchObject({ fields: { unacknowledged: { fromSeq: 2, toSeq: 2 }, resumedAfterSeq: 2, deniedCalls: 1 } })
  expect(records[3]!.reason).toContain('records 2 to 2 reached the disk although their write failed')
  expect(await store.verify()).toMatchObject({ ok: true, records: 4 })
})

it('ends a recording at its next write once a record write failed, and takes new recordings after the recovery', async () => {
  const store = await openStore()
  const start = await store.append({ kind: 'session', action: 'session.start' })
  const sink = store.castSink('s-0123456789abcdef', start.seq, { flushIntervalMs: 0 })
  sink.write('[0.1,"o","before"]\n')
  await sink.flush()
  const full = fillDisk()
  await expect(store.append(decision(1))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_WRITE_FAILED' })
  full.on = false // the disk is back, but the store is not reopened yet: the recording must not go on
  sink.write('[0.2,"o","after"]\n')
  await expect(sink.flush()).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_CAST_WRITE_FAILED' })
  expect(sink.failure!.message).toContain('refuses new records since a write failed')

  await until('the store writing again', () => store.outage(), (outage) => outage === null)
  const next = store.castSink('s-00000000000000aa', start.seq)
  next.write('[0.1,"o","again"]\n')
  await next.flush()
  expect(next.summary().chunks).toBe(1)
})
