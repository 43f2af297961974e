// The fleet shipper never overwrites, skips or papers over: against a real PostgreSQL, a local chain that no longer
// continues what the database holds (rewritten, restored from an older copy, written by a second machine with a
// copy of the keys) raises an alarm (a central row, a local `fleet.alarm` record, `status`) and ships nothing more,
// and the database keeps what it had. A store whose oldest records expired before it joined ships from its first.
import path from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { type FleetTarget } from '../../src/fleet/connection.js'
import { connectFleet } from '../../src/fleet/connection.js'
import { verifyFleet } from '../../src/fleet/central.js'
import { ensureHostId, type HostIdentity } from '../../src/fleet/host-identity.js'
import { FleetShipper } from '../../src/fleet/shipper.js'
import { type Postgres } from '../helpers/postgres.js'
import { useMigratedFleet } from '../helpers/migrated-fleet.js'
import { waitUntil } from '../helpers/wait.js'
import { MemoryChain } from '../fakes/ship-source.js'

let root: string
let pg: Postgres
let target: FleetTarget
const logger = pino({ level: 'silent' })

useMigratedFleet('portcullis-fleet-alarms-', (fleet) => ({ root, pg, target } = fleet))

let hosts = 0
/** A fresh host identity: its own host ID and audit key. */
function newIdentity (): HostIdentity {
  const dir = path.join(root, `keys-${++hosts}`)
  const key = ensureAuditKey(dir).key // makes the directory
  return { hostId: ensureHostId(dir).hostId, name: `host-${hosts}`, key }
}

function ship (identity: HostIdentity, chain: MemoryChain): FleetShipper {
  const shipper = new FleetShipper({ target, identity, source: chain, logger, version: 'test', policyDigest: () => 'digest', heartbeatMs: 200 })
  shipper.start()
  return shipper
}

async function centralBodies (hostId: string): Promise<string[]> {
  return (await pg.sql(`SELECT body FROM portcullis.records WHERE host_id = '${hostId}' ORDER BY seq`)).split('\n').filter((l) => l !== '')
}

async function shipAll (identity: HostIdentity, chain: MemoryChain): Promise<void> {
  const shipper = ship(identity, chain)
  await waitUntil('the chain shipped', () => shipper.status().shippedSeq === chain.head().seq && shipper.status().lag === 0)
  await shipper.stop()
}

describe('fleet shipping alarms', () => {
  it('a rewritten local chain (another hash after a shipped seq) is a fork: alarm, nothing more shipped', { timeout: 60_000 }, async () => {
    const identity = newIdentity()
    const original = new MemoryChain()
    await original.add(20)
    await shipAll(identity, original)
    const shipped = await centralBodies(identity.hostId)

    const rewritten = new MemoryChain()
    await rewritten.add(30, 'mallory')
    const shipper = ship(identity, rewritten)
    await waitUntil('the fork alarm', () => shipper.status().state === 'halted')
    const status = shipper.status()
    expect(status.halted).toMatchObject({ kind: 'fork', seq: 20 })
    expect(status.lag).toBeGreaterThan(0)
    await shipper.stop()
    expect(await centralBodies(identity.hostId)).toEqual(shipped)
    expect(await pg.sql(`SELECT kind || ':' || seq FROM portcullis.alarms WHERE host_id = '${identity.hostId}'`)).toContain('fork:20')
    expect(rewritten.rows.map((r) => r.record)).toContainEqual(expect.objectContaining({ action: 'fleet.alarm', code: 'PORTCULLIS_FLEET_ALARM', fields: { alarm: 'fork', seq: 20 } }))
    // The database's chain itself still holds; the alarm makes the host fail verification.
    const [verdict] = await verifyFleetHost(identity.hostId)
    expect(verdict).toMatchObject({ firstBad: null, badCheckpoints: [], ok: false })
    expect(verdict!.alarms.map((a) => a.kind)).toEqual(['fork'])
  })

  it('a local store behind the database (restored from an older copy) is an alarm, not a restart of the chain', { timeout: 60_000 }, async () => {
    const identity = newIdentity()
    const chain = new MemoryChain()
    await chain.add(15)
    await shipAll(identity, chain)
    const restored = new MemoryChain()
    for (const row of chain.rows.slice(0, 8)) restored.rows.push(row)
    const shipper = ship(identity, restored)
    await waitUntil('the behind alarm', () => shipper.status().state === 'halted')
    expect(shipper.status().halted).toMatchObject({ kind: 'behind', seq: 15 })
    await shipper.stop()
    expect((await centralBodies(identity.hostId)).length).toBe(15)
  })

  it('another hash for a seq the database already holds is a conflict: never overwritten', { timeout: 60_000 }, async () => {
    const identity = newIdentity()
    // The second machine (a copy of the keys) connects while the database holds nothing for the host...
    const clone = new MemoryChain()
    const cloneShipper = ship(identity, clone)
    await waitUntil('the clone connected', () => cloneShipper.status().state === 'shipping')
    // ...then the first ships its records 1 to 10, and the clone appends its own.
    const first = new MemoryChain()
    await first.add(10)
    await shipAll(identity, first)
    await clone.add(10, 'mallory')
    await waitUntil('the conflict alarm', () => cloneShipper.status().state === 'halted')
    expect(cloneShipper.status().halted).toMatchObject({ kind: 'conflict', seq: 1 })
    await cloneShipper.stop()
    expect(await centralBodies(identity.hostId)).toEqual(first.rows.map((r) => r.text))
  })

  it('another key for a registered host ID is an alarm: nothing is shipped under it', { timeout: 60_000 }, async () => {
    const identity = newIdentity()
    const chain = new MemoryChain()
    await chain.add(3)
    await shipAll(identity, chain)
    const impostor = { ...identity, key: ensureAuditKey(path.join(root, 'other-key')).key }
    const more = new MemoryChain()
    for (const row of chain.rows) more.rows.push(row)
    await more.add(5)
    const shipper = ship(impostor, more)
    await waitUntil('the host-key alarm', () => shipper.status().state === 'halted')
    expect(shipper.status().halted).toMatchObject({ kind: 'host-key' })
    await shipper.stop()
    expect((await centralBodies(identity.hostId)).length).toBe(3)
  })

  it('a store whose oldest records expired before it joined ships from its first record, and verifies from there', { timeout: 60_000 }, async () => {
    const identity = newIdentity()
    const chain = new MemoryChain(50, 'ab'.repeat(32))
    await chain.add(12)
    await shipAll(identity, chain)
    const seqs = (await pg.sql(`SELECT seq FROM portcullis.records WHERE host_id = '${identity.hostId}' ORDER BY seq`)).split('\n').filter((l) => l !== '').map(Number)
    expect(seqs).toEqual(Array.from({ length: 12 }, (_, i) => 50 + i))
    expect(chain.shipped).toBe(61)
    const [verdict] = await verifyFleetHost(identity.hostId)
    expect(verdict).toMatchObject({ ok: true, fromSeq: 50, toSeq: 61, records: 12 })
  })
})

async function verifyFleetHost (hostId: string): ReturnType<typeof verifyFleet> {
  const client = await connectFleet(target)
  try {
    return await verifyFleet(client, { hostId })
  } finally {
    await client.end()
  }
}
