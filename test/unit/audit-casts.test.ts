import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Level } from 'level'
import { afterEach, describe, expect, it, vi, type MockInstance } from 'vitest'
import { CAST_GENESIS, CastDigester, nextCastDigest } from '../../src/audit/cast-digest.js'
import type { CastSink } from '../../src/audit/cast-sink.js'
import { readCastStream, type CastItem } from '../../src/audit/cast-stream.js'
import { AuditStore } from '../../src/audit/store.js'
import { CastRecorder, parseCast } from '../../src/audit/asciicast.js'
import { tempStores } from '../helpers/temp-stores.js'

const { root, freshDir, openStore } = tempStores('portcullis-casts-')
const spyOnBatch = (): MockInstance<(operations: unknown[], options?: unknown) => Promise<void>> =>
  vi.spyOn(Level.prototype, 'batch') as unknown as MockInstance<(operations: unknown[], options?: unknown) => Promise<void>>

afterEach(() => {
  vi.restoreAllMocks()
})

const SESSION = 's-0123456789abcdef'
const HEADER = '{"version":2,"width":80,"height":24,"timestamp":1700000000}\n'
const event = (time: number, data: string): string => `[${time.toFixed(6)}, "o", ${JSON.stringify(data)}]\n`

async function chunksOf (store: AuditStore, session = SESSION): Promise<string[]> {
  const chunks: string[] = []
  for await (const chunk of store.readCast(session)) chunks.push(chunk)
  return chunks
}

function summaryOf (chunks: string[]): { chunks: number, bytes: number, digest: string } {
  const digester = new CastDigester()
  for (const chunk of chunks) digester.add(chunk)
  return digester.summary()
}

function deferred (): { promise: Promise<void>, resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => { resolve = r })
  return { promise, resolve }
}

describe('cast digest', () => {
  it('chains sha256 over the chunks, starting from 64 zeros', () => {
    expect(CAST_GENESIS).toBe('0'.repeat(64))
    const d0 = nextCastDigest(CAST_GENESIS, 'a\n')
    expect(d0).toBe(createHash('sha256').update('0'.repeat(64) + '\na\n').digest('hex'))
    expect(nextCastDigest(d0, 'é\n')).toBe(createHash('sha256').update(d0 + '\né\n', 'utf8').digest('hex'))
  })

  it('sums UTF-8 bytes, not characters', () => {
    const digester = new CastDigester()
    expect(digester.summary()).toEqual({ chunks: 0, bytes: 0, digest: CAST_GENESIS })
    digester.add('é€\n')
    expect(digester.summary()).toMatchObject({ chunks: 1, bytes: 6 })
  })
})

