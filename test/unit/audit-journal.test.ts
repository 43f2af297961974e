// The journal makes each batch durable with one O_DSYNC append; LevelDB gets the batch without sync. What LevelDB
// loses (its unsynced log, cut by a crash of the host) is put back from the journal at the next open. These
// stores use a journal of two 64 KiB halves, so that a few thousand records switch halves many times.
import { execFileSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { open } from 'node:fs/promises'
import { Level } from 'level'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AuditStore } from '../../src/audit/store.js'
import type { AuditInput } from '../../src/audit/record.js'
import { tempStores } from '../helpers/temp-stores.js'

const { freshDir } = tempStores('portcullis-journal-')

afterEach(() => { vi.restoreAllMocks() })

/** Node's FileHandle class, whose write() the journal uses. */
async function fileHandlePrototype (): Promise<{ write: (...args: unknown[]) => Promise<unknown> }> {
  const handle = await open('/dev/null', 'r')
  await handle.close()
  return Object.getPrototypeOf(handle) as { write: (...args: unknown[]) => Promise<unknown> }
}

/** Appends one at a time until `count` were acknowledged, waiting out refusals; answers the acknowledged seqs. */
async function appendAcknowledged (store: AuditStore, count: number): Promise<number[]> {
  const acknowledged: number[] = []
  for (let i = 0; acknowledged.length < count && i < 10 * count; i++) {
    try {
      acknowledged.push((await store.append(decision(i))).seq)
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50)) // a back-off between retries, as a caller would; no event to wait on
    }
  }
  return acknowledged
}
const HALF = 64 * 1024

function decision (i: number, padding = 100): AuditInput {
  return { kind: 'decision', user: 'alice', action: 'container.create', decision: 'allow', reason: `call ${i} ${'x'.repeat(padding)}` }
}

async function fill (dir: string, from: number, count: number): Promise<void> {
  const store = await AuditStore.open(dir, { journalHalfBytes: HALF })
  try {
    // In waves of 64, like concurrent calls: many batches, many half switches.
    for (let i = 0; i < count; i += 64) {
      await Promise.all(Array.from({ length: Math.min(64, count - i) }, async (_, j) => await store.append(decision(from + i + j))))
    }
  } finally {
    await store.close()
  }
}

/** A crash of the host before LevelDB's logs reached the disk: they are empty. */
function loseLevelDbLogs (dir: string): void {
  for (const name of readdirSync(dir).filter((n) => /^\d+\.log$/.test(n))) truncateSync(join(dir, name), 0)
}

