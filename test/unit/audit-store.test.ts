import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { Level } from 'level'
import { pino } from 'pino'
import { afterAll, afterEach, describe, expect, it, vi, type MockInstance } from 'vitest'
import { recordHashMatches } from '../../src/audit/chain.js'
import { AuditStore } from '../../src/audit/store.js'
import { GENESIS_HASH, type AuditInput, type AuditRecord } from '../../src/audit/record.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-audit-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let dirCount = 0
const freshDir = (): string => join(root, `store-${++dirCount}`)

const open: AuditStore[] = []
async function openStore (dir: string, options: Parameters<typeof AuditStore.open>[1] = {}): Promise<AuditStore> {
  const store = await AuditStore.open(dir, options)
  open.push(store)
  return store
}
/** classic-level's own batch, spied on. The store writes records with it directly, in the array form: a chained
 * batch would hold its native memory until V8 collects it, and abstract-level's public batch() costs half the main
 * thread under load (see writeOperations in store.ts). */
const spyOnBatch = (): MockInstance<(operations?: unknown[], options?: unknown) => unknown> =>
  vi.spyOn(Level.prototype as unknown as { _batch: (operations?: unknown[], options?: unknown) => Promise<void> }, '_batch') as unknown as MockInstance<(operations?: unknown[], options?: unknown) => unknown>

interface WrittenBatch { keys: string[], options: unknown }
/** Each batch of records the store writes (one that puts a record key): its keys, and the options it was given. */
function spyOnRecordBatches (): WrittenBatch[] {
  const original = (Level.prototype as unknown as { _batch: unknown })._batch as (this: Level<string, string>, ...args: unknown[]) => unknown
  const written: WrittenBatch[] = []
  spyOnBatch().mockImplementation(function (this: Level<string, string>, ...args: unknown[]) {
    const operations = args[0]
    if (Array.isArray(operations) && operations.some((op: { key: string }) => op.key.startsWith('r!'))) {
      written.push({ keys: operations.map((op: { key: string }) => op.key), options: args[1] })
    }
    return original.apply(this, args)
  } as never)
  return written
}

afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(open.splice(0).map(async (store) => await store.close().catch(() => {})))
})

const decision = (n: number): AuditInput => ({
  kind: 'decision',
  user: 'alice',
  authMethod: 'jwt',
  tokenId: 'tok-1',
  action: 'container.create',
  project: 'web',
  resource: `web-${n}`,
  method: 'POST',
  uri: `/v1.41/containers/create?name=web-${n}`,
  decision: 'allow',
  reason: 'role developer allows container.create',
  role: 'developer',
  fields: { image: 'nginx:1.25', env: ['A=<redacted>'], n }
})

async function all (store: AuditStore, options = {}): Promise<AuditRecord[]> {
  const records: AuditRecord[] = []
  for await (const record of store.read(options)) records.push(record)
  return records
}

function expectChained (records: AuditRecord[]): void {
  let prev = GENESIS_HASH
  records.forEach((record, i) => {
    expect(record.seq).toBe(i + 1)
    expect(record.prevHash).toBe(prev)
    prev = record.hash
  })
}

/** A logger whose lines the test can read. */
function capturingLogger (): { logger: pino.Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>)
      done()
    }
  })
  return { logger: pino({ level: 'debug' }, sink), lines }
}

