// What a security review found in recording shipping, each as a rule against a real PostgreSQL and a real audit
// store: a recording being opened is never taken for a closed one; a recording is marked shipped (and left alone)
// only when its durable session.end vouches for exactly the bytes the database holds.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { signCheckpointNow } from '../../src/audit/checkpoints.js'
import { recordingShipSource, shipSource } from '../../src/audit/ship-source.js'
import { recordingPath } from '../../src/audit/recordings.js'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { AuditStore, auditDatabase } from '../../src/audit/store.js'
import { writeFleetBundle } from '../../src/fleet/bundle.js'
import { fleetStatus, verifyFleet } from '../../src/fleet/central.js'
import { connectFleet, type FleetTarget } from '../../src/fleet/connection.js'
import { ensureHostId, type HostIdentity } from '../../src/fleet/host-identity.js'
import { RecordingShipper } from '../../src/fleet/recording-shipper.js'
import { FleetShipper } from '../../src/fleet/shipper.js'
import { runPortcullisCli } from '../helpers/index.js'
import { type Postgres } from '../helpers/postgres.js'
import { useMigratedFleet } from '../helpers/migrated-fleet.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let pg: Postgres
let target: FleetTarget
const logger = pino({ level: 'silent' })

useMigratedFleet('portcullis-fleet-recordings-review-', (fleet) => ({ root, pg, target } = fleet))

let hosts = 0
function newIdentity (): HostIdentity {
  const keysDir = path.join(root, `keys-${++hosts}`)
  const key = ensureAuditKey(keysDir).key
  return { hostId: ensureHostId(keysDir).hostId, name: `host-${hosts}`, key }
}

let sessions = 0
const nextSession = (): string => `s-${(0xbee000 + ++sessions).toString(16).padStart(16, '0')}`
const header = { version: 2, width: 80, height: 24 } as const

/** A host that shipped one session with its recording and a checkpoint over it all; stopped again. */
async function shippedHost (): Promise<{ identity: HostIdentity, session: string, bytes: number }> {
  const identity = newIdentity()
  const store = await AuditStore.open(path.join(root, `store-${hosts}`))
  const records = new FleetShipper({ target, identity, source: shipSource(store), logger, version: 'test', policyDigest: () => 'digest', heartbeatMs: 200 })
  const recordings = new RecordingShipper({ target, identity, source: recordingShipSource(store), logger, chunkBytes: 1024, intervalMs: 20 })
  records.start()
  recordings.start()
  const session = nextSession()
  const start = await store.append({ kind: 'session', user: 'alice', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session } })
  const sink = await store.openRecording(session, start.seq, header, { flushIntervalMs: 10 })
  sink.output(Buffer.alloc(3_000, 0x63))
  const recording = await sink.finish()
  await store.append({ kind: 'session', user: 'alice', action: 'session.end', project: 'shop', resource: 'web-1', fields: { session, startSeq: start.seq, recording } })
  await sink.release()
  await signCheckpointNow(auditDatabase(store), identity.key, { seq: store.head().seq })
  await store.append({ kind: 'system', action: 'test.mark', reason: 'after the checkpoint' })
  await waitUntil('shipped', async () => records.status().lag === 0 && await heldBytes(identity.hostId, session) === recording.bytes &&
    (await pg.sql(`SELECT count(*) FROM portcullis.checkpoints WHERE host_id = '${identity.hostId}'`)).trim() !== '0')
  await Promise.all([records.stop(), recordings.stop()])
  await store.close()
  return { identity, session, bytes: recording.bytes }
}

async function heldBytes (hostId: string, session: string): Promise<number> {
  return Number((await pg.sql(`SELECT coalesce(sum(length(bytes)), 0) FROM portcullis.recording_chunks WHERE host_id = '${hostId}' AND session_id = '${session}'`)).trim())
}

