// The audit store owns its database: other modules keep their entries in key spaces it hands out, a store of the
// layout before key spaces is moved into them at open (in one batch with the layout version), a store of a newer
// layout is refused, and read-only opens write nothing.
import { Level } from 'level'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { readCheckpoints, signCheckpoint } from '../../src/audit/checkpoints.js'
import { LAYOUT_VERSION, LAYOUT_VERSION_KEY, recordKey } from '../../src/audit/keys.js'
import { migrateLayout } from '../../src/audit/migration.js'
import { openAuditReader } from '../../src/audit/reader.js'
import { SEGMENT_SIZE, expireRecords } from '../../src/audit/retention.js'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { AuditStore, auditDatabase } from '../../src/audit/store.js'
import { verifyDir } from '../../src/audit/verify.js'
import type { AuditRecord } from '../../src/audit/record.js'
import { ElevationStorage } from '../../src/elevation/storage.js'
import type { ElevationRequest } from '../../src/elevation/request.js'
import { OwnershipRegistry } from '../../src/ownership/registry.js'
import { rawEntries } from '../helpers/tamper.js'
import { tempStores } from '../helpers/temp-stores.js'

const stores = tempStores('portcullis-layout-')
const logger = pino({ level: 'silent' })
const CONTAINER = 'c'.repeat(64)
const NETWORK = 'd'.repeat(64)

const pending: ElevationRequest = {
  id: 'r-0123456789ab', user: 'alice', project: 'pay', role: 'admin', heldRole: 'developer', ttlMs: 3_600_000,
  reason: 'incident 42', state: 'pending', createdAt: 1_760_000_000_000, pendingUntil: 1_760_000_900_000
}
const approved: ElevationRequest = {
  ...pending, id: 'r-ba9876543210', state: 'approved', decidedAt: 1_760_000_100_000, decidedBy: 'bob',
  grant: { id: 'g-00112233aabb', expiresAt: 4_102_444_800_000 }
}

/**
 * A store as portcullis wrote it before key spaces: records (and everything the store writes beside them), no
 * `s!layout`, and the elevation and ownership entries under the keys src/elevation/storage.ts and
 * src/ownership/registry.ts built then, with the values they wrote.
 */
async function oldLayoutStore (): Promise<string> {
  const dir = stores.freshDir()
  const store = await AuditStore.open(dir)
  for (let i = 1; i <= 5; i++) await store.append({ kind: 'decision', user: 'alice', action: 'container.list', decision: 'allow', reason: `call ${i}` })
  await store.close()
  const db = new Level<string, string>(dir, { createIfMissing: false })
  await db.open()
  await db.batch([
    { type: 'del', key: LAYOUT_VERSION_KEY },
    { type: 'put', key: `e!req!${pending.id}`, value: JSON.stringify(pending) },
    { type: 'put', key: `e!req!${approved.id}`, value: JSON.stringify(approved) },
    { type: 'put', key: `w!e!container!${CONTAINER}`, value: JSON.stringify({ project: 'pay', via: 'create' }) },
    { type: 'put', key: `w!e!network!${NETWORK}`, value: JSON.stringify({ project: 'web', via: 'adopted' }) },
    { type: 'put', key: 'w!e!volume!data', value: JSON.stringify({ project: 'pay', via: 'create' }) },
    { type: 'put', key: 'w!adopted', value: '2026-01-01T00:00:00.000Z' }
  ], { sync: true })
  await db.close()
  return dir
}

/** What the elevation service and the ownership registry load from `store`. */
async function loaded (store: AuditStore): Promise<{ requests: ElevationRequest[], unreadable: string[], owners: OwnershipRegistry }> {
  const { requests, unreadable } = await new ElevationStorage(store.keySpace('elevation')).loadAll()
  const owners = await OwnershipRegistry.open(store.keySpace('ownership'), logger)
  return { requests: requests.sort((a, b) => a.id.localeCompare(b.id)), unreadable, owners }
}