describe('the journal puts back what LevelDB lost', () => {
  it('after many half switches, the records of a lost LevelDB log come back from the journal, and the chain holds', async () => {
    const dir = freshDir()
    await fill(dir, 1, 3000)
    // The next open flushes LevelDB and begins a fresh half: these 20 are then only in LevelDB's log and the journal.
    await fill(dir, 3001, 20)
    loseLevelDbLogs(dir)
    const store = await AuditStore.open(dir, { journalHalfBytes: HALF })
    try {
      expect(store.head().seq).toBe(3020)
      expect(store.journalReplay.problems).toEqual([])
      expect(store.journalReplay.restored.at(-1)).toEqual({ fromSeq: 3001, toSeq: 3020 })
      expect(await store.verify()).toMatchObject({ ok: true, records: 3020 })
    } finally {
      await store.close()
    }
  })

  it('a store whose LevelDB kept everything restores nothing, and frames left from a half\'s earlier use are never read as new', async () => {
    const dir = freshDir()
    await fill(dir, 1, 3000)
    const store = await AuditStore.open(dir, { journalHalfBytes: HALF })
    try {
      expect(store.journalReplay).toEqual({ head: store.head(), restored: [], problems: [] })
    } finally {
      await store.close()
    }
  })

  it('a torn last frame (the host stopped in the middle of its append, so it was never acknowledged) ends the journal: the frames before it come back', async () => {
    const dir = freshDir()
    await fill(dir, 1, 10) // one batch: the first frame
    await fill(dir, 11, 10) // the next open begins the other half: its first frame
    const journal = join(dir, 'journal')
    const fd = openSync(journal, 'r+')
    // Each half: a 16-byte header, then frames of `u32 length, u32 CRC, payload`. Tear the second one's payload.
    const length = Buffer.alloc(4)
    readSync(fd, length, 0, 4, HALF + 16)
    const at = HALF + 16 + 8 + Math.floor(length.readUInt32LE(0) / 2)
    writeSync(fd, Buffer.from('torn'), 0, 4, at)
    closeSync(fd)
    loseLevelDbLogs(dir)
    const store = await AuditStore.open(dir, { journalHalfBytes: HALF })
    try {
      expect(store.head().seq).toBe(10)
      expect(store.journalReplay.problems).toEqual([])
      expect(await store.verify()).toMatchObject({ ok: true, records: 10 })
    } finally {
      await store.close()
    }
  })

  it('a batch larger than a half is written by LevelDB with sync instead, and survives a lost log as a table would', async () => {
    const dir = freshDir()
    const store = await AuditStore.open(dir, { journalHalfBytes: HALF })
    const big = await store.append(decision(1, 2 * HALF))
    const small = await store.append(decision(2))
    await store.close()
    const reopened = await AuditStore.open(dir, { journalHalfBytes: HALF })
    try {
      expect(reopened.head()).toEqual({ seq: small.seq, hash: small.hash })
      expect((await reopened.tail(2)).map((r) => r.hash)).toEqual([big.hash, small.hash])
    } finally {
      await reopened.close()
    }
  })

  it('a journal write that fails (here the header of the next half) refuses that batch, and after the store reopens by itself no acknowledged record depends on what the failure left', async () => {
    const dir = freshDir()
    const proto = await fileHandlePrototype()
    const write = proto.write
    let failed = false
    vi.spyOn(proto, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
      // The header written when the journal moves into its second half.
      if (!failed && args[3] === HALF && args[2] === 16) {
        failed = true
        return Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }))
      }
      return write.apply(this, args)
    })
    const store = await AuditStore.open(dir, { journalHalfBytes: HALF, retryMaxMs: 100 })
    const acknowledged = await appendAcknowledged(store, 600)
    expect(failed).toBe(true)
    await store.close()
    vi.restoreAllMocks()
    loseLevelDbLogs(dir)
    const reopened = await AuditStore.open(dir, { journalHalfBytes: HALF })
    try {
      const seqs = new Set<number>()
      for await (const record of reopened.read()) seqs.add(record.seq)
      expect(acknowledged.filter((seq) => !seqs.has(seq))).toEqual([])
      expect(await reopened.verify()).toMatchObject({ ok: true })
    } finally {
      await reopened.close()
    }
  })

  it('a LevelDB flush that silently did not happen (compactRange reports no error when it cannot switch its log) stops the journal from being written over: the store refuses records instead', async () => {
    const dir = freshDir()
    const store = await AuditStore.open(dir, { journalHalfBytes: HALF })
    vi.spyOn(Level.prototype as unknown as { compactRange: () => Promise<void> }, 'compactRange').mockImplementation(async () => {})
    const acknowledged: number[] = []
    let refusal: unknown = null
    for (let i = 0; i < 2000 && refusal === null; i++) {
      try {
        acknowledged.push((await store.append(decision(i))).seq)
      } catch (err) {
        refusal = err
      }
    }
    expect(refusal).toMatchObject({ code: 'PORTCULLIS_AUDIT_WRITE_FAILED' })
    expect(String((refusal as Error).message)).toContain('did not write its log')
    vi.restoreAllMocks()
    await store.close()
    loseLevelDbLogs(dir)
    const reopened = await AuditStore.open(dir, { journalHalfBytes: HALF })
    try {
      expect(reopened.head().seq).toBeGreaterThanOrEqual(acknowledged.at(-1)!)
    } finally {
      await reopened.close()
    }
  })
})

describe('the journal is a regular file of the store\'s own, never something planted in its place', () => {
  async function storeWithJournalReplaced (plant: (journal: string) => void): Promise<{ dir: string, opened: Promise<unknown> }> {
    const dir = freshDir()
    await fill(dir, 0, 100)
    const journal = join(dir, 'journal')
    rmSync(journal)
    plant(journal)
    return { dir, opened: AuditStore.open(dir, { journalHalfBytes: HALF }).then(async (store) => await store.close()) }
  }

  it('a symbolic link is not followed: the open fails with PORTCULLIS_AUDIT_JOURNAL and the link\'s target is untouched', async () => {
    const target = join(freshDir(), 'precious')
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, 'keep me')
    const { opened } = await storeWithJournalReplaced((journal) => symlinkSync(target, journal))
    await expect(opened).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_JOURNAL' })
    expect(readFileSync(target, 'utf8')).toBe('keep me')
  })

  it('a FIFO does not hang the open: it fails at once with PORTCULLIS_AUDIT_JOURNAL, saying it is not a regular file', async () => {
    const { opened } = await storeWithJournalReplaced((journal) => execFileSync('mkfifo', ['-m', '600', journal]))
    const err = await opened.then(() => null, (e: unknown) => e)
    expect(err).toMatchObject({ code: 'PORTCULLIS_AUDIT_JOURNAL' })
    expect((err as Error).message).toContain('not a regular file')
  })

  it('a directory in its place is refused the same way', async () => {
    const { opened } = await storeWithJournalReplaced((journal) => mkdirSync(journal))
    await expect(opened).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_JOURNAL' })
  })
})
