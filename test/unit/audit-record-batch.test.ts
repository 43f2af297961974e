import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterAll, expect, it } from 'vitest'
import { RecordBatch } from '../../src/audit/record-batch.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-record-batch-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let count = 0

async function openDb (): Promise<Level<string, string>> {
  const db = new Level<string, string>(join(root, `db-${++count}`), { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await db.open()
  return db
}

async function entries (db: Level<string, string>): Promise<Array<[string, string]>> {
  return await db.iterator().all()
}

it('writes each batch once: one native batch, emptied after every write, reused for the next', async () => {
  const db = await openDb()
  const batch = new RecordBatch(db)
  batch.put('r!1', 'one')
  batch.put('x!u!alice!1', '')
  await batch.write(false)
  expect(await entries(db)).toEqual([['r!1', 'one'], ['x!u!alice!1', '']])

  // The second write holds only what was put after the first: the first batch's puts are not written again.
  await db.del('r!1')
  batch.put('r!2', 'two')
  await batch.write(true)
  expect(await entries(db)).toEqual([['r!2', 'two'], ['x!u!alice!1', '']])

  // A write with nothing put writes nothing.
  await db.del('r!2')
  await batch.write(false)
  expect(await entries(db)).toEqual([['x!u!alice!1', '']])
  await db.close()
})

it('drops what was put for a batch that is not written', async () => {
  const db = await openDb()
  const batch = new RecordBatch(db)
  batch.put('r!1', 'abandoned')
  batch.discard()
  batch.put('r!2', 'kept')
  await batch.write(false)
  expect(await entries(db)).toEqual([['r!2', 'kept']])
  await db.close()
})

it('refuses a put while its write is in flight, and a write once the database is closed', async () => {
  const db = await openDb()
  const batch = new RecordBatch(db)
  batch.put('r!1', 'one')
  const writing = batch.write(false)
  expect(() => batch.put('r!2', 'two')).toThrow(/in flight/)
  await writing
  batch.put('r!3', 'three')
  await db.close()
  await expect(batch.write(false)).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' })
  // What was put for the refused write is gone with it.
  const reopened = new Level<string, string>(db.location, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
  await reopened.open()
  expect(await entries(reopened)).toEqual([['r!1', 'one']])
  await reopened.close()
})
