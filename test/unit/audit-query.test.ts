import { readFileSync } from 'node:fs'
import type http from 'node:http'
import { join } from 'node:path'
import { PassThrough, Writable } from 'node:stream'
import express from 'express'
import { Level } from 'level'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { adminRequest } from '../../src/admin/client.js'
import { EXPORT_FILTER_HEADER, addAuditExportRoute } from '../../src/admin/audit-export-route.js'
import { recordHashMatches } from '../../src/audit/chain.js'
import { CSV_HEADER, csvRow } from '../../src/audit/csv.js'
import { writeExport } from '../../src/audit/export.js'
import { collectContainerNames, escapeIndexName, indexKeysOf } from '../../src/audit/indexes.js'
import { actionPattern, filterFromParams, filterToParams, parseTimeBound, recordMatcher, seqAtOrAfter, type AuditFilter } from '../../src/audit/query.js'
import { openAuditReader } from '../../src/audit/reader.js'
import type { AuditInput, AuditRecord } from '../../src/audit/record.js'
import { AuditStore } from '../../src/audit/store.js'
import { withAuditAccess } from '../../src/cli/audit-access.js'
import { exportFilterFromFlags, exportRecords } from '../../src/cli/audit-export.js'
import { ExportProgress } from '../../src/cli/export-progress.js'
import { tempStores } from '../helpers/temp-stores.js'

const { root, freshDir, openStore } = tempStores('portcullis-query-')

afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

async function collect<T> (items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of items) out.push(item)
  return out
}
const seqsOf = async (items: AsyncIterable<AuditRecord>): Promise<number[]> => (await collect(items)).map((r) => r.seq)

const PAY_ID = '6bb21ffec17d' + 'a'.repeat(52)
const SESSION = 's-0123456789abcdef'

/** What the plugin records, in each of the shapes the container index has to read. */
function call (user: string, project: string, action: string, decision: 'allow' | 'deny', resource: string | null, fields?: Record<string, unknown>): AuditInput {
  return { kind: 'decision', user, authMethod: 'jwt', action, project, resource, method: 'POST', uri: `/v1.41/${action}`, decision, reason: 'test', ...(fields !== undefined ? { fields } : {}) }
}

/** A fixed trail: 1 system, then calls by alice and bob in two projects, an SSH session, responses. */
const TRAIL: AuditInput[] = [
  { kind: 'system', action: 'portcullis.start', reason: 'started' }, // 1
  call('alice', 'payments', 'container.create', 'allow', 'container pay-1'), // 2 (not yet created: no ID)
  call('alice', 'payments', 'container.start', 'allow', 'container pay-1 (6bb21ffec17d)'), // 3
  { kind: 'response', reqSeq: 3, status: 204, user: 'alice', method: 'POST', uri: '/v1.41/containers/pay-1/start' }, // 4
  call('bob', 'payments', 'container.exec', 'deny', 'container 6bb21ffec17d (6bb21ffec17d)'), // 5: by ID prefix
  call('bob', 'web', 'container.stop', 'allow', 'container web-1 (0123456789ab)'), // 6
  call('alice', 'web', 'image.pull', 'deny', 'image nginx'), // 7
  { kind: 'session', user: 'alice', authMethod: 'ssh', action: 'session.start', project: 'payments', resource: 'pay-1', reason: 'ok', fields: { session: SESSION, containerId: PAY_ID } }, // 8
  call('alice', 'payments', 'container.exec', 'allow', `container ${PAY_ID}`, { session: SESSION }), // 9: the bridge's exec create
  call('alice', 'payments', 'exec.start', 'allow', 'exec 3c0ffee (container 6bb21ffec17d)', { session: SESSION }), // 10
  { kind: 'session', user: 'alice', authMethod: 'ssh', action: 'session.end', project: 'payments', resource: 'pay-1', reason: 'exit', fields: { session: SESSION, containerId: PAY_ID } }, // 11
  call('bob', 'web', 'container.list', 'allow', null) // 12
]

async function trailStore (): Promise<{ store: AuditStore, dir: string, records: AuditRecord[] }> {
  const dir = freshDir()
  const store = await openStore(dir)
  const records: AuditRecord[] = []
  for (const input of TRAIL) records.push(await store.append(input))
  return { store, dir, records }
}