describe('CastSink', () => {
  it('writes chunk 0 at once, with the open-session marker, and batches later text by the interval', async () => {
    const store = await openStore()
    const batch = spyOnBatch()
    const sink = store.castSink(SESSION, 7, { flushIntervalMs: 30 })
    expect(sink.write(HEADER)).toBe(true)
    await vi.waitFor(() => expect(sink.summary().chunks).toBe(1))
    // Chunks go to LevelDB as bytes; the marker as text.
    expect((batch.mock.calls[0]![0] as Array<{ value: unknown }>).map((op) => ({ ...op, value: String(op.value) }))).toEqual([
      { type: 'put', key: `c!${SESSION}!00000000`, value: HEADER, valueEncoding: 'buffer' },
      { type: 'put', key: `o!${SESSION}`, value: '{"startSeq":7}' }
    ])
    expect(batch.mock.calls[0]![1]).toEqual({ sync: true })
    expect(await store.openSessionMarkers()).toEqual([{ session: SESSION, startSeq: 7 }])

    for (let i = 0; i < 5; i++) sink.write(event(i, `line ${i}\r\n`))
    expect(sink.summary().chunks).toBe(1) // waiting for the interval
    await vi.waitFor(() => expect(sink.summary().chunks).toBe(2))
    expect(batch).toHaveBeenCalledTimes(2)

    sink.write(event(9, 'last'))
    const summary = await sink.finish()
    const chunks = await chunksOf(store)
    expect(chunks).toHaveLength(3)
    expect(chunks[1]).toBe([0, 1, 2, 3, 4].map((i) => event(i, `line ${i}\r\n`)).join(''))
    expect(summary).toEqual(summaryOf(chunks))
    expect(sink.summary()).toEqual(summary)
    // finish is idempotent; the marker stays until release
    expect(await sink.finish()).toEqual(summary)
    expect(await store.openSessionMarkers()).toHaveLength(1)
    await sink.release()
    expect(await store.openSessionMarkers()).toEqual([])
  })

  it('writes as soon as maxChunkBytes are pending, cutting chunks at line ends within one batch', async () => {
    const store = await openStore()
    const batch = spyOnBatch()
    const sink = store.castSink(SESSION, 1, { maxChunkBytes: 100, flushIntervalMs: 60_000 })
    sink.write(HEADER)
    await vi.waitFor(() => expect(sink.summary().chunks).toBe(1))
    const lines = Array.from({ length: 10 }, (_, i) => event(i, 'x'.repeat(20)))
    sink.write(lines.join(''))
    await vi.waitFor(() => expect(batch).toHaveBeenCalledTimes(2))
    await vi.waitFor(() => expect(sink.summary().chunks).toBeGreaterThan(2))
    const chunks = await chunksOf(store)
    expect(chunks.slice(1).join('')).toBe(lines.join(''))
    for (const chunk of chunks.slice(1)) {
      expect(Buffer.byteLength(chunk)).toBeLessThanOrEqual(100)
      expect(chunk.endsWith('\n')).toBe(true)
    }
    // A single line longer than the limit stays whole.
    const long = event(20, 'y'.repeat(300))
    sink.write(long)
    await sink.finish()
    expect((await chunksOf(store)).at(-1)).toBe(long)
  })

  it('keeps one write in flight and lets text gathered meanwhile share the next one (group commit)', async () => {
    const store = await openStore()
    const original = Level.prototype.batch
    const gate = deferred()
    let calls = 0
    const sizes: number[] = []
    spyOnBatch().mockImplementation(async function (this: Level<string, string>, operations: unknown[], options?: unknown) {
      calls++
      sizes.push((operations as unknown[]).length)
      if (calls === 1) await gate.promise
      return await (original as (ops: unknown[], opts?: unknown) => Promise<void>).call(this, operations, options)
    })
    const sink = store.castSink(SESSION, 1, { flushIntervalMs: 0, maxChunkBytes: 64 })
    sink.write(HEADER)
    for (let i = 0; i < 50; i++) sink.write(event(i, 'z'))
    // Nothing else may start while the first write is held: no event says "nothing started", so give it 20 ms to.
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(calls).toBe(1) // held: nothing else may start
    gate.resolve()
    const summary = await sink.finish()
    expect(calls).toBe(2)
    expect(summary.chunks).toBeGreaterThan(2) // cut to 64-byte chunks, but in one batch
    expect((await chunksOf(store)).join('')).toBe(HEADER + Array.from({ length: 50 }, (_, i) => event(i, 'z')).join(''))
  })

  it('asks the caller to pause above the high-water mark and emits drain once written', async () => {
    const store = await openStore()
    const original = Level.prototype.batch
    const gate = deferred()
    let calls = 0
    spyOnBatch().mockImplementation(async function (this: Level<string, string>, operations: unknown[], options?: unknown) {
      if (++calls === 1) await gate.promise
      return await (original as (ops: unknown[], opts?: unknown) => Promise<void>).call(this, operations, options)
    })
    const sink = store.castSink(SESSION, 1, { highWaterMark: 200, flushIntervalMs: 60_000 })
    const drained = vi.fn()
    sink.on('drain', drained)
    expect(sink.write(HEADER)).toBe(true) // in flight, held
    expect(sink.write(event(1, 'a'.repeat(50)))).toBe(true)
    expect(sink.write(event(2, 'b'.repeat(150)))).toBe(false)
    expect(drained).not.toHaveBeenCalled()
    gate.resolve()
    await vi.waitFor(() => expect(drained).toHaveBeenCalledTimes(1))
    await sink.finish()
    expect((await chunksOf(store)).join('')).toContain('b'.repeat(150))
  })

  it('reports a failed write once, takes no more text, and rejects finish; the durable part stays known', async () => {
    const store = await openStore()
    const sink = store.castSink(SESSION, 3, { flushIntervalMs: 0 })
    sink.write(HEADER)
    await sink.flush()
    const durable = sink.summary()
    spyOnBatch().mockRejectedValue(new Error('disk full'))
    const errors: Error[] = []
    sink.on('error', (err: Error) => errors.push(err))
    sink.write(event(1, 'lost'))
    await vi.waitFor(() => expect(errors).toHaveLength(1))
    expect(errors[0]).toMatchObject({ code: 'PORTCULLIS_AUDIT_CAST_WRITE_FAILED' })
    expect(errors[0]!.message).toContain(SESSION)
    expect(errors[0]!.message).toContain('disk full')
    expect(sink.write(event(2, 'also lost'))).toBe(false)
    await expect(sink.finish()).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_CAST_WRITE_FAILED' })
    expect(sink.summary()).toEqual(durable)
    expect(errors).toHaveLength(1)
  })

  it('does not throw from an unheard error: finish reports it', async () => {
    const store = await openStore()
    spyOnBatch().mockRejectedValue(new Error('EIO'))
    const sink = store.castSink(SESSION, 1)
    sink.write(HEADER)
    await expect(sink.finish()).rejects.toThrow(/EIO/)
    expect(sink.failure).not.toBeNull()
  })

  it('refuses text that is not whole lines, and text after finish', async () => {
    const store = await openStore()
    const sink: CastSink = store.castSink(SESSION, 1)
    expect(() => sink.write('[1, "o", "x"]')).toThrow(TypeError)
    await sink.finish()
    expect(() => sink.write(HEADER)).toThrow(/finished/)
  })

  it('is refused for a malformed session ID or seq, and after close', async () => {
    const store = await openStore()
    expect(() => store.castSink('s-../../x', 1)).toThrow(expect.objectContaining({ code: 'PORTCULLIS_AUDIT_INVALID_INPUT' }))
    expect(() => store.castSink(SESSION, 0)).toThrow(expect.objectContaining({ code: 'PORTCULLIS_AUDIT_INVALID_INPUT' }))
    await store.close()
    expect(() => store.castSink(SESSION, 1)).toThrow(expect.objectContaining({ code: 'PORTCULLIS_AUDIT_CLOSED' }))
  })

  it('has the text open recordings hold written before the store closes; later writes fail as closed', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    const sink = store.castSink(SESSION, 1, { flushIntervalMs: 60_000 })
    sink.write(HEADER)
    sink.write(event(1, 'pending at close'))
    await store.close()
    const errors: Error[] = []
    sink.on('error', (err: Error) => errors.push(err))
    sink.write(event(2, 'after close'))
    await expect(sink.finish()).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_CLOSED' })
    expect(errors).toHaveLength(1)
    const reopened = await openStore(dir)
    expect((await chunksOf(reopened)).join('')).toBe(HEADER + event(1, 'pending at close'))
    expect(await reopened.openSessionMarkers()).toEqual([{ session: SESSION, startSeq: 1 }])
  })
})

