import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterAll, describe, expect, it } from 'vitest'
import { canonicalJSON } from '../../src/audit/canonical-json.js'
import { chainHash } from '../../src/audit/chain.js'
import { AuditStore } from '../../src/audit/store.js'
import { verifyDir } from '../../src/audit/verify.js'
import type { AuditRecord } from '../../src/audit/record.js'
import { HEAD_KEY } from '../../src/audit/keys.js'

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

/** Opens the LevelDB behind a closed store, as someone with access to the files could. */
async function tamper (dir: string, change: (db: Level<string, string>) => Promise<void>): Promise<void> {
  const db = new Level<string, string>(dir)
  await db.open()
  try {
    await change(db)
  } finally {
    await db.close()
  }
}

async function getRecord (db: Level<string, string>, seq: number): Promise<AuditRecord> {
  return JSON.parse((await db.get(key(seq)))!) as AuditRecord
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

  it('does not care in which order a stored record lists its keys', async () => {
    const dir = await storeWith(5)
    await tamper(dir, async (db) => {
      const record = await getRecord(db, 2) as unknown as Record<string, unknown>
      const reversed = Object.fromEntries(Object.entries(record).reverse())
      await db.put(key(2), JSON.stringify(reversed, null, 2))
    })
    expect((await verifyDir(dir)).ok).toBe(true)
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
      await db.put(key(6), JSON.stringify({ ...forged, hash: chainHash(before.hash, forged) }))
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
      await db.put(key(11), JSON.stringify({ ...forged, hash: chainHash(last.hash, forged) }))
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

describe('canonicalJSON', () => {
  it('sorts keys at every depth', () => {
    expect(canonicalJSON({ b: 1, a: { d: [{ y: 1, x: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[{"x":2,"y":1}]},"b":1}')
  })

  it('gives the same text before storing and after a JSON round trip', () => {
    const awkward = {
      text: 'quote " backslash \\ newline \n tab \t nul \u0000 lone \ud800 pair \ud83d\ude00 unicode é',
      when: new Date(0),
      missing: undefined,
      fn: () => 1,
      list: [undefined, NaN, Infinity, -0, 1e21, 0.1],
      boxed: [Object(1), Object('s'), Object(true)],
      empty: {},
      'key "quoted"': true
    }
    const text = canonicalJSON(awkward)
    expect(canonicalJSON(JSON.parse(JSON.stringify(awkward)))).toBe(text)
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(awkward)))
  })

  it('refuses values JSON cannot hold', () => {
    expect(() => canonicalJSON(undefined)).toThrow(TypeError)
    expect(() => canonicalJSON({ n: 1n })).toThrow(TypeError)
  })
})