async function storedKeys (dir: string, prefix: string): Promise<string[]> {
  const db = new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  try {
    return await db.keys({ gte: prefix, lt: prefix + '\uffff' }).all()
  } finally {
    await db.close()
  }
}

describe('indexes', () => {
  it('are written with the records: user, project, session, and every name a record gives its container', async () => {
    const { store, dir, records } = await trailStore()
    await store.close()
    const keys = await storedKeys(dir, 'x!')
    const seqsUnder = (prefix: string): number[] => keys.filter((k) => k.startsWith(prefix)).map((k) => Number.parseInt(k.slice(-16), 16))
    expect(seqsUnder('x!u!alice!')).toEqual([2, 3, 4, 7, 8, 9, 10, 11])
    expect(seqsUnder('x!u!bob!')).toEqual([5, 6, 12])
    expect(seqsUnder('x!p!web!')).toEqual([6, 7, 12])
    expect(seqsUnder(`x!s!${SESSION}!`)).toEqual([8, 9, 10, 11])
    expect(seqsUnder('x!c!pay-1!')).toEqual([2, 3, 8, 11])
    expect(seqsUnder('x!c!6bb21ffec17d!')).toEqual([3, 5, 8, 9, 10, 11])
    expect(seqsUnder('x!c!web-1!')).toEqual([6])
    expect(seqsUnder('x!c!0123456789ab!')).toEqual([6])
    // No index entry for a non-container resource, nor for the system record.
    expect(keys.some((k) => k.startsWith('x!c!nginx') || k.startsWith('x!c!image'))).toBe(false)
    expect(keys.filter((k) => k.endsWith('!' + (1).toString(16).padStart(16, '0')))).toEqual([])
    // indexKeysOf names exactly what was written for a record.
    expect(indexKeysOf(records[8]!).sort()).toEqual(keys.filter((k) => k.endsWith('!' + (9).toString(16).padStart(16, '0'))).sort())
    expect(await storedKeys(dir, 's!index')).toEqual(['s!index'])
  })

  it('escape names so that no name can reach into another one\'s keys', async () => {
    expect(escapeIndexName('alice')).toBe('alice')
    expect(escapeIndexName('a!b')).toBe('a%21b')
    expect(escapeIndexName('a%21b')).toBe('a%2521b')
    const store = await openStore()
    for (const user of ['a!b', 'a%21b', 'a', 'a!', 'alice', 'alice2']) await store.append(call(user, 'p', 'container.list', 'allow', null))
    for (const user of ['a!b', 'a%21b', 'a', 'a!', 'alice', 'alice2']) {
      expect((await collect(store.query({ user }))).map((r) => r.user)).toEqual([user])
    }
  })

  it('read container names the way the plugin writes resources', () => {
    const names = (record: Partial<AuditRecord>): string[] => {
      const into: string[] = []
      collectContainerNames({ kind: 'decision', resource: null, ...record } as AuditRecord, into)
      return into
    }
    expect(names({ resource: 'container pay-1 (6bb21ffec17d)' })).toEqual(['pay-1', '6bb21ffec17d'])
    expect(names({ resource: `container ${PAY_ID}` })).toEqual(['6bb21ffec17d'])
    expect(names({ resource: 'container 6bb2 (6bb21ffec17d)' })).toEqual(['6bb2', '6bb21ffec17d'])
    expect(names({ resource: 'exec 3c0ffee (container 6bb21ffec17d)' })).toEqual(['6bb21ffec17d'])
    expect(names({ resource: 'volume data' })).toEqual([])
    expect(names({ kind: 'session', resource: 'pay-1', fields: { containerId: PAY_ID } })).toEqual(['pay-1', '6bb21ffec17d'])
    expect(names({ resource: 'container a (not-an-id)' })).toEqual(['a'])
  })

  it('are built on open for a store written before them, in batches, once', async () => {
    const dir = freshDir()
    let store = await openStore(dir)
    await Promise.all(Array.from({ length: 5000 }, async (_, i) =>
      await store.append(call(i % 3 === 0 ? 'alice' : 'bob', i % 2 === 0 ? 'web' : 'payments', 'container.start', 'allow', `container c-${i % 7}`))))
    const expected = await seqsOf(store.query({ user: 'alice', project: 'web' }))
    expect(expected).toHaveLength(834)
    await store.close()
    // What an older portcullis left: records and head, no indexes.
    const db = new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    await db.clear({ gte: 'x!', lt: 'x"' })
    await db.del('s!index')
    await db.close()

    // Read-only, an older store is still queried (by scanning), and nothing is written.
    const reader = await openAuditReader(dir)
    expect(await seqsOf(reader.query({ user: 'alice', project: 'web' }))).toEqual(expected)
    await reader.close()
    expect(await storedKeys(dir, 'x!')).toEqual([])

    const batch = vi.spyOn(Level.prototype, 'batch')
    store = await openStore(dir)
    expect(batch.mock.calls.length).toBeGreaterThan(1) // streamed, not one huge batch
    expect(await seqsOf(store.query({ user: 'alice', project: 'web' }))).toEqual(expected)
    await store.close()
    expect(await storedKeys(dir, 'x!c!c-3!')).toHaveLength(714)
    batch.mockClear()
    store = await openStore(dir)
    expect(batch).not.toHaveBeenCalled()
  })
})