describe('readCast and markers', () => {
  it('reads only the asked session, in chunk order, and nothing for an unknown one', async () => {
    const store = await openStore()
    const other = 's-fedcba9876543210'
    const a = store.castSink(SESSION, 1, { maxChunkBytes: 40 })
    const b = store.castSink(other, 2)
    a.write(HEADER)
    b.write(HEADER)
    const lines = Array.from({ length: 300 }, (_, i) => event(i, `a${i}`))
    for (const line of lines) a.write(line)
    b.write(event(0, 'b'))
    await Promise.all([a.finish(), b.finish()])
    const chunks = await chunksOf(store)
    expect(chunks.length).toBeGreaterThan(20)
    expect(chunks.join('')).toBe(HEADER + lines.join(''))
    expect((await chunksOf(store, other)).join('')).toBe(HEADER + event(0, 'b'))
    expect(await chunksOf(store, 's-0000000000000000')).toEqual([])
    expect((await store.openSessionMarkers()).map((m) => m.session).sort()).toEqual([SESSION, other].sort())
    await store.deleteSessionMarker(other)
    expect(await store.openSessionMarkers()).toEqual([{ session: SESSION, startSeq: 1 }])
  })

  it('fails at a missing chunk instead of skipping it', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    const sink = store.castSink(SESSION, 1, { maxChunkBytes: 10 })
    sink.write(HEADER)
    await sink.flush()
    sink.write(event(1, 'one') + event(2, 'two') + event(3, 'three'))
    await sink.finish()
    await store.close()
    const db = new Level<string, string>(dir)
    await db.del(`c!${SESSION}!00000002`)
    await db.close()
    const reopened = await openStore(dir)
    await expect(chunksOf(reopened)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_CORRUPT' })
  })

  it('reads an unreadable marker as "look from the start"', async () => {
    const dir = freshDir()
    await (await AuditStore.open(dir)).close()
    const db = new Level<string, string>(dir)
    await db.put(`o!${SESSION}`, 'garbage')
    await db.put('o!not-a-session', '{"startSeq":3}')
    await db.close()
    const store = await openStore(dir)
    expect(await store.openSessionMarkers()).toEqual([{ session: SESSION, startSeq: 1 }])
  })
})

