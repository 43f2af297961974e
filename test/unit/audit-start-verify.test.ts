// The check `portcullis serve` runs before it accepts calls (issue 12, item 2): the chain from the newest good
// checkpoint to the head, tables LevelDB cannot read, and write-ahead logs LevelDB dropped parts of when it opened
// the store. Every store here is made by the real AuditStore and damaged on disk.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { signCheckpoint } from '../../src/audit/checkpoints.js'
import { AuditError } from '../../src/audit/errors.js'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { startDamagedError, verifyAtStart } from '../../src/audit/start-verify.js'
import { AuditStore } from '../../src/audit/store.js'
import { verifyDir } from '../../src/audit/verify.js'
import { flipLog, flipTable, forgetJournal, makeStore, truncateTable } from '../helpers/damaged-store.js'
import { tempStores } from '../helpers/temp-stores.js'

const { freshDir, openStore, root } = tempStores('portcullis-start-verify-')

async function caught (promise: Promise<unknown>): Promise<AuditError> {
  const err = await promise.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(AuditError)
  return err as AuditError
}

describe('an intact store passes, from the newest good checkpoint to the head', () => {
  it('with no checkpoint, every record from the first is checked', async () => {
    const dir = freshDir()
    await makeStore(dir, 300, 20)
    const found = await verifyAtStart(await openStore(dir))
    expect(found).toEqual({ ok: true, from: 1, to: 320, records: 320, damage: [] })
  })

  it('with a signed checkpoint, only the records after it are read', async () => {
    const dir = freshDir()
    const keysDir = join(root, 'keys')
    mkdirSync(keysDir, { recursive: true })
    const { key } = ensureAuditKey(keysDir)
    await makeStore(dir, 300, 20)
    const store = await openStore(dir)
    const checkpoint = await signCheckpoint(store, key, { seq: 250 })
    const found = await verifyAtStart(store, [key])
    expect(found).toMatchObject({ ok: true, from: 251, to: 320, records: 70, checkpoint: { seq: 250, time: checkpoint.time } })
  })
})