describe('queryRecords', () => {
  it('selects by each filter', async () => {
    const { store } = await trailStore()
    const q = async (filter: AuditFilter): Promise<number[]> => await seqsOf(store.query(filter))
    expect(await q({})).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    expect(await q({ user: 'bob' })).toEqual([5, 6, 12])
    expect(await q({ project: 'web' })).toEqual([6, 7, 12])
    expect(await q({ container: 'pay-1' })).toEqual([2, 3, 8, 11])
    expect(await q({ container: '6bb21ffec17d' })).toEqual([3, 5, 8, 9, 10, 11])
    expect(await q({ container: PAY_ID })).toEqual([3, 5, 8, 9, 10, 11])
    expect(await q({ container: '6bb2' })).toEqual([]) // short prefixes are not IDs we index
    expect(await q({ session: SESSION })).toEqual([8, 9, 10, 11])
    expect(await q({ action: 'container.*' })).toEqual([2, 3, 5, 6, 9, 12])
    expect(await q({ action: 'container.exec' })).toEqual([5, 9])
    expect(await q({ action: 'session.*' })).toEqual([8, 11])
    expect(await q({ decision: 'deny' })).toEqual([5, 7])
    expect(await q({ fromSeq: 4, toSeq: 6 })).toEqual([4, 5, 6])
    expect(await q({ user: 'nobody' })).toEqual([])
  })

  it('combines filters: every one must hold', async () => {
    const { store } = await trailStore()
    const q = async (filter: AuditFilter): Promise<number[]> => await seqsOf(store.query(filter))
    expect(await q({ user: 'alice', project: 'payments' })).toEqual([2, 3, 8, 9, 10, 11])
    expect(await q({ user: 'alice', container: '6bb21ffec17d', session: SESSION })).toEqual([8, 9, 10, 11])
    expect(await q({ user: 'bob', container: 'pay-1' })).toEqual([])
    expect(await q({ project: 'payments', decision: 'allow', action: 'container.*' })).toEqual([2, 3, 9])
    expect(await q({ user: 'alice', fromSeq: 5, toSeq: 9 })).toEqual([7, 8, 9])
    expect(await q({ container: 'pay-1', action: 'session.end' })).toEqual([11])
  })

  it('returns what a full scan returns, for any mix of indexed filters', async () => {
    const store = await openStore()
    const users = ['u0', 'u1', 'u2']
    const projects = ['p0', 'p1', 'p2', 'p3', 'p4']
    let seed = 42
    const random = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    const appends: Array<Promise<AuditRecord>> = []
    for (let i = 0; i < 3000; i++) {
      const fields = random(10) === 0 ? { session: `s-${random(4).toString(16).padStart(16, '0')}` } : undefined
      appends.push(store.append(call(users[random(3)]!, projects[random(5)]!, random(2) === 0 ? 'container.start' : 'image.pull', random(4) === 0 ? 'deny' : 'allow', `container c${random(40)}`, fields)))
    }
    const all = await Promise.all(appends)
    const filters: AuditFilter[] = [
      { user: 'u1', project: 'p3' },
      { user: 'u2', project: 'p0', container: 'c7' },
      { project: 'p4', container: 'c39', session: 's-0000000000000002' },
      { user: 'u0', container: 'c1', decision: 'deny', action: 'image.*' },
      { user: 'u1', project: 'p1', fromSeq: 1000, toSeq: 2000 }
    ]
    for (const filter of filters) {
      const matches = recordMatcher(filter)
      expect(await seqsOf(store.query(filter)), JSON.stringify(filter)).toEqual(all.filter(matches).map((r) => r.seq))
    }
  })

  it('bounds by time through the records\' seq order: since inclusive, until exclusive', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const store = await openStore()
    const start = Date.parse('2026-03-01T00:00:00.000Z')
    // Three records a minute apart, twice, then one an hour later.
    for (let i = 0; i < 7; i++) {
      vi.setSystemTime(start + (i < 6 ? Math.floor(i / 2) * 60_000 : 3_600_000))
      await store.append(call(i % 2 === 0 ? 'alice' : 'bob', 'web', 'container.start', 'allow', 'container w'))
    }
    const at = (minutes: number): Date => new Date(start + minutes * 60_000)
    const q = async (filter: AuditFilter): Promise<number[]> => await seqsOf(store.query(filter))
    expect(await q({ since: at(1) })).toEqual([3, 4, 5, 6, 7])
    expect(await q({ until: at(1) })).toEqual([1, 2])
    expect(await q({ since: at(1), until: at(2) })).toEqual([3, 4])
    expect(await q({ since: at(0.5), until: at(59) })).toEqual([3, 4, 5, 6])
    expect(await q({ since: at(61) })).toEqual([])
    expect(await q({ until: at(-1) })).toEqual([])
    expect(await q({ since: at(1), user: 'alice' })).toEqual([3, 5, 7])
    expect(await q({ since: at(2), until: at(1) })).toEqual([])
    expect(await q({ since: at(2), until: at(60) })).toEqual([5, 6])
  })

  it('sees one snapshot: records appended while a query runs are not returned', async () => {
    const { store } = await trailStore()
    for (const filter of [{}, { user: 'alice' }, { user: 'alice', project: 'payments' }] as AuditFilter[]) {
      const before = await seqsOf(store.query(filter))
      const iterator = store.query(filter)[Symbol.asyncIterator]()
      const first = await iterator.next()
      await Promise.all(Array.from({ length: 300 }, async () => await store.append(call('alice', 'payments', 'container.start', 'allow', 'container pay-1'))))
      const seen = [first.value!.seq]
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) seen.push(next.value.seq)
      expect(seen).toEqual(before)
    }
  })

  it('stops cleanly when the reader stops early, and works on a store with no records', async () => {
    const { store } = await trailStore()
    for await (const record of store.query({ user: 'alice', project: 'payments' })) {
      expect(record.seq).toBe(2)
      break
    }
    const empty = await openStore()
    expect(await seqsOf(empty.query({ since: new Date(0), user: 'alice' }))).toEqual([])
  })
})

