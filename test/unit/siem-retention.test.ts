// Retention never removes a record a SIEM output (src/siem) has not yet delivered: the output's delivered mark holds
// it back as the fleet's shipped mark does, unless the expiry is forced; an output no longer configured gives its
// mark up.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { AuditRecord } from '../../src/audit/record.js'
import { expireRecords, type ExpireOptions } from '../../src/audit/retention.js'
import { outputSource } from '../../src/audit/ship-source.js'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { AuditStore } from '../../src/audit/store.js'
import { formatExpiry } from '../../src/cli/audit-checkpoints.js'
import { RecordOutput } from '../../src/siem/record-output.js'
import type { RecordSink } from '../../src/siem/record-sink.js'
import { pino } from 'pino'

const root = mkdtempSync(join(tmpdir(), 'portcullis-siem-retention-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const { key } = ensureAuditKey(join(root, 'keys'))
const DAY = 86_400_000
const expire = (store: AuditStore, options: Partial<ExpireOptions> = {}): ReturnType<typeof expireRecords> =>
  expireRecords(store, { retentionMs: DAY, key, now: new Date(Date.now() + 2 * DAY), ...options })

async function fillTo (store: AuditStore, to: number): Promise<void> {
  const pending: Array<Promise<AuditRecord>> = []
  for (let seq = store.head().seq + 1; seq <= to; seq++) pending.push(store.append({ kind: 'decision', user: 'alice', action: 'container.start', project: 'web', decision: 'allow', reason: `call ${seq}` }))
  await Promise.all(pending)
}

/** A store of `records` records, all of them in a bundle, and its output source. */
async function bundledStore (name: string, records: number): Promise<{ store: AuditStore, source: ReturnType<typeof outputSource> }> {
  const store = await AuditStore.open(join(root, name))
  await fillTo(store, records)
  await store.markBundled(records)
  return { store, source: outputSource(store) }
}

describe('expiry with a SIEM output', { timeout: 60_000 }, () => {
  it('keeps what the output has not delivered, bundled or not; removes what it delivered; forced, removes it anyway', async () => {
    const { store, source } = await bundledStore('store', 21_000)
    await source.markDelivered('files', 5_000)
    const held = await expire(store)
    expect(held).toMatchObject({ removed: null, held: { fromSeq: 1, toSeq: 20_000 }, deliveredSeq: 5_000 })
    expect(formatExpiry({ ...held, retention: '1d' })).toContain('a SIEM output (policy outputs) has not written them yet (delivered up to seq 5000)')

    await source.markDelivered('files', 12_000)
    expect(await expire(store)).toMatchObject({ removed: { fromSeq: 1, toSeq: 10_000 }, held: { fromSeq: 10_001, toSeq: 20_000 } })
    expect(await expire(store, { force: true })).toMatchObject({ removed: { fromSeq: 10_001, toSeq: 20_000 } })
    await store.close()
  })

  it('an output that gives its mark up (no longer configured) holds nothing back', async () => {
    const { store, source } = await bundledStore('forgotten', 11_000)
    await source.markDelivered('files', 10)
    expect(await expire(store, { dryRun: true })).toMatchObject({ removed: null, held: { fromSeq: 1, toSeq: 10_000 } })
    await source.forget('files')
    expect(await source.delivered('files')).toBeNull()
    expect(await expire(store, { dryRun: true })).toMatchObject({ removed: { fromSeq: 1, toSeq: 10_000 }, held: null, deliveredSeq: null })
    await store.close()
  })

  it('the syslog output\'s cursor holds records back beside the files\' mark: the lower of the two counts', async () => {
    const { store, source } = await bundledStore('syslog', 11_000)
    await source.markDelivered('files', 11_000)
    await source.markDelivered('syslog', 10)
    expect(await expire(store, { dryRun: true })).toMatchObject({ removed: null, held: { fromSeq: 1, toSeq: 10_000 }, deliveredSeq: 10 })
    await source.markDelivered('syslog', 11_000)
    expect(await expire(store, { dryRun: true })).toMatchObject({ removed: { fromSeq: 1, toSeq: 10_000 }, held: null })
    await store.close()
  })

  it('an output whose receiver never took a record holds every record from its first start on', async () => {
    const { store, source } = await bundledStore('never-delivered', 11_000)
    const unreachable: RecordSink = {
      name: 'syslog',
      deliveredSeq: 0,
      open: async () => ({ seq: 0, hash: null }),
      write: async () => { throw new Error('connect ECONNREFUSED 127.0.0.1:5514') },
      tick: async () => {},
      abandon: async () => {},
      close: async () => {},
      status: () => ({})
    }
    const output = new RecordOutput({ sink: unreachable, source, logger: pino({ level: 'silent' }) })
    await output.start()
    expect(await expire(store, { dryRun: true })).toMatchObject({ removed: null, held: { fromSeq: 1, toSeq: 10_000 }, deliveredSeq: 0 })
    await output.stop(0)
    await store.close()
  })
})
