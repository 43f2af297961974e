// A cut tail is detectable (issue 12, item 2): the newest durable record's seq and hash, written outside LevelDB
// (HEAD.json) and into the logs, show when a store lost its last records, which the chain alone cannot.
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkCheckpointCopies, readLoggedHeads } from '../../src/audit/checkpoint-copies.js'
import { AuditError } from '../../src/audit/errors.js'
import { HEAD_FILE, readHeadFile, writeHeadFile } from '../../src/audit/head-file.js'
import { verifyAtStart } from '../../src/audit/start-verify.js'
import { AuditStore } from '../../src/audit/store.js'
import { verifyDir } from '../../src/audit/verify.js'
import { tempStores } from '../helpers/temp-stores.js'

const { freshDir, openStore } = tempStores('portcullis-head-file-')

async function codeOf (promise: Promise<unknown>): Promise<AuditError> {
  const err = await promise.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(AuditError)
  return err as AuditError
}

async function fill (store: AuditStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await store.append({ kind: 'system', action: 'test.record', reason: `record ${i}` })
}

describe('HEAD.json', () => {
  it('is written whole, private (0600) whatever the umask, with no temporary file left', () => {
    const dir = freshDir()
    mkdirSync(dir)
    const previous = process.umask(0o022)
    try {
      writeHeadFile(dir, { seq: 7, hash: 'a'.repeat(64) }, 'stop', new Date('2026-12-01T10:00:00.000Z'))
      writeHeadFile(dir, { seq: 9, hash: 'b'.repeat(64) }, 'checkpoint', new Date('2026-12-01T10:05:00.000Z'))
    } finally {
      process.umask(previous)
    }
    expect(readdirSync(dir)).toEqual([HEAD_FILE])
    expect(statSync(join(dir, HEAD_FILE)).mode & 0o777).toBe(0o600)
    expect(readHeadFile(dir)).toEqual({ seq: 9, hash: 'b'.repeat(64), event: 'checkpoint', time: '2026-12-01T10:05:00.000Z' })
  })

  it('reads as missing when there is none, and as unreadable when it is not a head', () => {
    const dir = freshDir()
    mkdirSync(dir)
    expect(readHeadFile(dir)).toBeNull()
    writeFileSync(join(dir, HEAD_FILE), '{"seq":"x"}')
    expect(readHeadFile(dir)).toMatchObject({ unreadable: expect.stringContaining('not a head') })
  })
})

describe('the store directory with HEAD.json', () => {
  it('a store with HEAD.json opens as a store', async () => {
    const dir = freshDir()
    const store = await AuditStore.open(dir)
    await fill(store, 3)
    writeHeadFile(dir, store.head(), 'stop')
    await store.close()
    const again = await openStore(dir)
    expect(again.head().seq).toBe(3)
  })

  it('a directory holding only HEAD.json was emptied: refused naming the record, and nothing is made in it', async () => {
    const dir = freshDir()
    const store = await AuditStore.open(dir)
    await fill(store, 12)
    writeHeadFile(dir, store.head(), 'stop', new Date('2026-12-01T10:00:00.000Z'))
    await store.close()
    for (const name of readdirSync(dir)) if (name !== HEAD_FILE) rmSync(join(dir, name))

    const refused = await codeOf(AuditStore.open(dir))
    expect(refused.code).toBe('PORTCULLIS_AUDIT_EMPTIED')
    expect(refused.message).toContain('HEAD.json names record 12, written at the stop at 2026-12-01T10:00:00.000Z')
    expect(readdirSync(dir)).toEqual([HEAD_FILE])
    expect((await codeOf(verifyDir(dir))).code).toBe('PORTCULLIS_AUDIT_EMPTIED')
  })

  it('a directory holding the journal (or a HEAD.json beside other store files) but no CURRENT is damaged, not fresh', async () => {
    for (const names of [['journal'], ['journal', HEAD_FILE], [HEAD_FILE, 'MANIFEST-000004']]) {
      const dir = freshDir()
      mkdirSync(dir)
      for (const name of names) writeFileSync(join(dir, name), name === HEAD_FILE ? JSON.stringify({ seq: 1, hash: 'a'.repeat(64), event: 'stop', time: 'now' }) : 'x')
      const refused = await codeOf(AuditStore.open(dir))
      expect(refused.code).toBe('PORTCULLIS_AUDIT_DAMAGED')
      for (const name of names) expect(refused.message).toContain(name)
      expect(readdirSync(dir).sort()).toEqual([...names].sort())
    }
  })
})

