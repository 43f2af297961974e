// What the sealed-file sink keeps of an open file a crash left behind: whole lines that continue the chain after the
// newest sealed file; it cuts the file at the first line that does not (torn, changed, out of order), and drops an
// open file that holds nothing after the sealed seq. The position it reports is where the output resumes. And which
// sealed files keepBytes and keepFor remove: the oldest, never the newest, never the open file.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StoredRecord } from '../../src/audit/query.js'
import { AuditStore } from '../../src/audit/store.js'
import { compileOutputs } from '../../src/policy/outputs.js'
import { SealedFileSink } from '../../src/siem/sealed-files.js'
import { OPEN_FILE, sealedName } from '../../src/siem/sealed-names.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-siem-recovery-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const logger = pino({ level: 'silent' })
const rows: StoredRecord[] = []
let cases = 0

beforeAll(async () => {
  const store = await AuditStore.open(join(root, 'store'))
  for (let i = 1; i <= 12; i++) await store.append({ kind: 'decision', user: 'alice', action: 'container.start', project: 'web', decision: 'allow', reason: `call ${i}` })
  for await (const row of store.queryStored({ fromSeq: 1, toSeq: 12 })) rows.push(row)
  await store.close()
})

const lines = (from: number, to: number): string => rows.slice(from - 1, to).map((row) => row.text + '\n').join('')

/** A directory with records 1-5 sealed and `open` as the leftover open file; the sink opened on it. */
async function recover (open: string): Promise<{ dir: string, position: { seq: number, hash: string | null }, sink: SealedFileSink }> {
  const dir = join(root, `case-${++cases}`)
  mkdirSync(dir, { mode: 0o700 })
  writeFileSync(join(dir, sealedName(1, 5)), lines(1, 5))
  writeFileSync(join(dir, OPEN_FILE), open)
  const sink = new SealedFileSink(compileOutputs({ files: { dir, maxAge: '1h' } }).files!, logger)
  return { dir, position: await sink.open(null), sink }
}

describe('a leftover open file', () => {
  it('whole lines continuing the chain are kept and a torn last line is cut off', async () => {
    const { dir, position, sink } = await recover(lines(6, 8) + rows[8]!.text.slice(0, 40))
    expect(position).toEqual({ seq: 8, hash: rows[7]!.record.hash })
    expect(readFileSync(join(dir, OPEN_FILE), 'utf8')).toBe(lines(6, 8))
    await sink.write(rows.slice(8, 10))
    await sink.close()
    expect(readFileSync(join(dir, sealedName(6, 10)), 'utf8')).toBe(lines(6, 10))
  })

  it('is cut at a changed line, and at a line out of order', async () => {
    const changed = await recover(lines(6, 7) + lines(8, 8).replace('"alice"', '"mallory"') + lines(9, 9))
    expect(changed.position.seq).toBe(7)
    expect(readFileSync(join(changed.dir, OPEN_FILE), 'utf8')).toBe(lines(6, 7))
    const reordered = await recover(lines(6, 6) + lines(8, 8) + lines(7, 7))
    expect(reordered.position.seq).toBe(6)
  })

  it('that does not continue the sealed files (it repeats them, or links elsewhere) is dropped', async () => {
    const repeated = await recover(lines(4, 7))
    expect(repeated.position).toEqual({ seq: 5, hash: rows[4]!.record.hash })
    expect(existsSync(join(repeated.dir, OPEN_FILE))).toBe(false)
    const unlinked = await recover(lines(6, 6).replace(/"prevHash":"[0-9a-f]+"/, `"prevHash":"${'0'.repeat(64)}"`))
    expect(unlinked.position.seq).toBe(5)
  })
})

describe('removing old sealed files (keepBytes, keepFor)', () => {
  it('keepBytes removes the oldest sealed files while they are together larger, never the newest nor the open file', async () => {
    const dir = join(root, `case-${++cases}`)
    const sink = new SealedFileSink(compileOutputs({ files: { dir, maxBytes: 4096, maxAge: '1h', keepBytes: 1 } }).files!, logger)
    await sink.open(null)
    // One record a file: a tick an hour on seals each (maxAge).
    for (const row of rows.slice(0, 6)) {
      await sink.write([row])
      await sink.tick(Date.now() + 3_600_000)
    }
    await sink.write([rows[6]!])
    expect(readdirSync(dir).sort()).toEqual([OPEN_FILE, sealedName(6, 6)].sort())
    await sink.close()
    expect(readdirSync(dir)).toEqual([sealedName(7, 7)])
  })

  it('keepFor removes sealed files sealed longer ago than that; unset, nothing is removed', async () => {
    const dir = join(root, `case-${++cases}`)
    const keep = new SealedFileSink(compileOutputs({ files: { dir, maxAge: '1h' } }).files!, logger)
    await keep.open(null)
    for (const row of rows.slice(0, 3)) {
      await keep.write([row])
      await keep.tick(Date.now() + 3_600_000)
    }
    expect(readdirSync(dir).sort()).toEqual([sealedName(1, 1), sealedName(2, 2), sealedName(3, 3)])
    const old = new Date(Date.now() - 2 * 86_400_000)
    utimesSync(join(dir, sealedName(1, 1)), old, old)
    utimesSync(join(dir, sealedName(2, 2)), old, old)
    const prune = new SealedFileSink(compileOutputs({ files: { dir, maxAge: '1h', keepFor: '1d' } }).files!, logger)
    expect(await prune.open(null)).toMatchObject({ seq: 3 })
    await prune.write([rows[3]!])
    await prune.close()
    expect(readdirSync(dir).sort()).toEqual([sealedName(3, 3), sealedName(4, 4)])
  })
})