describe('append', () => {
  it('builds the documented record, hashed over the JSON text of everything but the hash', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    const first = await store.append(decision(1))
    expect(first).toMatchObject({ seq: 1, kind: 'decision', user: 'alice', tokenId: 'tok-1', decision: 'allow', role: 'developer', prevHash: GENESIS_HASH })
    expect(first.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
    const { hash, ...body } = first
    expect(Object.keys(first).slice(-2)).toEqual(['prevHash', 'hash'])
    expect(hash).toBe(createHash('sha256').update(GENESIS_HASH + '\n' + JSON.stringify(body)).digest('hex'))

    const system = await store.append({ kind: 'system', action: 'portcullis.start', reason: 'started', tokenId: null, code: null, fields: null })
    expect(system).toEqual({
      seq: 2, time: system.time, kind: 'system', user: null, authMethod: null, action: 'portcullis.start', project: null,
      resource: null, method: null, uri: null, decision: null, reason: 'started', prevHash: hash, hash: system.hash
    })
    expect(Object.keys(system)).not.toContain('tokenId')

    const response = await store.append({ kind: 'response', reqSeq: 1, status: 201, method: 'POST', uri: '/v1.41/containers/create' })
    expect(response).toMatchObject({ seq: 3, kind: 'response', reqSeq: 1, status: 201 })
    // What is read back is exactly what append returned.
    expect(await all(store)).toEqual([first, system, response])

    // What is stored is the body's JSON with the hash as its last field, and it verifies on its own.
    await store.close()
    const db = new Level<string, string>(dir)
    await db.open()
    try {
      const stored = (await db.get('r!' + '1'.padStart(16, '0')))!
      expect(stored).toBe(JSON.stringify(body).slice(0, -1) + `,"hash":"${hash}"}`)
      expect(stored).toBe(JSON.stringify(first))
      expect(recordHashMatches(stored, GENESIS_HASH)).toBe(true)
    } finally {
      await db.close()
    }
  })

  it('keeps seq contiguous across close and reopen', async () => {
    const dir = freshDir()
    let store = await openStore(dir)
    for (let i = 1; i <= 5; i++) await store.append(decision(i))
    await store.close()

    store = await openStore(dir)
    expect(store.head()).toEqual({ seq: 5, hash: (await store.tail(1))[0]!.hash })
    const next = await Promise.all([1, 2, 3].map(async (n) => await store.append(decision(n))))
    expect(next.map((r) => r.seq)).toEqual([6, 7, 8])
    const records = await all(store)
    expect(records).toHaveLength(8)
    expectChained(records)
    expect((await store.verify()).ok).toBe(true)
  })

  it('makes concurrent appends durable and chains them in the order append was called', async () => {
    const dir = freshDir()
    let store = await openStore(dir)
    const results = await Promise.all(Array.from({ length: 500 }, async (_, i) => await store.append(decision(i))))
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1))
    expect(results.map((r) => r.fields?.n)).toEqual(Array.from({ length: 500 }, (_, i) => i))
    await store.close()

    store = await openStore(dir)
    const records = await all(store)
    expect(records).toEqual(results)
    expectChained(records)
    expect(store.head()).toEqual({ seq: 500, hash: results[499]!.hash })
  })

  it('writes appends made together in one batch (group commit), capped at maxBatch; LevelDB unsynced, the journal makes it durable', async () => {
    const store = await openStore(freshDir(), { maxBatch: 16 })
    const batches = spyOnRecordBatches()
    await Promise.all(Array.from({ length: 100 }, async (_, i) => await store.append(decision(i))))
    expect(store.stats()).toEqual({ batches: 7, records: 100, largestBatch: 16 })
    expect(batches).toHaveLength(7)
    for (const batch of batches) expect(batch.options).toEqual({ sync: false })
    // Each batch carries its records, their index entries and the head entry.
    expect(batches[0]!.keys.filter((key) => key.startsWith('r!'))).toHaveLength(16)
    expect(batches[0]!.keys.filter((key) => key.startsWith('x!u!alice!'))).toHaveLength(16)
    expect(batches[0]!.keys.at(-1)).toBe('s!head')
  })

  it('queues appends made while a batch is being written into the next batch', async () => {
    const store = await openStore(freshDir())
    const first = store.append(decision(0))
    await new Promise((resolve) => setImmediate(resolve)) // the first batch is now with LevelDB
    const more = Array.from({ length: 50 }, async (_, i) => await store.append(decision(i + 1)))
    await Promise.all([first, ...more])
    expect(store.stats()).toEqual({ batches: 2, records: 51, largestBatch: 50 })
  })

  it('rejects input it cannot store without using up a seq', async () => {
    const store = await openStore(freshDir())
    await expect(store.append({ kind: 'bogus' } as unknown as AuditInput)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_INVALID_INPUT' })
    await expect(store.append({ kind: 'decision', fields: { big: 1n } })).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_INVALID_INPUT' })
    expect((await store.append(decision(1))).seq).toBe(1)
  })
})