describe('recording shipping after the security review', () => {
  it('a recording being opened (its file made, its sink not yet in place) is open to the shipper, never closed', { timeout: 30_000 }, async () => {
    const store = await AuditStore.open(path.join(root, `store-${++hosts}`))
    const source = recordingShipSource(store)
    for (let round = 0; round < 5; round++) {
      const session = nextSession()
      const start = await store.append({ kind: 'session', user: 'alice', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session } })
      let opened = false
      const opening = store.openRecording(session, start.seq, header).then((sink) => { opened = true; return sink })
      const seen: Array<{ bytes: number, open: boolean } | null> = []
      // Look at it as the shipper does, from the moment its file appears until its sink is in place.
      while (!opened) {
        if (existsSync(recordingPath(store.dir, session))) seen.push(await source.progress(session))
        await tick()
      }
      expect(seen.filter((p) => p !== null && !p.open)).toEqual([])
      const sink = await opening
      expect(await source.progress(session)).toMatchObject({ open: true })
      // Finished, its session.end not yet durable: its marker keeps it open.
      const recording = await sink.finish()
      expect(await source.progress(session)).toEqual({ bytes: recording.bytes, open: true })
      await store.append({ kind: 'session', user: 'alice', action: 'session.end', project: 'shop', resource: 'web-1', fields: { session, startSeq: start.seq, recording } })
      await sink.release()
      expect(await source.progress(session)).toEqual({ bytes: recording.bytes, open: false })
    }
    await store.close()
  })

  it('a closed recording is marked shipped only once its durable session.end vouches for exactly the bytes the database holds', { timeout: 30_000 }, async () => {
    const identity = newIdentity()
    const store = await AuditStore.open(path.join(root, `store-${hosts}`))
    const source = recordingShipSource(store)
    const shipper = new RecordingShipper({ target, identity, source, logger, chunkBytes: 4096, batchBytes: 16_384, intervalMs: 20 })
    shipper.start()
    try {
      const session = nextSession()
      const start = await store.append({ kind: 'session', user: 'alice', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session } })
      const sink = await store.openRecording(session, start.seq, header, { flushIntervalMs: 10 })
      sink.output(Buffer.alloc(10_000, 0x61))
      const recording = await sink.finish()
      // Its marker gone with no session.end (as if the end record were still on its way): no sink, no marker.
      await sink.release()
      await waitUntil('the file in the database', async () => await heldBytes(identity.hostId, session) === recording.bytes)
      // Time itself is under test: several passes of the shipper must leave it unmarked.
      await sleep(300)
      expect(await source.shipped(session)).toBe(null)
      await store.append({ kind: 'session', user: 'alice', action: 'session.end', project: 'shop', resource: 'web-1', fields: { session, startSeq: start.seq, recording: { ...recording, bytes: recording.bytes + 1 } } })
      await sleep(300)
      expect(await source.shipped(session)).toBe(null)

      // A session.end that vouches for exactly what is held marks it.
      const other = nextSession()
      const otherStart = await store.append({ kind: 'session', user: 'alice', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session: other } })
      const otherSink = await store.openRecording(other, otherStart.seq, header, { flushIntervalMs: 10 })
      otherSink.output(Buffer.alloc(5_000, 0x62))
      const otherRecording = await otherSink.finish()
      await store.append({ kind: 'session', user: 'alice', action: 'session.end', project: 'shop', resource: 'web-1', fields: { session: other, startSeq: otherStart.seq, recording: otherRecording } })
      await otherSink.release()
      await waitUntil('the recording marked shipped', async () => await source.shipped(other) === otherRecording.bytes)
      expect(await source.shipped(session)).toBe(null)
    } finally {
      await shipper.stop()
      await store.close()
    }
  })

  it('one host\'s malformed session.end row breaks neither fleet status nor fleet bundle for the other hosts: the bundle names that host and row', { timeout: 60_000 }, async () => {
    const good = await shippedHost()
    const bad = await shippedHost()
    // A row of the bad host made a session.end whose body is not JSON (a host login can ship any body).
    const seq = Number((await pg.sql(`SELECT min(seq) FROM portcullis.records WHERE host_id = '${bad.identity.hostId}'`)).trim())
    await pg.sql(`UPDATE portcullis.records SET kind = 'session', action = 'session.end', body = '{"fields": {"recording": {"bytes": "lots"' WHERE host_id = '${bad.identity.hostId}' AND seq = ${seq}`)
    const client = await connectFleet(target)
    try {
      const status = await fleetStatus(client)
      expect(status.find((h) => h.hostId === good.identity.hostId)).toMatchObject({ recordingBytes: good.bytes, recordingMissing: 0 })
      expect(status.find((h) => h.hostId === bad.identity.hostId)).toMatchObject({ recordingBytes: bad.bytes, recordingMissing: 0 })

      const manifest = await writeFleetBundle(client, path.join(root, 'bundle-good'), target.url, { since: new Date(0), hosts: [good.identity.hostId], generator: 'test' })
      expect(manifest.hosts).toMatchObject([{ hostId: good.identity.hostId, dir: `hosts/${good.identity.hostId}` }])
      await expect(writeFleetBundle(client, path.join(root, 'bundle-all'), target.url, { since: new Date(0), hosts: [good.identity.hostId, bad.identity.hostId], generator: 'test' }))
        .rejects.toMatchObject({ code: 'PORTCULLIS_FLEET_BUNDLE_HOST', message: expect.stringMatching(new RegExp(`${bad.identity.hostId}[^]*row ${seq} is not an audit record`)) })
    } finally {
      await client.end()
    }
  })

  it('a reconnect reads the last piece of the recordings not yet marked shipped, never the bytes of those that are', { timeout: 60_000 }, async () => {
    const identity = newIdentity()
    const store = await AuditStore.open(path.join(root, `store-${hosts}`))
    const source = recordingShipSource(store)
    const start = (): RecordingShipper => {
      const shipper = new RecordingShipper({ target, identity, source, logger, chunkBytes: 16_384, batchBytes: 262_144, intervalMs: 20 })
      shipper.start()
      return shipper
    }
    let shipper = start()
    const ended: string[] = []
    for (let i = 0; i < 3; i++) {
      const session = nextSession()
      const begin = await store.append({ kind: 'session', user: 'alice', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session } })
      const sink = await store.openRecording(session, begin.seq, header, { flushIntervalMs: 10 })
      // Incompressible, so PostgreSQL keeps each piece out of line (TOAST), where reading it shows in its statistics.
      sink.output(randomBytes(200_000))
      const recording = await sink.finish()
      await store.append({ kind: 'session', user: 'alice', action: 'session.end', project: 'shop', resource: 'web-1', fields: { session, startSeq: begin.seq, recording } })
      await sink.release()
      ended.push(session)
    }
    await waitUntil('all marked shipped', async () => (await Promise.all(ended.map(async (s) => await source.shipped(s)))).every((b) => b !== null))
    await shipper.stop()
    // A backend's statistics reach the views when it exits.
    const toastBlocks = async (): Promise<number> => Number((await pg.sql(`SELECT coalesce(toast_blks_read, 0) + coalesce(toast_blks_hit, 0) FROM pg_statio_user_tables WHERE schemaname = 'portcullis' AND relname = 'recording_chunks'`)).trim())
    const before = await toastBlocks()
    shipper = start()
    await waitUntil('connected', () => shipper.status().state === 'shipping')
    await shipper.stop()
    await store.close()
    await waitUntil('the statistics flushed', async () => await toastBlocks() >= before)
    // 600 kB of marked recordings are ~75 blocks; none of them is read.
    expect(await toastBlocks() - before).toBeLessThanOrEqual(4)
  })

  it('fleet verify takes session.end from the verified bodies, not the host-written columns, and names a row whose columns lie', { timeout: 60_000 }, async () => {
    const host = await shippedHost()
    const hostId = host.identity.hostId
    const endSeq = Number((await pg.sql(`SELECT seq FROM portcullis.records WHERE host_id = '${hostId}' AND action = 'session.end'`)).trim())
    const startSeq = endSeq - 1
    // A host login ships the real session.end body with another action column and drops the recording; it also hides
    // the session.start from a filtered export with another user.
    await pg.sql(`UPDATE portcullis.records SET action = 'session.noop' WHERE host_id = '${hostId}' AND seq = ${endSeq}`)
    await pg.sql(`UPDATE portcullis.records SET user_name = 'bob' WHERE host_id = '${hostId}' AND seq = ${startSeq}`)
    await pg.sql(`DELETE FROM portcullis.recording_chunks WHERE host_id = '${hostId}'`)
    const client = await connectFleet(target)
    try {
      const [verdict] = await verifyFleet(client, { hostId })
      expect(verdict).toMatchObject({
        ok: false,
        firstBad: null,
        badColumns: [{ seq: startSeq, columns: ['user_name'] }, { seq: endSeq, columns: ['action'] }],
        recordings: 0,
        badRecordings: [{ session: host.session, seq: endSeq, problem: expect.stringContaining('is not in the database') }]
      })
    } finally {
      await client.end()
    }
  })

  it('fleet verify reports a recording still being shipped as pending, not failed, while its host reports bytes left; a host that stopped reporting fails', { timeout: 60_000 }, async () => {
    const host = await shippedHost()
    const hostId = host.identity.hostId
    // The database holds a start of it (as while it ships): the last pieces are not there yet.
    await pg.sql(`DELETE FROM portcullis.recording_chunks WHERE host_id = '${hostId}' AND byte_offset >= 2048`)
    const held = await heldBytes(hostId, host.session)
    expect(held).toBe(2048)
    await pg.sql(`INSERT INTO portcullis.recording_reports (host_id, lag_bytes, pending) VALUES ('${hostId}', ${host.bytes - held}, 1)`)
    const client = await connectFleet(target)
    try {
      const [pending] = await verifyFleet(client, { hostId })
      expect(pending).toMatchObject({ ok: true, recordings: 0, badRecordings: [], pendingRecordings: [{ session: host.session, pendingBytes: host.bytes - held }] })
      const cli = await runPortcullisCli(['fleet', 'verify', '--fleet', pg.adminUrl, '--host', hostId])
      expect(cli).toMatchObject({ code: 0, stdout: expect.stringContaining(`recording of session ${host.session} (session.end at record ${pending!.pendingRecordings[0]!.seq}): pending (${host.bytes - held} bytes not shipped yet)`) })
      // Its last report is old: it stopped shipping, and the recording is a failure again.
      await pg.sql(`UPDATE portcullis.recording_reports SET at = now() - interval '2 minutes' WHERE host_id = '${hostId}'`)
      const [stale] = await verifyFleet(client, { hostId })
      expect(stale).toMatchObject({ ok: false, pendingRecordings: [], badRecordings: [{ session: host.session, problem: expect.stringContaining('does not match the sha256') }] })
      // A fresh report of nothing left to ship: what is missing will not come.
      await pg.sql(`INSERT INTO portcullis.recording_reports (host_id, lag_bytes, pending) VALUES ('${hostId}', 0, 0)`)
      expect((await verifyFleet(client, { hostId }))[0]).toMatchObject({ ok: false, pendingRecordings: [] })
      // A piece missing inside what is held is no prefix of it: a gap fails even while the host reports a lag.
      await pg.sql(`INSERT INTO portcullis.recording_reports (host_id, lag_bytes, pending) VALUES ('${hostId}', 5, 1)`)
      await pg.sql(`DELETE FROM portcullis.recording_chunks WHERE host_id = '${hostId}' AND byte_offset = 0`)
      expect((await verifyFleet(client, { hostId }))[0]).toMatchObject({ ok: false, pendingRecordings: [], badRecordings: [{ problem: expect.stringContaining('has a gap') }] })
    } finally {
      await client.end()
    }
  })
})
