// The record output on a real store and real files: records the store no longer holds when the output reaches them
// (a forced expiry) are a gap it records and goes on after, and files that do not match the store (another store's,
// or a store restored from an older copy) halt it with an alarm in the chain rather than fork the SIEM's copy.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import type { AuditRecord } from '../../src/audit/record.js'
import { expireRecords } from '../../src/audit/retention.js'
import { outputSource } from '../../src/audit/ship-source.js'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { AuditStore } from '../../src/audit/store.js'
import { compileOutputs } from '../../src/policy/outputs.js'
import { RecordOutput } from '../../src/siem/record-output.js'
import { SealedFileSink } from '../../src/siem/sealed-files.js'
import { verifySealedFiles } from '../../src/siem/verify-files.js'
import { waitUntil } from '../helpers/wait.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-siem-output-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const logger = pino({ level: 'silent' })
const { key } = ensureAuditKey(join(root, 'keys'))

async function fillTo (store: AuditStore, to: number): Promise<void> {
  const pending: Array<Promise<AuditRecord>> = []
  for (let seq = store.head().seq + 1; seq <= to; seq++) pending.push(store.append({ kind: 'decision', user: 'alice', action: 'container.start', project: 'web', decision: 'allow', reason: `call ${seq}` }))
  await Promise.all(pending)
}

/** Runs an output on `store` writing sealed files to `dir` until it has written the head, then stops it. */
async function runOutput (store: AuditStore, dir: string): Promise<RecordOutput> {
  const output = new RecordOutput({ sink: new SealedFileSink(compileOutputs({ files: { dir, maxAge: '1h' } }).files!, logger), source: outputSource(store), logger })
  await output.start()
  await waitUntil('the output to write the head', () => output.status().lag === 0 || output.status().state === 'halted')
  return output
}

async function actions (store: AuditStore): Promise<AuditRecord[]> {
  const found: AuditRecord[] = []
  for await (const record of store.query({ action: 'output.*' })) found.push(record)
  return found
}

describe('the record output', { timeout: 60_000 }, () => {
  it('records a gap when the store removed records before it took them (a forced expiry), and goes on after it', async () => {
    const dir = join(root, 'gap-files')
    const store = await AuditStore.open(join(root, 'gap'))
    await fillTo(store, 10)
    await (await runOutput(store, dir)).stop()
    await fillTo(store, 21_000)
    await expireRecords(store, { retentionMs: 86_400_000, key, now: new Date(Date.now() + 2 * 86_400_000), force: true })
    const output = await runOutput(store, dir)
    await output.stop()
    expect(output.status().gaps).toEqual([{ fromSeq: 11, toSeq: 20_000 }])
    expect(await actions(store)).toMatchObject([{ action: 'output.gap', fields: { output: 'files', fromSeq: 11, toSeq: 20_000 } }])
    const report = await verifySealedFiles(dir, async (seq) => {
      for await (const record of store.query({ fromSeq: seq, toSeq: seq })) return record.hash
      return null
    })
    expect(report.ok).toBe(false)
    expect(report.problems[0]!.detail).toBe(`records 11 to 20000 are in no file (after ${readdirSync(dir).sort()[0]}): a file was removed, or a forced expiry removed them before they were written (then an output.gap record says so)`)
    await store.close()
  })

  it('halts with an alarm in the chain when its files hold other records than the store (another store\'s)', async () => {
    const dir = join(root, 'fork-files')
    const first = await AuditStore.open(join(root, 'first'))
    await fillTo(first, 20)
    await (await runOutput(first, dir)).stop()
    await first.close()
    const other = await AuditStore.open(join(root, 'other'))
    await fillTo(other, 30)
    const output = await runOutput(other, dir)
    expect(output.status()).toMatchObject({ state: 'halted', writtenSeq: 20 })
    expect(output.status().halted?.detail).toContain('record 20 in the output')
    await output.stop()
    expect(await actions(other)).toMatchObject([{ action: 'output.alarm', code: 'PORTCULLIS_OUTPUT_ALARM' }])
    // Nothing of the other store went into the files.
    expect(readdirSync(dir).sort()).toEqual(['portcullis-00000000000000000001-00000000000000000020.jsonl'])
    await other.close()
  })
})