describe('reading', () => {
  it('reads ranges forward and backward, and tails the newest records oldest first', async () => {
    const store = await openStore(freshDir())
    for (let i = 1; i <= 20; i++) await store.append(decision(i))
    const seqs = async (options: object): Promise<number[]> => (await all(store, options)).map((r) => r.seq)
    expect(await seqs({})).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect(await seqs({ fromSeq: 5, toSeq: 8 })).toEqual([5, 6, 7, 8])
    expect(await seqs({ fromSeq: 18, toSeq: Number.MAX_SAFE_INTEGER })).toEqual([18, 19, 20])
    expect(await seqs({ fromSeq: 3, limit: 2 })).toEqual([3, 4])
    expect(await seqs({ reverse: true, limit: 3 })).toEqual([20, 19, 18])
    expect(await seqs({ toSeq: 4, reverse: true })).toEqual([4, 3, 2, 1])
    expect((await store.tail(3)).map((r) => r.seq)).toEqual([18, 19, 20])
    expect(await store.tail(0)).toEqual([])
    expect((await store.tail(100)).length).toBe(20)
  })

  it('reports the durable head and tells subscribers about each record once durable, in order', async () => {
    const store = await openStore(freshDir())
    expect(store.head()).toEqual({ seq: 0, hash: GENESIS_HASH })
    const seen: number[] = []
    const heads: number[] = []
    const unsubscribe = store.subscribe((record) => {
      seen.push(record.seq)
      heads.push(store.head().seq)
    })
    store.subscribe(() => { throw new Error('a broken follower') })
    const records = await Promise.all([1, 2, 3].map(async (n) => await store.append(decision(n))))
    expect(seen).toEqual([1, 2, 3])
    expect(heads.every((h) => h >= 3)).toBe(true) // only after the batch is on disk
    expect(store.head()).toEqual({ seq: 3, hash: records[2]!.hash })
    unsubscribe()
    await store.append(decision(4))
    expect(seen).toEqual([1, 2, 3])
  })
})

describe('close', () => {
  it('writes every pending append before closing and refuses new ones after', async () => {
    const dir = freshDir()
    let store = await openStore(dir)
    const pending = Array.from({ length: 100 }, async (_, i) => await store.append(decision(i)))
    await store.close()
    expect((await Promise.all(pending)).length).toBe(100)
    await expect(store.append(decision(0))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_CLOSED' })
    await store.close() // again: harmless

    store = await openStore(dir)
    expect(store.head().seq).toBe(100)
  })
})

describe('locking', () => {
  it('refuses a second open of the same directory in this process', async () => {
    const dir = freshDir()
    const first = await openStore(dir)
    const err = await AuditStore.open(dir).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'PORTCULLIS_AUDIT_LOCKED' })
    expect((err as Error).message).toContain('portcullis serve')
    expect((err as Error).message).toContain('admin socket')
    await first.close()
    await openStore(dir) // free again once closed
  })

  it('refuses a directory another process holds', async () => {
    const dir = freshDir()
    const holder: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', `
      import { Level } from 'level'
      const db = new Level(${JSON.stringify(dir)})
      await db.open()
      process.stdout.write('ready\\n')
      process.stdin.on('data', () => {})
      process.stdin.on('end', async () => { await db.close(); process.exit(0) })
    `], { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] })
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.once('data', () => resolve())
        holder.once('exit', (code) => reject(new Error(`holder exited with ${String(code)}`)))
      })
      await expect(AuditStore.open(dir)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_LOCKED' })
    } finally {
      const exited = new Promise((resolve) => holder.once('exit', resolve))
      holder.stdin!.end()
      await exited
    }
    await openStore(dir)
  })
})

describe('a failed write', () => {
  it('rejects every waiting append, refuses new ones until reopened, and logs it', async () => {
    const dir = freshDir()
    const { logger, lines } = capturingLogger()
    let store = await openStore(dir, { logger })
    const kept = await store.append(decision(1))

    let failWrite!: (err: Error) => void
    spyOnBatch().mockImplementationOnce(async () => { await new Promise<void>((_resolve, reject) => { failWrite = reject }) })
    const inFlight = store.append(decision(2))
    await new Promise((resolve) => setImmediate(resolve)) // that batch is now being written
    const queued = [store.append(decision(3)), store.append(decision(4))]
    failWrite(new Error('No space left on device'))

    for (const append of [inFlight, ...queued]) {
      await expect(append).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_WRITE_FAILED' })
    }
    await expect(store.append(decision(5))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_UNAVAILABLE' })
    expect(store.head()).toEqual({ seq: 1, hash: kept.hash })
    const logged = lines.find((line) => line.level === 50)
    expect(logged).toMatchObject({ lostAppends: 3, firstSeq: 2 })
    expect(JSON.stringify(logged)).toContain('No space left on device')

    await store.close()
    store = await openStore(dir)
    expect((await store.append(decision(6))).seq).toBe(2) // seq 2 never reached the disk
    expect(await store.verify()).toMatchObject({ ok: true, records: 2 })
  })
})
