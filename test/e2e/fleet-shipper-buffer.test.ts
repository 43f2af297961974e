// The fleet shipper takes the records the store hands over as they become durable instead of reading them back, and
// reads the store only for a backlog (its start, after an overflow of its bounded buffer). Against a real store and
// a real PostgreSQL: what is handed over is byte for byte what the store holds, records made before the shipper
// started, while it read its backlog and past the buffer's cap each reach the database once, and an expiry holding
// the store's queue does not hold shipping up (the shipped mark is written when the queue frees).
import path from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { readShippedSeq } from '../../src/audit/bundled.js'
import { bodyTextOf, chainHash, withHash } from '../../src/audit/chain.js'
import { parseRecord } from '../../src/audit/record.js'
import type { StoredRecord } from '../../src/audit/query.js'
import { shipSource, type ShipSource } from '../../src/audit/ship-source.js'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { AuditStore, auditDatabase } from '../../src/audit/store.js'
import { connectFleet, type FleetTarget } from '../../src/fleet/connection.js'
import { ensureHostId, type HostIdentity } from '../../src/fleet/host-identity.js'
import { FleetShipper } from '../../src/fleet/shipper.js'
import { useMigratedFleet } from '../helpers/migrated-fleet.js'
import { waitUntil } from '../helpers/wait.js'
import { MemoryChain } from '../fakes/ship-source.js'

let root: string
let target: FleetTarget
const logger = pino({ level: 'silent' })

useMigratedFleet('portcullis-fleet-buffer-', (fleet) => ({ root, target } = fleet))

let hosts = 0
function newHost (): { identity: HostIdentity, data: string } {
  const n = ++hosts
  const keys = path.join(root, `keys-${n}`)
  const key = ensureAuditKey(keys).key
  return { identity: { hostId: ensureHostId(keys).hostId, name: `host-${n}`, key }, data: path.join(root, `data-${n}`) }
}

/** The store's ship source, counting the reads back from the store. */
function counted (store: AuditStore): ShipSource & { reads: number } {
  const source = shipSource(store)
  const result = {
    ...source,
    reads: 0,
    queryStored: (filter: { fromSeq: number, toSeq: number }) => {
      result.reads++
      return source.queryStored(filter)
    }
  }
  return result
}

let made = 0
/** `n` decision records at once, with the optional fields some records carry. */
async function decisions (store: AuditStore, n: number): Promise<void> {
  await Promise.all(Array.from({ length: n }, async () => {
    const i = ++made
    await store.append({ kind: 'decision', user: i % 3 === 0 ? undefined : 'alice', action: 'container.list', project: i % 2 === 0 ? 'shop' : undefined, decision: 'allow', uri: `/v1.41/containers/json?n=${i}`, fields: i % 4 === 0 ? { note: `ü ${i} "quoted"` } : undefined })
  }))
}

async function localRows (store: AuditStore): Promise<Array<[number, string, string, string]>> {
  const rows: Array<[number, string, string, string]> = []
  for await (const { record, text } of store.queryStored({ fromSeq: 1, toSeq: store.head().seq })) rows.push([record.seq, record.hash, record.prevHash, text])
  return rows
}

async function centralRows (hostId: string): Promise<Array<[number, string, string, string]>> {
  const client = await connectFleet(target)
  try {
    const { rows } = await client.query<{ seq: string, hash: string, prev_hash: string, body: string }>('SELECT seq, hash, prev_hash, body FROM portcullis.records WHERE host_id = $1 ORDER BY seq', [hostId])
    return rows.map((r) => [Number(r.seq), r.hash, r.prev_hash, r.body])
  } finally {
    await client.end()
  }
}

