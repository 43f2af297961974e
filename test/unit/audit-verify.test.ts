import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Level } from 'level'
import { afterAll, describe, expect, it } from 'vitest'
import { chainHash, recordHashMatches, withHash } from '../../src/audit/chain.js'
import { AuditStore } from '../../src/audit/store.js'
import { verifyDir } from '../../src/audit/verify.js'
import { GENESIS_HASH, type AuditRecord } from '../../src/audit/record.js'
import { HEAD_KEY } from '../../src/audit/keys.js'
import { tamper } from '../helpers/tamper.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-audit-verify-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let dirCount = 0

const key = (seq: number): string => 'r!' + seq.toString(16).padStart(16, '0')

/** A closed store with `count` records of every kind. */
async function storeWith (count: number): Promise<string> {
  const dir = join(root, `store-${++dirCount}`)
  const store = await AuditStore.open(dir)
  await store.append({ kind: 'system', action: 'portcullis.start', reason: 'started' })
  for (let i = 2; i <= count; i++) {
    await store.append(i % 3 === 0
      ? { kind: 'response', reqSeq: i - 1, status: 204, method: 'POST', uri: `/containers/c${i}/start` }
      : { kind: 'decision', user: `user${i}`, authMethod: 'tls', action: 'container.start', project: 'web', resource: `c${i}`, method: 'POST', uri: `/containers/c${i}/start`, decision: i % 2 === 0 ? 'allow' : 'deny', reason: 'because', fields: { nested: { z: 1, a: [i, 'x'] } } })
  }
  await store.close()
  return dir
}


async function getRecord (db: Level<string, string>, seq: number): Promise<AuditRecord> {
  return JSON.parse((await db.get(key(seq)))!) as AuditRecord
}

/** The stored text of a record forged by someone who knows how the chain is built. */
function forge (body: object, prevHash: string): string {
  const bodyText = JSON.stringify(body)
  return withHash(bodyText, chainHash(prevHash, bodyText))
}

describe('verify', () => {
  it('passes an untouched chain', async () => {
    const dir = await storeWith(10)
    const report = await verifyDir(dir)
    expect(report).toEqual({ ok: true, records: 10, head: { seq: 10, hash: expect.stringMatching(/^[0-9a-f]{64}$/) } })
  })

  it('passes an empty store', async () => {
    const dir = join(root, 'empty')
    await (await AuditStore.open(dir)).close()
    expect(await verifyDir(dir)).toEqual({ ok: true, records: 0, head: { seq: 0, hash: '0'.repeat(64) } })
  })

  it('names a record whose keys were merely reordered: the hash covers the stored bytes, not the parsed object', async () => {
    const dir = await storeWith(5)
    await tamper(dir, async (db) => {
      const { hash, ...body } = await getRecord(db, 2)
      const reversed = Object.fromEntries(Object.entries(body).reverse())
      await db.put(key(2), JSON.stringify({ ...reversed, hash }))
    })
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: 2, problem: 'hash-mismatch' })
  })

  it('names a change of a single byte that JSON.parse cannot see', async () => {
    const dir = await storeWith(5)
    await tamper(dir, async (db) => {
      await db.put(key(3), (await db.get(key(3)))!.replace('"kind":', '"kind": '))
    })
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: 3, problem: 'hash-mismatch' })
  })

  it('names a record that does not end with its hash as unparseable', async () => {
    const dir = await storeWith(5)
    await tamper(dir, async (db) => {
      await db.put(key(2), JSON.stringify(await getRecord(db, 2), null, 2))
    })
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: 2, problem: 'unparseable', detail: expect.stringContaining('does not end with its hash') })
  })

  it('names an edited record', async () => {
    const dir = await storeWith(10)
    await tamper(dir, async (db) => {
      const record = await getRecord(db, 5)
      record.user = 'mallory'
      await db.put(key(5), JSON.stringify(record))
    })
    const report = await verifyDir(dir)
    expect(report).toMatchObject({ ok: false, records: 4, firstBad: { seq: 5, problem: 'hash-mismatch' } })
  })

  it('names an edit deep inside the request fields', async () => {
    const dir = await storeWith(10)
    await tamper(dir, async (db) => {
      const record = await getRecord(db, 7) as AuditRecord & { fields: { nested: { a: unknown[] } } }
      record.fields.nested.a = [7, 'y']
      await db.put(key(7), JSON.stringify(record))
    })
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: 7, problem: 'hash-mismatch' })
  })

  it('names a deleted record as a gap', async () => {
    const dir = await storeWith(10)
    await tamper(dir, async (db) => { await db.del(key(4)) })
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: 4, problem: 'gap', detail: expect.stringContaining('record 4 is missing') })
  })

  it('names records removed from the end through the head', async () => {
    const dir = await storeWith(10)
    await tamper(dir, async (db) => { await db.batch([{ type: 'del', key: key(10) }, { type: 'del', key: key(9) }]) })
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: 9, problem: 'head-mismatch' })
    // And the daemon will not build on such a chain.
    await expect(AuditStore.open(dir)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_HEAD_MISMATCH' })
  })

  it('names the record after a forged one inserted into the middle', async () => {
    const dir = await storeWith(10)
    await tamper(dir, async (db) => {
      // Shift 6..10 up by one and put a well-formed, correctly chained forgery at 6.
      for (let seq = 10; seq >= 6; seq--) await db.put(key(seq + 1), (await db.get(key(seq)))!)
      const before = await getRecord(db, 5)
      const { hash: _, ...forged } = { ...before, seq: 6, user: 'mallory', prevHash: before.hash }
      await db.put(key(6), forge(forged, before.hash))
      await db.put(HEAD_KEY, JSON.stringify({ seq: 11, hash: (await getRecord(db, 11)).hash }))
    })
    const report = await verifyDir(dir)
    expect(report).toMatchObject({ ok: false, records: 6, firstBad: { seq: 7, problem: 'prev-hash-mismatch' } })
    expect(report.firstBad!.detail).toContain('written as seq 6')
  })

  it('names records appended behind portcullis\'s back through the head', async () => {
    const dir = await storeWith(10)
    await tamper(dir, async (db) => {
      const last = await getRecord(db, 10)
      const { hash: _, ...forged } = { ...last, seq: 11, prevHash: last.hash }
      await db.put(key(11), forge(forged, last.hash))
    })
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: 11, problem: 'head-mismatch' })
  })

  it('names a key that does not belong among the records', async () => {
    const dir = await storeWith(10)
    await tamper(dir, async (db) => { await db.put(key(3) + 'x', '{}') })
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: 4, problem: 'unparseable' })
  })

  it('names the first of two swapped records', async () => {
    const dir = await storeWith(10)
    await tamper(dir, async (db) => {
      const [three, four] = [await db.get(key(3)), await db.get(key(4))]
      await db.batch([{ type: 'put', key: key(3), value: four! }, { type: 'put', key: key(4), value: three! }])
    })
    const report = await verifyDir(dir)
    expect(report.firstBad).toMatchObject({ seq: 3, problem: 'prev-hash-mismatch' })
    expect(report.firstBad!.detail).toContain('reordered')
  })

  it('names a record that is not JSON', async () => {
    const dir = await storeWith(10)
    await tamper(dir, async (db) => { await db.put(key(2), '{"seq":2,') })
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: 2, problem: 'unparseable' })
  })

  it('names a rewritten head', async () => {
    const dir = await storeWith(10)
    await tamper(dir, async (db) => { await db.put(HEAD_KEY, JSON.stringify({ seq: 10, hash: 'f'.repeat(64) })) })
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: 10, problem: 'head-mismatch' })
  })

  it('starts at fromSeq, trusting the record before it', async () => {
    const dir = await storeWith(10)
    await tamper(dir, async (db) => {
      const record = await getRecord(db, 3)
      record.reason = 'edited'
      await db.put(key(3), JSON.stringify(record))
    })
    const store = await AuditStore.open(dir)
    try {
      expect(await store.verify({ fromSeq: 5 })).toMatchObject({ ok: true, records: 6 })
      expect(await store.verify({ fromSeq: 2 })).toMatchObject({ ok: false, firstBad: { seq: 3, problem: 'hash-mismatch' } })
      expect(await store.verify({ fromSeq: 99 })).toMatchObject({ ok: true, records: 0 })
    } finally {
      await store.close()
    }
  })

  it('stays consistent while records are being appended', async () => {
    const dir = join(root, 'live')
    const store = await AuditStore.open(dir)
    try {
      let next = 0
      const writer = async (): Promise<void> => { while (next < 3000) await store.append({ kind: 'system', reason: `r${next++}` }) }
      const writing = Promise.all(Array.from({ length: 32 }, writer))
      const reports = []
      while (next < 3000) reports.push(await store.verify())
      await writing
      expect(reports.length).toBeGreaterThan(1)
      for (const report of reports) expect(report.ok).toBe(true)
      expect(await store.verify()).toMatchObject({ ok: true, records: 3000 })
    } finally {
      await store.close()
    }
  })
})