describe('seqAtOrAfter', () => {
  it('finds the first record at or after a time, by binary search', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const dir = freshDir()
    const store = await openStore(dir)
    const start = Date.parse('2026-03-01T00:00:00.000Z')
    for (let i = 0; i < 100; i++) {
      vi.setSystemTime(start + i * 1000)
      await store.append({ kind: 'system', action: 'tick' })
    }
    await store.close()
    const db = new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    try {
      expect(await seqAtOrAfter(db, new Date(start - 1))).toBe(1)
      expect(await seqAtOrAfter(db, new Date(start))).toBe(1)
      expect(await seqAtOrAfter(db, new Date(start + 1))).toBe(2)
      expect(await seqAtOrAfter(db, new Date(start + 41_000))).toBe(42)
      expect(await seqAtOrAfter(db, new Date(start + 99_000))).toBe(100)
      expect(await seqAtOrAfter(db, new Date(start + 99_001))).toBe(101)
      // Records removed from the front (retention) move the answer, not break it.
      await db.clear({ gte: 'r!', lt: 'r!' + (31).toString(16).padStart(16, '0') })
      expect(await seqAtOrAfter(db, new Date(start))).toBe(31)
      expect(await seqAtOrAfter(db, new Date(start + 50_500))).toBe(52)
      await db.clear({ gte: 'r!', lt: 'r"' })
      expect(await seqAtOrAfter(db, new Date(start))).toBe(1)
    } finally {
      await db.close()
    }
  })
})

