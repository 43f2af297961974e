// A store is only made in an empty directory, and is private to its owner whatever the umask (issue 12, items 1
// and 4). LevelDB opened with createIfMissing on a store that lost CURRENT deletes the tables it does not know.
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { AuditError } from '../../src/audit/errors.js'
import { AuditStore } from '../../src/audit/store.js'
import { verifyDir } from '../../src/audit/verify.js'
import { tempStores } from '../helpers/temp-stores.js'

const { freshDir, openStore } = tempStores('portcullis-store-dir-')

async function codeOf (promise: Promise<unknown>): Promise<{ code: string, message: string }> {
  const err = await promise.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(AuditError)
  return { code: (err as AuditError).code, message: (err as AuditError).message }
}

/** A closed store holding `n` records, opened twice so that its records are in a table file (*.ldb) too. */
async function storeWithRecords (n: number): Promise<string> {
  const dir = freshDir()
  const store = await AuditStore.open(dir)
  for (let i = 0; i < n; i++) await store.append({ kind: 'system', action: 'test.record', reason: `record ${i}` })
  await store.close()
  await (await AuditStore.open(dir)).close()
  return dir
}

const modes = (dir: string): Record<string, string> => Object.fromEntries(
  ['.', ...readdirSync(dir)].map((name) => [name, (statSync(join(dir, name)).mode & 0o777).toString(8)]))

/** Runs `fn` under `mask`, as a daemon started from a shell with that umask would. */
async function underUmask<T> (mask: number, fn: () => Promise<T>): Promise<T> {
  const previous = process.umask(mask)
  try {
    return await fn()
  } finally {
    process.umask(previous)
  }
}

describe('a store that lost its CURRENT file', () => {
  it('is refused with PORTCULLIS_AUDIT_DAMAGED naming its files, and none of them is deleted', async () => {
    const dir = await storeWithRecords(50)
    unlinkSync(join(dir, 'CURRENT'))
    const before = readdirSync(dir).sort()
    expect(before.some((name) => name.endsWith('.ldb'))).toBe(true)
    const tables = before.filter((name) => name.endsWith('.ldb')).map((name) => readFileSync(join(dir, name)))

    const refused = await codeOf(AuditStore.open(dir))
    expect(refused.code).toBe('PORTCULLIS_AUDIT_DAMAGED')
    expect(refused.message).toContain(dir)
    expect(refused.message).toMatch(/MANIFEST-\d+/)
    expect(refused.message).toMatch(/\d+\.ldb/)
    expect(refused.message).toMatch(/backup/)

    expect(readdirSync(dir).sort()).toEqual(before)
    expect(before.filter((name) => name.endsWith('.ldb')).map((name) => readFileSync(join(dir, name)))).toEqual(tables)
    // Reading it says the same, rather than "no store here".
    expect((await codeOf(verifyDir(dir))).code).toBe('PORTCULLIS_AUDIT_DAMAGED')
  })

  it('is refused when only a write-ahead log is left', async () => {
    const dir = freshDir()
    mkdirSync(dir)
    writeFileSync(join(dir, '000003.log'), 'records')
    const refused = await codeOf(AuditStore.open(dir))
    expect(refused.code).toBe('PORTCULLIS_AUDIT_DAMAGED')
    expect(refused.message).toContain('000003.log')
    expect(readdirSync(dir)).toEqual(['000003.log'])
  })

  it('is refused when only the journal is left (LevelDB\'s files were deleted): the journal is kept', async () => {
    const dir = freshDir()
    await (await AuditStore.open(dir)).close()
    for (const name of readdirSync(dir)) if (name !== 'journal') rmSync(join(dir, name))
    const refused = await codeOf(AuditStore.open(dir))
    expect(refused.code).toBe('PORTCULLIS_AUDIT_DAMAGED')
    expect(refused.message).toContain('journal')
    expect(readdirSync(dir)).toEqual(['journal'])
  })
})

describe('a directory that is not a store', () => {
  it('is refused with PORTCULLIS_AUDIT_NOT_A_STORE naming what it holds, and left as it was', async () => {
    const dir = freshDir()
    mkdirSync(dir)
    writeFileSync(join(dir, 'notes.txt'), 'not a store')
    const refused = await codeOf(AuditStore.open(dir))
    expect(refused.code).toBe('PORTCULLIS_AUDIT_NOT_A_STORE')
    expect(refused.message).toContain('notes.txt')
    expect(readdirSync(dir)).toEqual(['notes.txt'])
  })

  it('is refused when it is a file', async () => {
    const dir = freshDir()
    writeFileSync(dir, 'a file')
    expect((await codeOf(AuditStore.open(dir))).code).toBe('PORTCULLIS_AUDIT_NOT_A_STORE')
  })

  it('gets a new store when it is empty, holds only what a failed LevelDB open leaves, or is a fresh file system', async () => {
    const dir = freshDir()
    mkdirSync(join(dir, 'lost+found'), { recursive: true })
    writeFileSync(join(dir, 'LOCK'), '')
    writeFileSync(join(dir, 'LOG'), 'leveldb info log')
    const store = await openStore(dir)
    expect((await store.append({ kind: 'system', action: 'test.record', reason: 'first' })).seq).toBe(1)
  })
})

describe('the store is private whatever the umask', () => {
  it('made under umask 022, its directory is 0700 and every file 0600', async () => {
    const dir = freshDir()
    const store = await underUmask(0o022, async () => await openStore(dir))
    await store.append({ kind: 'system', action: 'test.record', reason: 'typed secret' })
    expect(Object.entries(modes(dir)).filter(([name, mode]) => mode !== (name === '.' ? '700' : '600'))).toEqual([])
  })

  it('a store whose files others can read is made private again when it opens', async () => {
    const dir = await storeWithRecords(3)
    chmodSync(dir, 0o755)
    for (const name of readdirSync(dir)) chmodSync(join(dir, name), 0o644)
    await (await underUmask(0o000, async () => await openStore(dir))).close()
    expect(Object.entries(modes(dir)).filter(([name, mode]) => mode !== (name === '.' ? '700' : '600'))).toEqual([])
  })

  it('reading a store changes nothing', async () => {
    const dir = await storeWithRecords(3)
    chmodSync(join(dir, 'CURRENT'), 0o644)
    await verifyDir(dir)
    expect(modes(dir).CURRENT).toBe('644')
  })
})