describe('readCastStream', () => {
  const recording = (): string => {
    const rec = new CastRecorder({ width: 80, height: 24, startedAt: new Date(0), user: 'alice', container: 'web-1', project: 'shop', sessionId: SESSION })
    for (let i = 0; i < 2000; i++) rec.output(Buffer.from(`line ${i} é€🎉\r\n`), i * 10)
    rec.input(Buffer.from('exit\r'), 30_000)
    rec.resize(100, 30, 30_001)
    return [rec.header(), ...rec.drain()].join('\n') + '\n'
  }

  async function collect (pieces: Array<string | Buffer>): Promise<CastItem[]> {
    const items: CastItem[] = []
    for await (const item of readCastStream((async function * () { yield * pieces })())) items.push(item)
    return items
  }

  it('gives what parseCast gives, however the text is cut (even inside a UTF-8 character)', async () => {
    const text = recording()
    const { header, events } = parseCast(text)
    const expected = [{ header }, ...events.map((event) => ({ event }))]
    expect(await collect([text])).toEqual(expected)
    const bytes = Buffer.from(text)
    const pieces: Buffer[] = []
    for (let i = 0; i < bytes.length; i += 7777) pieces.push(bytes.subarray(i, i + 7777))
    expect(await collect(pieces)).toEqual(expected)
  })

  it('names the line of a bad event counted from the start of the whole recording', async () => {
    const text = recording()
    const lines = text.split('\n')
    lines[1500] = '[1, "x", "bad code"]'
    await expect(collect([lines.join('\n')])).rejects.toMatchObject({ code: 'PORTCULLIS_CAST_INVALID', line: 1501 })
    await expect(collect(['\n\n{"version":3}\n'])).rejects.toMatchObject({ line: 3 })
    await expect(collect([''])).rejects.toMatchObject({ line: 1 })
  })

  it('checks time order across the batches it parses', async () => {
    const big = 'o'.repeat(300 * 1024)
    const text = HEADER + event(5, big) + event(1, 'earlier')
    await expect(collect([text])).rejects.toMatchObject({ code: 'PORTCULLIS_CAST_INVALID', line: 3 })
  })
})

function which (command: string): boolean {
  try {
    execFileSync('which', [command], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe.skipIf(!which('asciinema') || !which('script'))('a stored recording, as exported', () => {
  it('is read by asciinema cat', async () => {
    const store = await openStore()
    const rec = new CastRecorder({ width: 80, height: 24, startedAt: new Date(), user: 'alice', container: 'web-1', project: null, sessionId: SESSION })
    const sink = store.castSink(SESSION, 1, { maxChunkBytes: 64 })
    sink.write(rec.header() + '\n')
    for (let i = 0; i < 50; i++) {
      rec.output(Buffer.from(`hello ${i} é\r\n`), i)
      sink.write(rec.drain().join('\n') + '\n')
    }
    await sink.finish()
    const file = join(root, 'exported.cast')
    writeFileSync(file, (await chunksOf(store)).join(''))
    // asciinema opens /dev/tty, so give it a terminal: util-linux `script` runs it under a pty.
    const out = execFileSync('script', ['-q', '-e', '-c', `asciinema cat ${file}`, '/dev/null'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    expect(out).toContain('hello 49 é')
  })
})