describe('the shipper ships what the store hands over', () => {
  it('a record handed over as it becomes durable is exactly what the store reads back', async () => {
    const store = await AuditStore.open(newHost().data)
    const handed: StoredRecord[] = []
    const unsubscribe = shipSource(store).subscribe((row) => handed.push(row))
    await decisions(store, 40)
    unsubscribe()
    const stored: StoredRecord[] = []
    for await (const row of store.queryStored({ fromSeq: 1, toSeq: store.head().seq })) stored.push(row)
    await store.close()
    expect(handed.map((r) => r.text)).toEqual(stored.map((r) => r.text))
    expect(handed.map((r) => r.record)).toEqual(stored.map((r) => r.record))
  })

  it('records made before it started, while it read its backlog and past its buffer\'s cap reach the database once each', { timeout: 60_000 }, async () => {
    const { identity, data } = newHost()
    const store = await AuditStore.open(data)
    await decisions(store, 30)
    const source = counted(store)
    const shipper = new FleetShipper({ target, identity, source, logger, version: 'test', policyDigest: () => 'digest', batchSize: 7, bufferRecords: 25 })
    shipper.start()
    // Appends go on while the shipper connects and reads its backlog in batches of 7.
    for (let i = 0; i < 40; i++) await decisions(store, 5)
    await waitUntil('the backlog shipped', () => shipper.status().shippedSeq === store.head().seq, { timeoutMs: 30_000 })

    // Caught up: new records go from the buffer, without a read of the store.
    const reads = source.reads
    for (let i = 0; i < 10; i++) {
      await decisions(store, 3)
      await waitUntil('the records shipped', () => shipper.status().shippedSeq === store.head().seq, { timeoutMs: 10_000 })
    }
    expect(source.reads).toBe(reads)

    // More at once than the buffer holds: it is dropped, and the store is read up to what it still holds.
    await decisions(store, 100)
    await waitUntil('the burst shipped', () => shipper.status().shippedSeq === store.head().seq, { timeoutMs: 30_000 })
    expect(source.reads).toBeGreaterThan(reads)

    await shipper.stop()
    const local = await localRows(store)
    await store.close()
    expect(local.length).toBeGreaterThan(330)
    expect(await centralRows(identity.hostId)).toEqual(local)
  })

  it('an expiry holding the store\'s queue does not hold shipping up; the shipped mark follows when it ends', { timeout: 60_000 }, async () => {
    const { identity, data } = newHost()
    const store = await AuditStore.open(data)
    const shipper = new FleetShipper({ target, identity, source: shipSource(store), logger, version: 'test', policyDigest: () => 'digest', batchSize: 10 })
    shipper.start()
    await decisions(store, 5)
    await waitUntil('the first records shipped', () => shipper.status().shippedSeq === store.head().seq, { timeoutMs: 10_000 })
    await waitUntil('their mark written', async () => await readShippedSeq(auditDatabase(store)) === store.head().seq, { timeoutMs: 10_000 })

    let release!: () => void
    const held = store.exclusive(async () => await new Promise<void>((resolve) => { release = resolve }))
    for (let i = 0; i < 5; i++) await decisions(store, 10)
    await waitUntil('records shipped while the queue is held', () => shipper.status().shippedSeq === store.head().seq, { timeoutMs: 10_000 })
    expect(await readShippedSeq(auditDatabase(store))).toBe(5)

    release()
    await held
    await waitUntil('the mark written once the queue is free', async () => await readShippedSeq(auditDatabase(store)) === store.head().seq, { timeoutMs: 10_000 })
    await shipper.stop()
    await store.close()
  })
})

describe('the stored text reaches the database unchanged', () => {
  it('a record whose stored text holds a line break (valid JSON, sealed) is shipped as it is, and so are the records around it', { timeout: 60_000 }, async () => {
    const { identity } = newHost()
    const chain = new MemoryChain()
    await chain.add(3)
    // Record 4 written with a line break between its fields, sealed over that text, as a hand-edited store could hold.
    const prev = chain.head().hash
    await chain.add(1)
    const body = bodyTextOf(chain.rows[3]!.text)!.replace(',"time"', ',\n"time"')
    const text = withHash(body, chainHash(prev, body))
    chain.rows[3] = { record: parseRecord(text)!, text }
    await chain.add(3)
    const shipper = new FleetShipper({ target, identity, source: chain, logger, version: 'test', policyDigest: () => 'digest' })
    shipper.start()
    await waitUntil('the chain shipped', () => shipper.status().shippedSeq === chain.head().seq)
    await shipper.stop()
    expect(shipper.status().halted).toBeNull()
    expect((await centralRows(identity.hostId)).map((r) => r[3])).toEqual(chain.rows.map((r) => r.text))
  })
})