describe('parseTimeBound and filterFromParams', () => {
  const now = new Date('2026-03-10T12:00:00.000Z')

  it('reads ISO 8601 times (UTC unless an offset is given) and durations back from now', () => {
    const iso = (text: string): string => parseTimeBound(text, now).toISOString()
    expect(iso('2026-01-31')).toBe('2026-01-31T00:00:00.000Z')
    expect(iso('2026-01-31T08:00')).toBe('2026-01-31T08:00:00.000Z')
    expect(iso('2026-01-31 08:00:05')).toBe('2026-01-31T08:00:05.000Z')
    expect(iso('2026-01-31T08:00:05.250Z')).toBe('2026-01-31T08:00:05.250Z')
    expect(iso('2026-01-31T08:00:00+02:00')).toBe('2026-01-31T06:00:00.000Z')
    expect(iso('2026-01-31T08:00:00-0130')).toBe('2026-01-31T09:30:00.000Z')
    expect(iso('90s')).toBe('2026-03-10T11:58:30.000Z')
    expect(iso('15m')).toBe('2026-03-10T11:45:00.000Z')
    expect(iso('8h')).toBe('2026-03-10T04:00:00.000Z')
    expect(iso('7d')).toBe('2026-03-03T12:00:00.000Z')
    expect(iso('4w')).toBe('2026-02-10T12:00:00.000Z')
  })

  it('refuses anything else, naming the forms it takes', () => {
    for (const text of ['yesterday', '7 days', '2026-13-01', '2026-02-30', '2026/01/31', '-7d', '7y', 'March 7', '']) {
      expect(() => parseTimeBound(text, now, 'since'), text).toThrow(expect.objectContaining({ code: 'PORTCULLIS_AUDIT_FILTER_INVALID', message: expect.stringContaining('90s, 15m, 8h, 7d, 4w') }))
    }
  })

  it('builds filters from parameters, and back', () => {
    const filter = filterFromParams({ since: '7d', until: '2026-03-10', user: 'alice', project: '', container: 'pay-1', action: 'container.*', decision: 'deny', session: SESSION, fromSeq: '5', toSeq: '90' }, now)
    expect(filter).toEqual({
      since: new Date('2026-03-03T12:00:00.000Z'), until: new Date('2026-03-10T00:00:00.000Z'), user: 'alice', container: 'pay-1',
      action: 'container.*', decision: 'deny', session: SESSION, fromSeq: 5, toSeq: 90
    })
    expect(filterFromParams(Object.fromEntries(filterToParams(filter)), now)).toEqual(filter)
    expect(exportFilterFromFlags({ user: 'bob', 'from-seq': '3' }, now)).toEqual({ user: 'bob', fromSeq: 3 })
    expect(() => filterFromParams({ decision: 'maybe' }, now)).toThrow(expect.objectContaining({ code: 'PORTCULLIS_AUDIT_FILTER_INVALID' }))
    expect(() => filterFromParams({ fromSeq: '-1' }, now)).toThrow(expect.objectContaining({ code: 'PORTCULLIS_AUDIT_FILTER_INVALID' }))
    expect(() => filterFromParams({ session: 'pay-1' }, now)).toThrow(/portcullis audit sessions/)
  })

  it('matches actions by glob: * is any run, everything else is itself', () => {
    expect(actionPattern('container.*').test('container.create')).toBe(true)
    expect(actionPattern('container.*').test('containerXcreate')).toBe(false)
    expect(actionPattern('*.pull').test('image.pull')).toBe(true)
    expect(actionPattern('exec.start').test('exec.start')).toBe(true)
    expect(actionPattern('exec.start').test('exec.started')).toBe(false)
    expect(actionPattern('a+b(c)?').test('a+b(c)?')).toBe(true)
  })
})