describe('the start verification compares the store with HEAD.json', () => {
  it('passes when the store holds the head HEAD.json names, or more', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    await fill(store, 5)
    writeHeadFile(dir, store.head(), 'checkpoint')
    await fill(store, 2)
    expect(await verifyAtStart(store)).toMatchObject({ ok: true, damage: [] })
  })

  it('a store behind HEAD.json lost its tail: the missing records named, with when they were known', async () => {
    const dir = freshDir()
    const store = await AuditStore.open(dir)
    await fill(store, 5)
    const head = store.head()
    await store.close()
    writeHeadFile(dir, { seq: 9, hash: 'c'.repeat(64) }, 'stop', new Date('2026-12-01T10:00:00.000Z'))
    const found = await verifyAtStart(await openStore(dir))
    expect(found.ok).toBe(false)
    expect(found.damage[0]).toContain('records 6..9 (known at the last stop at 2026-12-01T10:00:00.000Z) are gone')
    expect(found.tailCut).toEqual({ seq: 9, hash: 'c'.repeat(64), event: 'stop', time: '2026-12-01T10:00:00.000Z' })
    expect(head.seq).toBe(5)
  })

  it('audit verify --data reports the same cut tail, where the chain alone verifies', async () => {
    const dir = freshDir()
    const store = await AuditStore.open(dir)
    await fill(store, 5)
    await store.close()
    writeHeadFile(dir, { seq: 9, hash: 'c'.repeat(64) }, 'checkpoint', new Date('2026-12-01T10:00:00.000Z'))
    const report = await verifyDir(dir)
    expect(report).toMatchObject({ ok: false, records: 5, firstBad: { seq: 6, problem: 'tail-cut' } })
    expect(report.firstBad!.detail).toContain('records 6..9 (known at the last checkpoint at 2026-12-01T10:00:00.000Z) are gone')
    writeHeadFile(dir, { seq: 5, hash: report.head.hash }, 'stop')
    expect(await verifyDir(dir)).toMatchObject({ ok: true })
  })

  it('a record at HEAD.json\'s seq with another hash: records were cut and others written in their place', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    await fill(store, 5)
    writeFileSync(join(dir, HEAD_FILE), JSON.stringify({ seq: 4, hash: 'd'.repeat(64), event: 'checkpoint', time: '2026-12-01T10:00:00.000Z' }))
    const found = await verifyAtStart(store)
    expect(found.ok).toBe(false)
    expect(found.damage[0]).toContain('record 4 (known at the last checkpoint at 2026-12-01T10:00:00.000Z) is not the record it was')
  })
})

describe('log copies past the store\'s head', () => {
  const hash = (seq: number): string => seq.toString(16).padStart(64, '0')
  const lookup = async (seq: number): Promise<string | null> => seq <= 5 ? hash(seq) : null

  it('reads the heads logged at start, stop and checkpoint', () => {
    const log = [
      JSON.stringify({ level: 30, time: Date.parse('2026-12-01T10:00:00Z'), head: { seq: 3, hash: hash(3) }, event: 'start', msg: 'audit head' }),
      JSON.stringify({ level: 30, msg: 'portcullis is serving' }),
      JSON.stringify({ level: 30, time: Date.parse('2026-12-01T11:00:00Z'), head: { seq: 8, hash: hash(8) }, event: 'stop', msg: 'audit head' })
    ].join('\n')
    expect(readLoggedHeads(log)).toEqual([
      { seq: 3, hash: hash(3), event: 'start', time: '2026-12-01T10:00:00.000Z' },
      { seq: 8, hash: hash(8), event: 'stop', time: '2026-12-01T11:00:00.000Z' }
    ])
  })

  it('a logged head past the store\'s head is a cut tail, naming the records gone', async () => {
    const report = await checkCheckpointCopies([], lookup, { headSeq: 5, heads: [{ seq: 8, hash: hash(8), event: 'stop', time: '2026-12-01T11:00:00.000Z' }] })
    expect(report.firstBad).toMatchObject({ seq: 6, problem: 'tail-cut' })
    expect(report.firstBad!.detail).toContain('records 6..8')
    expect(report.firstBad!.detail).toContain('2026-12-01T11:00:00.000Z')
  })

  it('a logged checkpoint past the store\'s head is a cut tail, not an expired or removed record', async () => {
    const { generateKeyPairSync } = await import('node:crypto')
    const { createCheckpoint } = await import('../../src/audit/checkpoint-format.js')
    const { auditKeyId } = await import('../../src/audit/signing-key.js')
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const signer = { keyId: auditKeyId(publicKey), publicKey, privateKey, publicKeyPem: '', path: '/dev/null' }
    const copies = [4, 7, 9].map((seq) => createCheckpoint(signer, { seq, hash: hash(seq) }, new Date(`2026-12-01T10:0${seq}:00.000Z`)))
    const report = await checkCheckpointCopies(copies, lookup, { keys: [signer], headSeq: 5, expiredUpTo: 0 })
    expect(report.expired).toBe(0)
    expect(report.checked).toBe(1)
    expect(report.firstBad).toMatchObject({ seq: 6, problem: 'tail-cut', checkpoint: { seq: 9 } })
    expect(report.firstBad!.detail).toContain('records 6..9 (known at the checkpoint logged at 2026-12-01T10:09:00.000Z) are gone')
  })
})