describe('the layout migration', () => {
  it('moves the elevation requests and the ownership registry of an older store into their key spaces at open', async () => {
    const dir = await oldLayoutStore()
    const store = await stores.openStore(dir)
    const { requests, unreadable, owners } = await loaded(store)
    expect(requests).toEqual([pending, approved])
    expect(unreadable).toEqual([])
    expect(owners.get('container', CONTAINER)).toEqual({ project: 'pay', via: 'create' })
    expect(owners.get('network', NETWORK)).toEqual({ project: 'web', via: 'adopted' })
    expect(owners.get('volume', 'data')).toEqual({ project: 'pay', via: 'create' })
    expect(owners.size).toBe(3)
    expect(owners.adopted).toBe(true)
    // The records were not touched, and the store still takes them.
    expect((await store.append({ kind: 'system', action: 'policy.reload' })).seq).toBe(6)
    expect(await store.verify()).toMatchObject({ ok: true, records: 6 })
    await store.close()

    const raw = await rawEntries(dir)
    expect(raw.get(LAYOUT_VERSION_KEY)).toBe(String(LAYOUT_VERSION))
    expect([...raw.keys()].filter((key) => key.startsWith('e!') || key.startsWith('w!')), 'nothing is left under the old keys').toEqual([])
    expect(raw.get(`!elevation!req!${pending.id}`)).toBe(JSON.stringify(pending))
    expect(raw.get(`!ownership!e!container!${CONTAINER}`)).toBe(JSON.stringify({ project: 'pay', via: 'create' }))
    expect(raw.get('!ownership!adopted')).toBe('2026-01-01T00:00:00.000Z')
    expect(raw.has(recordKey(5))).toBe(true)
  })

  it('runs once: opening the migrated store again moves nothing and loses nothing', async () => {
    const dir = await oldLayoutStore()
    await (await AuditStore.open(dir)).close()
    const first = await rawEntries(dir)

    const store = await stores.openStore(dir)
    const { requests, owners } = await loaded(store)
    expect(requests.map((r) => r.id)).toEqual([pending.id, approved.id])
    expect(owners.size).toBe(3)
    await store.close()
    const second = await rawEntries(dir)
    const entriesBeside = (raw: Map<string, string>): Array<[string, string]> => [...raw].filter(([key]) => key.startsWith('!') || key === LAYOUT_VERSION_KEY)
    expect(entriesBeside(second)).toEqual(entriesBeside(first))

    const db = new Level<string, string>(dir, { createIfMissing: false })
    await db.open()
    try {
      expect(await migrateLayout(db, dir), 'a store at this layout has nothing to move').toBe(0)
    } finally {
      await db.close()
    }
  })

  it('gives a new store the layout version, and key-space entries survive a reopen', async () => {
    const dir = stores.freshDir()
    const store = await stores.openStore(dir)
    const owners = await OwnershipRegistry.open(store.keySpace('ownership'), logger)
    await owners.record('container', CONTAINER, { project: 'pay', via: 'create' })
    await new ElevationStorage(store.keySpace('elevation')).save(pending)
    await store.close()
    expect((await rawEntries(dir)).get(LAYOUT_VERSION_KEY)).toBe(String(LAYOUT_VERSION))

    const reopened = await stores.openStore(dir)
    const again = await loaded(reopened)
    expect(again.requests).toEqual([pending])
    expect(again.owners.get('container', CONTAINER)).toEqual({ project: 'pay', via: 'create' })
  })

  it('refuses a store a newer portcullis wrote, with a code, and writes nothing to it', async () => {
    for (const version of [String(LAYOUT_VERSION + 1), 'two']) {
      const dir = await oldLayoutStore()
      const db = new Level<string, string>(dir, { createIfMissing: false })
      await db.open()
      await db.put(LAYOUT_VERSION_KEY, version, { sync: true })
      await db.close()
      const before = await rawEntries(dir)

      const refusal = await AuditStore.open(dir).then(() => null, (err: unknown) => err as Error & { code?: string })
      expect(refusal?.code).toBe('PORTCULLIS_AUDIT_LAYOUT_NEWER')
      expect(refusal?.message).toContain(JSON.stringify(version))
      expect(refusal?.message).toContain('Upgrade portcullis')
      // Readers refuse it too: what this build reads as records may not be what a newer one wrote there.
      await expect(verifyDir(dir)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_LAYOUT_NEWER' })
      await expect(openAuditReader(dir)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_LAYOUT_NEWER' })
      const after = await rawEntries(dir)
      expect(after, 'the refused store is as it was: not migrated, not indexed').toEqual(before)
    }
  })

  it('leaves an older store alone when it is only read (verify, export)', async () => {
    const dir = await oldLayoutStore()
    const before = await rawEntries(dir)

    expect(await verifyDir(dir)).toMatchObject({ ok: true, records: 5 })
    const reader = await openAuditReader(dir)
    const records: AuditRecord[] = []
    try {
      for await (const record of reader.query({})) records.push(record)
    } finally {
      await reader.close()
    }
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5])
    expect(await rawEntries(dir)).toEqual(before)
  })
})