describe('markBundled', () => {
  it('only ever raises s!bundled, and only to a durable record', async () => {
    const { store, dir } = await trailStore()
    expect(await store.bundledSeq()).toBe(0)
    expect(await store.markBundled(5)).toBe(5)
    expect(await store.markBundled(3)).toBe(5)
    const [a, b] = await Promise.all([store.markBundled(7), store.markBundled(6)])
    expect([a, b]).toEqual([7, 7])
    expect(await store.bundledSeq()).toBe(7)
    await expect(store.markBundled(13)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_INVALID_INPUT' })
    await expect(store.markBundled(1.5)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_INVALID_INPUT' })
    await store.close()
    const reader = await openAuditReader(dir)
    expect(await reader.bundledSeq()).toBe(7)
    await reader.close()
  })
})

describe('openAuditReader', () => {
  it('refuses a store a daemon owns, and a directory with no store', async () => {
    const { dir } = await trailStore()
    await expect(openAuditReader(dir)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_LOCKED' })
    await expect(openAuditReader(join(root, 'nothing-here'))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_NOT_FOUND' })
  })
})

describe('writeExport', () => {
  it('writes JSON lines exactly as stored, or CSV with a header, and counts them', async () => {
    const { store, records } = await trailStore()
    const sink = new PassThrough()
    const chunks: Buffer[] = []
    sink.on('data', (chunk: Buffer) => chunks.push(chunk))
    expect(await writeExport(store.queryStored({ user: 'bob' }), 'jsonl', sink)).toBe(3)
    const lines = Buffer.concat(chunks).toString('utf8').split('\n')
    expect(lines.pop()).toBe('')
    expect(lines.map((line) => JSON.parse(line) as AuditRecord)).toEqual([records[4], records[5], records[11]])
    lines.forEach((line, i) => expect(recordHashMatches(line, [records[3], records[4], records[10]][i]!.hash)).toBe(true))

    chunks.length = 0
    expect(await writeExport(store.queryStored({ decision: 'deny' }), 'csv', sink)).toBe(2)
    expect(Buffer.concat(chunks).toString('utf8')).toBe(CSV_HEADER + csvRow(records[4]!) + csvRow(records[6]!))
    chunks.length = 0
    expect(await writeExport(store.queryStored({ user: 'nobody' }), 'csv', sink)).toBe(0)
    expect(Buffer.concat(chunks).toString('utf8')).toBe(CSV_HEADER)
  })

  it('waits for a slow destination (constant memory) and stops when it goes away', async () => {
    const store = await openStore()
    await Promise.all(Array.from({ length: 3000 }, async (_, i) => await store.append(call('alice', 'web', 'container.start', 'allow', `container w-${i}`))))
    let taken = 0
    let buffered = 0
    const slow = new Writable({
      highWaterMark: 1024,
      write (chunk: Buffer, _encoding, done) {
        buffered = Math.max(buffered, slow.writableLength)
        taken += chunk.length
        setImmediate(done)
      }
    })
    const progress: number[] = []
    expect(await writeExport(store.queryStored({}), 'jsonl', slow, { onProgress: (n) => progress.push(n) })).toBe(3000)
    expect(progress.at(-1)).toBe(3000)
    expect(progress.length).toBeGreaterThan(5)
    expect(buffered).toBeLessThan(200 * 1024)
    expect(taken).toBeGreaterThan(500_000)

    // A reader that drains slowly and goes away 20 ms into the export: the timing is the input under test.
    const gone = new Writable({ highWaterMark: 1024, write (_chunk, _encoding, done) { setTimeout(done, 5) } })
    setTimeout(() => gone.destroy(), 20)
    expect(await writeExport(store.queryStored({}), 'jsonl', gone)).toBeLessThan(3000)
  })
})

describe('ExportProgress', () => {
  it('redraws one line at most four times a second on a terminal, and clears it at the end', () => {
    let now = 0
    const writes: string[] = []
    const progress = new ExportProgress({ isTTY: true, write: (text) => writes.push(text) }, () => now)
    progress.update(10)
    now = 100
    progress.update(500)
    now = 1000
    progress.update(2000)
    progress.finish()
    expect(writes).toEqual(['\r\x1b[Kexported 10 records (0/s)', '\r\x1b[Kexported 2000 records (2000/s)', '\r\x1b[K'])

    const quiet: string[] = []
    const off = new ExportProgress({ isTTY: false, write: (text) => quiet.push(text) }, () => now)
    off.update(5)
    off.finish()
    expect(quiet).toEqual([])
  })
})

describe('GET /v1/audit/export and `audit export`', () => {
  let server: http.Server | undefined
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
    server = undefined
  })

  async function serve (store: AuditStore): Promise<string> {
    const app = express()
    // The export route alone: who reads and the read records are audit-read-record's (test/e2e/audit-access-recorded.test.ts).
    const router = express.Router()
    addAuditExportRoute(router, { audit: store }, (_route, handler) => async (req, res) => { await handler(req, res, { records: null }) })
    app.use('/v1/audit', router)
    const socket = `${freshDir()}.sock`
    await new Promise<void>((resolve) => { server = app.listen(socket, () => resolve()) })
    return socket
  }

  async function get (socket: string, path: string): Promise<{ status: number, type: string | undefined, filtered: boolean, text: string }> {
    const res = await adminRequest(socket, 'GET', path)
    const parts: Buffer[] = []
    for await (const part of res) parts.push(part as Buffer)
    return { status: res.statusCode!, type: res.headers['content-type'], filtered: res.headers[EXPORT_FILTER_HEADER.toLowerCase()] === '1', text: Buffer.concat(parts).toString('utf8') }
  }

  it('streams filtered records as JSON lines or CSV; refuses bad filters with the reason', async () => {
    const { store, records } = await trailStore()
    const socket = await serve(store)
    const jsonl = await get(socket, '/v1/audit/export?user=alice&container=pay-1')
    expect(jsonl).toMatchObject({ status: 200, type: 'application/x-ndjson', filtered: true })
    expect(jsonl.text).toBe([records[1], records[2], records[7], records[10]].map((r) => JSON.stringify(r) + '\n').join(''))
    const everything = await get(socket, '/v1/audit/export?fromSeq=2&toSeq=3')
    expect(everything.text.trim().split('\n').map((line) => (JSON.parse(line) as AuditRecord).seq)).toEqual([2, 3])
    const csv = await get(socket, `/v1/audit/export?format=csv&session=${SESSION}&action=exec.*`)
    expect(csv).toMatchObject({ status: 200, type: 'text/csv; charset=utf-8; header=present' })
    expect(csv.text).toBe(CSV_HEADER + csvRow(records[9]!))

    const bad = await get(socket, '/v1/audit/export?since=yesterday')
    expect(bad.status).toBe(400)
    expect(JSON.parse(bad.text)).toMatchObject({ code: 'PORTCULLIS_AUDIT_FILTER_INVALID', error: expect.stringContaining('since "yesterday"') })
    expect((await get(socket, '/v1/audit/export?format=xml')).status).toBe(400)
    expect(JSON.parse((await get(socket, '/v1/audit/export?format=asciicast&session=s-ffffffffffffffff')).text)).toMatchObject({ code: 'PORTCULLIS_SESSION_NOT_FOUND' })
    expect((await get(socket, '/v1/audit/export?format=asciicast')).status).toBe(400)
  })

  it('`audit export` writes the same through the daemon and offline with --data', async () => {
    const { store, dir } = await trailStore()
    const socket = await serve(store)
    const viaDaemon = `${freshDir()}-daemon.csv`
    const filter = exportFilterFromFlags({ user: 'alice', action: 'container.*' })
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    expect(await withAuditAccess({ 'admin-socket': socket }, async (access) => await exportRecords({ format: 'csv', filter, access, out: viaDaemon }))).toBe(3)
    await new Promise((resolve) => server!.close(resolve))
    server = undefined
    await store.close()
    const offline = `${freshDir()}-offline.csv`
    const offlineFlags = { 'admin-socket': '/nonexistent', data: dir }
    expect(await withAuditAccess(offlineFlags, async (access) => await exportRecords({ format: 'csv', filter, access, out: offline }))).toBe(3)
    expect(readFileSync(offline, 'utf8')).toBe(readFileSync(viaDaemon, 'utf8'))
    expect(readFileSync(offline, 'utf8').split('\r\n')).toHaveLength(5) // header, 3 rows, and the end

    await expect(withAuditAccess(offlineFlags, async (access) => await exportRecords({ format: 'jsonl', filter, access, out: join(root, 'no-such-dir', 'x.jsonl') })))
      .rejects.toMatchObject({ code: 'PORTCULLIS_OUTPUT' })
  })
})
