// Every storage failure is a coded error (issue 12, item 2): checkpoint signing and reading, retention, bundles and
// recording reads on a store whose table LevelDB cannot read give PORTCULLIS_AUDIT_STORAGE naming the file, never
// LevelDB's own error (which the CLI and the admin socket show as `unexpected error`). Each store here is made by
// the real AuditStore and damaged on disk.
import { mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { bundleSourceOf, prepareBundle } from '../../src/audit/bundle-store.js'
import { readCheckpoints, signCheckpoint } from '../../src/audit/checkpoints.js'
import { AuditError } from '../../src/audit/errors.js'
import { expireRecords } from '../../src/audit/retention.js'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { AuditStore, auditDatabase } from '../../src/audit/store.js'
import { exhaustedResource, storageError } from '../../src/audit/storage-errors.js'
import { flipTableHolding } from '../helpers/damaged-store.js'
import { tempStores } from '../helpers/temp-stores.js'

const { freshDir, openStore, root } = tempStores('portcullis-storage-errors-')
const keysDir = join(root, 'keys')
mkdirSync(keysDir, { recursive: true })
const { key } = ensureAuditKey(keysDir)
/** Signs the checkpoints stored before the damage: signing with `key` then walks past all of them. */
const otherKey = ensureAuditKey(join(root, 'other-keys')).key

const SESSION = 's-0123456789abcdef'
const HEADER = '{"version":2,"width":80,"height":24,"timestamp":1700000000}\n'
const event = (time: number, data: string): string => `[${time.toFixed(6)}, "o", ${JSON.stringify(data)}]\n`

async function caught (promise: Promise<unknown>): Promise<AuditError> {
  const err = await promise.then(() => null, (e: unknown) => e)
  expect(err, 'expected a coded error').toBeInstanceOf(AuditError)
  return err as AuditError
}

async function drain<T> (items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

/** A store whose oldest table starts with what `fill` wrote (the smallest keys: recordings `c!`, then
 * checkpoints `k!`), moved into a table by closing and reopening, then damaged: answers the table's name. */
async function damagedStore (dir: string, fill: (store: AuditStore) => Promise<void>, prefix: string): Promise<string> {
  const store = await AuditStore.open(dir)
  await fill(store)
  await store.close()
  await (await AuditStore.open(dir)).close()
  expect(readdirSync(dir).some((name) => name.endsWith('.ldb'))).toBe(true)
  return await flipTableHolding(dir, prefix)
}

async function records (store: AuditStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await store.append({ kind: 'decision', user: 'alice', action: 'container.create', decision: 'allow', reason: `record ${i}` })
}

describe('a table of checkpoints LevelDB cannot read', () => {
  // Signed with another key, so that signing with `key` walks past every one of them to find where to start.
  const withCheckpoints = (n: number, signer = otherKey) => async (store: AuditStore): Promise<void> => {
    for (let done = 0; done < n; done += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, n - done) }, async (_, i) => await store.append({ kind: 'decision', user: 'alice', action: 'container.create', decision: 'allow', reason: `record ${done + i}` })))
    }
    for (let seq = 1; seq <= 300; seq++) await signCheckpoint(store, signer, { seq })
  }

  it('reading, signing and writing an evidence bundle give PORTCULLIS_AUDIT_STORAGE naming the table', async () => {
    const dir = freshDir()
    const table = await damagedStore(dir, withCheckpoints(300), 'k!')
    const store = await openStore(dir)
    for (const attempt of [
      async () => await drain(readCheckpoints(auditDatabase(store))),
      async () => await signCheckpoint(store, key),
      async () => await prepareBundle(bundleSourceOf(store, key), 'evidence', { generator: 'test' })
    ]) {
      const err = await caught(attempt())
      expect(err.code, err.message).toBe('PORTCULLIS_AUDIT_STORAGE')
      // LevelDB names no file here: the tables whose key range the read covered, the damaged one among them.
      expect(err.message).toMatch(new RegExp(`tables? [^)]*${table}`))
    }
  })

  it('expiring records gives PORTCULLIS_AUDIT_STORAGE naming the table, and removes nothing', async () => {
    const dir = freshDir()
    // Signed with the daemon's key: expiry's own checkpoint starts from the newest of them, and removing the older
    // ones walks into the damage.
    const table = await damagedStore(dir, withCheckpoints(10_050, key), 'k!')
    const store = await openStore(dir)
    expect((await caught(drain(readCheckpoints(auditDatabase(store))))).code, 'the damage lies among the checkpoints').toBe('PORTCULLIS_AUDIT_STORAGE')
    const err = await caught(expireRecords(store, { retentionMs: 1, key, force: true }))
    expect(err.code, err.message).toBe('PORTCULLIS_AUDIT_STORAGE')
    expect(err.message).toContain(table)
    expect((await store.tail(1))[0]!.seq).toBe(10_050)
    expect((await drain(store.read({ limit: 1 })))[0]!.seq).toBe(1)
  }, 60_000)
})

describe('a table of recording chunks LevelDB cannot read', () => {
  it('reading the recording gives PORTCULLIS_AUDIT_STORAGE naming the chunk and the table, not a missing chunk', async () => {
    const dir = freshDir()
    const table = await damagedStore(dir, async (store) => {
      await records(store, 5)
      const sink = store.castSink(SESSION, 1, { maxChunkBytes: 512, flushIntervalMs: 60_000 })
      sink.write(HEADER)
      for (let i = 0; i < 400; i++) sink.write(event(i, `line ${i} ${'y'.repeat(200)}\r\n`))
      await sink.finish()
    }, 'c!')
    const store = await openStore(dir)
    const err = await caught(drain(store.readCast(SESSION)))
    expect(err.code, err.message).toBe('PORTCULLIS_AUDIT_STORAGE')
    expect(err.message).toContain(table)
    expect(err.message).toMatch(/chunk \d+ of the recording of session s-0123456789abcdef/)
  })
})

describe('a full disk or a spent descriptor limit is not damage', () => {
  const levelIoError = (message: string): Error => Object.assign(new Error(`IO error: ${message}`), { code: 'LEVEL_IO_ERROR' })

  it('gives PORTCULLIS_AUDIT_RESOURCES naming descriptors, and no advice to restore a backup', () => {
    const err = storageError(levelIoError('/srv/audit/000012.log: Too many open files'), '/srv/audit') as AuditError
    expect(err.code).toBe('PORTCULLIS_AUDIT_RESOURCES')
    expect(err.message).toContain('000012.log: Too many open files')
    expect(err.message).toContain('ran out of file descriptors')
    expect(err.message).toContain('LimitNOFILE')
    expect(err.message).not.toContain('backup')
  })

  it('gives PORTCULLIS_AUDIT_RESOURCES naming disk space for ENOSPC', () => {
    const err = storageError(levelIoError('/srv/audit/000013.ldb: No space left on device'), '/srv/audit') as AuditError
    expect(err.code).toBe('PORTCULLIS_AUDIT_RESOURCES')
    expect(err.message).toContain('ran out of disk space')
  })

  it('keeps PORTCULLIS_AUDIT_STORAGE for what is damage', () => {
    const err = storageError(levelIoError('/srv/audit/000014.ldb: Bad file descriptor'), '/srv/audit') as AuditError
    expect(err.code).toBe('PORTCULLIS_AUDIT_STORAGE')
    expect(exhaustedResource('Corruption: checksum mismatch')).toBeNull()
  })
})