describe('the store\'s exclusive queue', () => {
  it('runs a checkpoint and an expiry started together one after the other, never interleaved', async () => {
    const { key } = ensureAuditKey(stores.freshDir())
    const store = await stores.openStore()
    const appends: Array<Promise<AuditRecord>> = []
    for (let seq = 1; seq <= 2 * SEGMENT_SIZE + 5; seq++) appends.push(store.append({ kind: 'decision', user: 'alice', action: 'container.start', decision: 'allow', reason: `call ${seq}` }))
    await Promise.all(appends)

    // Each task the store runs exclusively is marked where it starts and ends; what the two log falls in between.
    const events: string[] = []
    const exclusive = store.exclusive.bind(store)
    store.exclusive = async <T>(task: () => Promise<T>): Promise<T> => await exclusive(async () => {
      events.push('start')
      try {
        return await task()
      } finally {
        events.push('end')
      }
    })
    const logged = pino({ level: 'info' }, { write: (line: string) => { events.push((JSON.parse(line) as { msg: string }).msg) } })

    const signed = signCheckpoint(store, key, { seq: SEGMENT_SIZE / 2, logger: logged })
    const expired = expireRecords(store, { retentionMs: 86_400_000, key, now: new Date(Date.now() + 2 * 86_400_000), force: true, logger: logged })
    const [checkpoint, expiry] = await Promise.all([signed, expired])

    expect(events).toEqual(['start', 'audit checkpoint', 'end', 'start', 'audit checkpoint', 'audit checkpoint', 'audit records expired', 'end'])
    expect(checkpoint.seq).toBe(SEGMENT_SIZE / 2)
    expect(expiry.removed).toMatchObject({ fromSeq: 1, toSeq: 2 * SEGMENT_SIZE })
    // The checkpoint signed first went with the records it vouched for: only the one at the new base is kept.
    const kept: number[] = []
    for await (const c of readCheckpoints(auditDatabase(store))) kept.push(c.seq)
    expect(kept).toEqual([2 * SEGMENT_SIZE])
    expect(await store.verify({ publicKeys: [key] })).toMatchObject({ ok: true })
  }, 60_000)

  it('runs its tasks in the order they were given, each after the one before settled, failed or not', async () => {
    const store = await stores.openStore()
    const order: string[] = []
    let open!: () => void
    const gate = new Promise<void>((resolve) => { open = resolve })
    const first = store.exclusive(async () => { order.push('first'); await gate; throw new Error('first failed') })
    const second = store.exclusive(async () => { order.push('second'); return 2 })
    const bundled = store.markBundled(0).then((seq) => { order.push('markBundled'); return seq })
    await new Promise((resolve) => setImmediate(resolve))
    expect(order, 'nothing runs while the first task holds the queue').toEqual(['first'])
    open()
    await expect(first).rejects.toThrow('first failed')
    expect(await second).toBe(2)
    expect(await bundled).toBe(0)
    expect(order).toEqual(['first', 'second', 'markBundled'])
  })
})