describe('a damaged store is reported, the damage named', () => {
  it('bytes flipped in a table: the first record LevelDB cannot read', async () => {
    const dir = freshDir()
    await makeStore(dir)
    const table = flipTable(dir)
    const found = await verifyAtStart(await openStore(dir))
    expect(found.ok).toBe(false)
    expect(found.firstBad).toMatchObject({ problem: 'unreadable' })
    expect(found.firstBad!.detail).toContain(`table ${table}`)
    expect(found.firstBad!.seq).toBeGreaterThan(1)
    expect(found.firstBad!.detail).toContain('Corruption')
    expect(found.records).toBe(found.firstBad!.seq - 1)
    const refusal = startDamagedError(dir, found)
    expect(refusal.code).toBe('PORTCULLIS_AUDIT_START_DAMAGED')
    expect(refusal.message).toContain(`record ${found.firstBad!.seq}`)
    expect(refusal.message).toContain('--accept-damaged-audit')
  })

  it('bytes flipped in the write-ahead log: the journal puts back the audit records LevelDB dropped, and the dropped log is still damage', async () => {
    const dir = freshDir()
    await makeStore(dir)
    const log = flipLog(dir)
    const store = await openStore(dir)
    // LevelDB drops the damaged part and everything after it in the log; the journal has every acknowledged record.
    expect(store.head().seq).toBe(3500)
    const [restored] = store.journalReplay.restored
    expect(restored!.fromSeq).toBeGreaterThan(3000)
    expect(restored!.toSeq).toBe(3500)
    const found = await verifyAtStart(store)
    expect(found).toMatchObject({ ok: false, to: 3500, records: 3500 })
    expect(found.firstBad).toBeUndefined()
    expect(found.damage[0]).toContain(`${log}: dropping`)
    expect(found.damage[0]).toContain('Corruption')
    expect(found.damage[0]).toContain(`the journal put back audit records ${restored!.fromSeq}-3500, but recordings, ownership and grant entries in it are gone`)
    expect(startDamagedError(dir, found).message).toContain(log)
  })

  it('bytes flipped in the write-ahead log of a store whose journal moved past it: the records LevelDB dropped are gone, and said to be', async () => {
    const dir = freshDir()
    await makeStore(dir)
    forgetJournal(dir)
    const log = flipLog(dir)
    const store = await openStore(dir)
    expect(store.head().seq).toBeLessThan(3500)
    expect(store.journalReplay.restored).toEqual([])
    const found = await verifyAtStart(store)
    expect(found.ok).toBe(false)
    expect(found.damage[0]).toContain(`${log}: dropping`)
    expect(found.damage[0]).toContain('the records in it are gone')
  })

  it('a refused start keeps being refused: the next open no longer sees the dropped log, the refusal record still stands', async () => {
    const dir = freshDir()
    await makeStore(dir)
    const log = flipLog(dir)
    let store = await AuditStore.open(dir)
    const first = await verifyAtStart(store)
    await store.append({ kind: 'system', action: 'audit.start-verify', code: 'PORTCULLIS_AUDIT_START_DAMAGED', reason: 'start refused', fields: { damage: first.damage } })
    await store.close()
    store = await openStore(dir)
    const again = await verifyAtStart(store)
    expect(again.ok).toBe(false)
    expect(again.damage.some((line) => line.includes(`${log}: dropping`) && line.startsWith('found by the start refused'))).toBe(true)
    // Once something else is recorded (an accepted start), the refusal no longer stands.
    await store.append({ kind: 'system', action: 'portcullis.start', reason: 'accepted' })
    expect((await verifyAtStart(store)).ok).toBe(true)
  })

  it('a truncated table: opening names the file with PORTCULLIS_AUDIT_STORAGE, not an unexpected error', async () => {
    const dir = freshDir()
    await makeStore(dir)
    const table = truncateTable(dir)
    const err = await caught(AuditStore.open(dir))
    expect(err.code).toBe('PORTCULLIS_AUDIT_STORAGE')
    expect(err.message).toContain(`file ${table}`)
    expect(err.message).toContain(`audit verify --data ${dir}`)
  })

  it('audit verify of a flipped table: the gap LevelDB leaves is reported with the table it cannot read', async () => {
    const dir = freshDir()
    await makeStore(dir)
    const table = flipTable(dir)
    const report = await verifyDir(dir)
    expect(report.ok).toBe(false)
    expect(report.firstBad).toMatchObject({ problem: 'gap' })
    expect(report.firstBad!.detail).toContain(`LevelDB cannot read it in table ${table}`)
  })

  it('reading past a flipped table: a coded error naming the file kind and the first record LevelDB passed over', async () => {
    const dir = freshDir()
    await makeStore(dir)
    flipTable(dir)
    const store = await openStore(dir)
    const found = await verifyAtStart(store)
    const err = await caught((async () => { for await (const record of store.read()) void record })())
    expect(err.code).toBe('PORTCULLIS_AUDIT_STORAGE')
    expect(err.message).toContain(`at record ${found.firstBad!.seq}`)
    expect(err.message).toContain('Corruption')
  })
})

describe('a full disk or a spent descriptor limit during the check is not damage', () => {
  it('the start fails with PORTCULLIS_AUDIT_RESOURCES and nothing is recorded against the store', async () => {
    const dir = freshDir()
    await makeStore(dir, 50, 0)
    const store = await openStore(dir)
    const before = store.head()
    // What LevelDB says when it cannot open a table for the walk: the host's state, which passes.
    store.verify = async () => { throw Object.assign(new Error(`IO error: ${dir}/000005.ldb: Too many open files`), { code: 'LEVEL_IO_ERROR' }) }
    const err = await caught(verifyAtStart(store))
    expect(err.code).toBe('PORTCULLIS_AUDIT_RESOURCES')
    expect(err.message).toContain('ran out of file descriptors')
    expect(store.head()).toEqual(before)
  })
})
