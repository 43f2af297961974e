// Issue 14, high availability, for session recordings: a host given both servers of a failover pair (libpq's
// multi-host form with target_session_attrs=read-write) ships a running session's recording to the primary, keeps
// recording while the primary is gone, and once the standby is promoted resumes each recording from where the new
// primary's pieces end: afterwards the new primary holds the whole file, no gap, no duplicate, and fleet verify passes.
import { mkdtempSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { recordingPath } from '../../src/audit/recordings.js'
import { recordingShipSource, shipSource } from '../../src/audit/ship-source.js'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { AuditStore } from '../../src/audit/store.js'
import { verifyFleet } from '../../src/fleet/central.js'
import { connectFleet, fleetTarget } from '../../src/fleet/connection.js'
import { ensureHostId } from '../../src/fleet/host-identity.js'
import { migrateFleetSchema } from '../../src/fleet/migrate.js'
import { RecordingShipper } from '../../src/fleet/recording-shipper.js'
import { FleetShipper } from '../../src/fleet/shipper.js'
import { removeDirSync } from '../helpers/index.js'
import { startPostgres, startStandby, type Postgres } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let primary: Postgres
let standby: Postgres
const logger = pino({ level: 'silent' })
const SESSION = 's-00000000000fa170'

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'portcullis-fleet-rec-ha-'))
  primary = await startPostgres(path.join(root, 'primary'))
  const target = fleetTarget(primary.adminUrl)
  const client = await connectFleet(target)
  await migrateFleetSchema(client, target)
  await client.end()
  standby = await startStandby(primary, path.join(root, 'standby'))
}, 120_000)

afterAll(async () => {
  await standby?.stop()
  await primary?.stop()
  if (root !== undefined) removeDirSync(root)
}, 60_000)

async function held (pg: Postgres): Promise<Array<{ offset: number, hex: string }>> {
  const out = await pg.sql(`SELECT byte_offset || ' ' || encode(bytes, 'hex') FROM portcullis.recording_chunks WHERE session_id = '${SESSION}' ORDER BY byte_offset`)
  return out.split('\n').filter((l) => l !== '').map((l) => { const [offset, hex] = l.split(' '); return { offset: Number(offset), hex: hex! } })
}

it('a running session\'s recording follows the promoted standby and resumes from its pieces\' end: no gap, no duplicate', { timeout: 240_000 }, async () => {
  const pair = `postgresql://postgres@/portcullis?host=${encodeURIComponent(primary.socketDir)},${encodeURIComponent(standby.socketDir)}&port=${primary.port},${standby.port}&target_session_attrs=read-write`
  const target = fleetTarget(pair)
  const keys = path.join(root, 'keys')
  const key = ensureAuditKey(keys).key // makes the directory ensureHostId writes into
  const identity = { hostId: ensureHostId(keys).hostId, name: 'web-1', key }
  const store = await AuditStore.open(path.join(root, 'store'))
  const records = new FleetShipper({ target, identity, source: shipSource(store), logger, version: 'test', policyDigest: () => 'digest', heartbeatMs: 200 })
  const recordings = new RecordingShipper({ target, identity, source: recordingShipSource(store), logger, chunkBytes: 4096, batchBytes: 16_384, intervalMs: 50 })
  records.start()
  recordings.start()
  try {
    const start = await store.append({ kind: 'session', user: 'alice', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session: SESSION } })
    const sink = await store.openRecording(SESSION, start.seq, { version: 2, width: 80, height: 24 }, { flushIntervalMs: 10 })
    sink.output(Buffer.alloc(30_000, 'a'))
    await sink.flush()
    const before = sink.summary().bytes
    await waitUntil('part of it on the primary', async () => (await held(primary)).reduce((n, p) => n + p.hex.length / 2, 0) >= before)
    // Replayed to the standby before the primary goes (a synchronous standby would hold it already).
    await waitUntil('the standby caught up', async () => (await held(standby)).length === (await held(primary)).length)

    await primary.stop()
    sink.output(Buffer.alloc(30_000, 'b'))
    await sink.flush()
    await waitUntil('the outage to show', () => recordings.status().state === 'unreachable', { timeoutMs: 30_000 })
    await standby.promote()
    sink.output(Buffer.alloc(30_000, 'c'))
    const recording = await sink.finish()
    await store.append({ kind: 'session', user: 'alice', action: 'session.end', project: 'shop', resource: 'web-1', fields: { session: SESSION, startSeq: start.seq, recording } })
    await sink.release()

    const file = readFileSync(recordingPath(store.dir, SESSION))
    await waitUntil('the whole recording on the new primary', async () => Buffer.concat((await held(standby)).map((p) => Buffer.from(p.hex, 'hex'))).equals(file), { timeoutMs: 60_000 })
    let end = 0
    for (const piece of await held(standby)) {
      expect(piece.offset).toBe(end)
      end += piece.hex.length / 2
    }
    await waitUntil('the records on the new primary', () => records.status().lag === 0 && records.status().state === 'shipping', { timeoutMs: 60_000 })
    const client = await connectFleet(fleetTarget(standby.adminUrl))
    try {
      expect((await verifyFleet(client))[0]).toMatchObject({ ok: true, recordings: 1, badRecordings: [] })
    } finally {
      await client.end()
    }
  } finally {
    await Promise.all([records.stop(0), recordings.stop(0)])
    await store.close()
  }
})