describe('verifyDir', () => {
  it('fails with PORTCULLIS_AUDIT_LOCKED while a store has the directory open', async () => {
    const dir = await storeWith(2)
    const store = await AuditStore.open(dir)
    try {
      await expect(verifyDir(dir)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_LOCKED' })
    } finally {
      await store.close()
    }
  })

  it('fails with PORTCULLIS_AUDIT_NOT_FOUND for a directory without a store, and creates nothing', async () => {
    const dir = join(root, 'nothing-here')
    await expect(verifyDir(dir)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_NOT_FOUND' })
    expect(existsSync(dir)).toBe(false)
  })
})

describe('recordHashMatches', () => {
  const body = { seq: 1, time: '2024-01-01T00:00:00.000Z', kind: 'system', reason: 'started "quoted" é \u0000', prevHash: GENESIS_HASH }
  const stored = forge(body, GENESIS_HASH)

  it('checks a stored line on its own, and gives the same record as the line parsed', () => {
    expect(stored).toMatch(/,"hash":"[0-9a-f]{64}"\}$/)
    expect(recordHashMatches(stored, GENESIS_HASH)).toBe(true)
    expect(JSON.parse(stored)).toEqual({ ...body, hash: stored.slice(-66, -2) })
  })

  it('fails a line chained onto another hash, or changed in any byte', () => {
    expect(recordHashMatches(stored, 'f'.repeat(64))).toBe(false)
    expect(recordHashMatches(stored.replace('"seq":1', '"seq": 1'), GENESIS_HASH)).toBe(false)
    expect(recordHashMatches(stored.replace(/[0-9a-f]"\}$/, (end) => (end[0] === '0' ? '1' : '0') + '"}'), GENESIS_HASH)).toBe(false)
  })

  it('fails a line without a hash at its end', () => {
    expect(recordHashMatches(stored + '\n', GENESIS_HASH)).toBe(false)
    expect(recordHashMatches(stored.replace(/"\}$/, '" }'), GENESIS_HASH)).toBe(false)
    expect(recordHashMatches(stored.slice(-75), GENESIS_HASH)).toBe(false)
    expect(recordHashMatches('', GENESIS_HASH)).toBe(false)
  })
})
