// Session recordings go to the fleet database as they are recorded: against a real PostgreSQL and a real audit store
// (its RecordingSink writing frame files, the FleetShipper shipping the records beside), a running session's durable
// bytes arrive while it runs and the whole file once it ends; a restart or an outage resumes from the database's own
// end of each recording, with no gap and no duplicate; fleet verify checks each recording against its session.end and
// names a changed piece; other bytes at an offset the database holds are an alarm, never an overwrite.
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { recordingFilePath } from '../../src/audit/bundle.js'
import { verifyAnyBundle, type FleetBundleVerifyReport } from '../../src/audit/bundle-verify-fleet.js'
import { signCheckpointNow } from '../../src/audit/checkpoints.js'
import { recordingShipSource, shipSource } from '../../src/audit/ship-source.js'
import { recordingPath, type RecordingSink } from '../../src/audit/recordings.js'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { AuditStore, auditDatabase } from '../../src/audit/store.js'
import { writeFleetBundle } from '../../src/fleet/bundle.js'
import { fleetStatus, verifyFleet } from '../../src/fleet/central.js'
import { connectFleet, type FleetTarget } from '../../src/fleet/connection.js'
import { ensureHostId, type HostIdentity } from '../../src/fleet/host-identity.js'
import { RecordingShipper } from '../../src/fleet/recording-shipper.js'
import { FleetShipper } from '../../src/fleet/shipper.js'
import { type Postgres } from '../helpers/postgres.js'
import { useMigratedFleet } from '../helpers/migrated-fleet.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let pg: Postgres
let target: FleetTarget
const logger = pino({ level: 'silent' })

useMigratedFleet('portcullis-fleet-recordings-', (fleet) => ({ root, pg, target } = fleet))

let hosts = 0
function newIdentity (): { identity: HostIdentity, keysDir: string } {
  const keysDir = path.join(root, `keys-${++hosts}`)
  const key = ensureAuditKey(keysDir).key
  return { identity: { hostId: ensureHostId(keysDir).hostId, name: `host-${hosts}`, key }, keysDir }
}

interface Host {
  store: AuditStore
  records: FleetShipper
  recordings: RecordingShipper
  stop: () => Promise<void>
}

/** A host: its store, and both shippers, as serve runs them. */
async function startHost (dir: string, identity: HostIdentity): Promise<Host> {
  const store = await AuditStore.open(dir)
  const records = new FleetShipper({ target, identity, source: shipSource(store), logger, version: 'test', policyDigest: () => 'digest', heartbeatMs: 200 })
  const recordings = new RecordingShipper({ target, identity, source: recordingShipSource(store), logger, chunkBytes: 4096, batchBytes: 16_384, intervalMs: 50 })
  records.start()
  recordings.start()
  return {
    store,
    records,
    recordings,
    stop: async () => {
      await Promise.all([records.stop(), recordings.stop()])
      await store.close()
    }
  }
}

let sessions = 0
async function openSession (store: AuditStore): Promise<{ session: string, startSeq: number, sink: RecordingSink }> {
  const session = `s-${(0xabc000 + ++sessions).toString(16).padStart(16, '0')}`
  const start = await store.append({ kind: 'session', user: 'alice', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session } })
  const sink = await store.openRecording(session, start.seq, { version: 2, width: 80, height: 24 }, { flushIntervalMs: 10 })
  return { session, startSeq: start.seq, sink }
}

async function endSession (store: AuditStore, opened: { session: string, startSeq: number, sink: RecordingSink }): Promise<void> {
  const recording = await opened.sink.finish()
  await store.append({ kind: 'session', user: 'alice', action: 'session.end', project: 'shop', resource: 'web-1', fields: { session: opened.session, startSeq: opened.startSeq, recording } })
  await opened.sink.release()
}

/** The database's pieces of a session, in offset order. */
async function pieces (hostId: string, session: string): Promise<Array<{ offset: number, length: number }>> {
  const out = await pg.sql(`SELECT byte_offset || ',' || length(bytes) FROM portcullis.recording_chunks WHERE host_id = '${hostId}' AND session_id = '${session}' ORDER BY byte_offset`)
  return out.split('\n').filter((l) => l !== '').map((l) => { const [offset, length] = l.split(',').map(Number); return { offset: offset!, length: length! } })
}

/** The recording as the database holds it, put together. */
async function centralBytes (hostId: string, session: string): Promise<Buffer> {
  const out = await pg.sql(`SELECT encode(bytes, 'hex') FROM portcullis.recording_chunks WHERE host_id = '${hostId}' AND session_id = '${session}' ORDER BY byte_offset`)
  return Buffer.concat(out.split('\n').filter((l) => l !== '').map((hex) => Buffer.from(hex, 'hex')))
}

function expectContiguous (list: Array<{ offset: number, length: number }>): number {
  let end = 0
  for (const piece of list) {
    expect(piece.offset).toBe(end)
    end += piece.length
  }
  return end
}

const noise = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff))

describe('serve ships session recordings to the fleet database', () => {
  it('a running session\'s durable bytes arrive while it runs, the whole file after it ends, and fleet verify checks it against its session.end', { timeout: 60_000 }, async () => {
    const { identity } = newIdentity()
    const host = await startHost(path.join(root, `store-${hosts}`), identity)
    const opened = await openSession(host.store)
    opened.sink.output(noise(50_000, 1))
    await opened.sink.flush()
    const durable = opened.sink.summary().bytes
    await waitUntil('the running session\'s bytes in the database', async () => expectContiguous(await pieces(identity.hostId, opened.session)) >= durable)
    expect(host.recordings.status()).toMatchObject({ state: 'shipping' })

    opened.sink.input(Buffer.from('exit\r'))
    opened.sink.output(noise(30_000, 2))
    await endSession(host.store, opened)
    const file = readFileSync(recordingPath(host.store.dir, opened.session))
    await waitUntil('the whole recording in the database', async () => (await centralBytes(identity.hostId, opened.session)).equals(file))
    await waitUntil('the records shipped', () => host.records.status().lag === 0)
    await waitUntil('the recording marked shipped', async () => await recordingShipSource(host.store).shipped(opened.session) === file.length)
    expect(host.recordings.status()).toMatchObject({ pending: 0, lagBytes: 0, halted: null })

    const client = await connectFleet(target)
    try {
      const [verdict] = await verifyFleet(client, { hostId: identity.hostId })
      expect(verdict).toMatchObject({ ok: true, recordings: 1, badRecordings: [] })
      await waitUntil('the host to report no lag', async () => (await fleetStatus(client)).find((h) => h.hostId === identity.hostId)?.recordingLag === 0)
      const status = (await fleetStatus(client)).find((h) => h.hostId === identity.hostId)
      expect(status).toMatchObject({ recordingBytes: file.length, recordingLag: 0, recordingMissing: 0 })

      // A reviewer's copy must name a changed piece: the host and the session.
      const [, second, third] = await pieces(identity.hostId, opened.session)
      await pg.sql(`UPDATE portcullis.recording_chunks SET bytes = overlay(bytes placing '\\xff'::bytea from 1 for 1) WHERE host_id = '${identity.hostId}' AND session_id = '${opened.session}' AND byte_offset = ${second!.offset}`)
      const [tampered] = await verifyFleet(client, { hostId: identity.hostId })
      expect(tampered).toMatchObject({ ok: false, hostId: identity.hostId, recordings: 0, badRecordings: [{ session: opened.session, problem: expect.stringContaining('does not match the sha256') }] })
      await pg.sql(`DELETE FROM portcullis.recording_chunks WHERE host_id = '${identity.hostId}' AND session_id = '${opened.session}' AND byte_offset = ${third!.offset}`)
      const [cut] = await verifyFleet(client, { hostId: identity.hostId })
      expect(cut!.badRecordings).toEqual([{ session: opened.session, seq: expect.any(Number), problem: expect.stringContaining(`has a gap: bytes ${third!.offset} to ${third!.offset + third!.length - 1} are missing`) }])
      await pg.sql(`DELETE FROM portcullis.recording_chunks WHERE host_id = '${identity.hostId}' AND session_id = '${opened.session}'`)
      const [gone] = await verifyFleet(client, { hostId: identity.hostId })
      expect(gone!.badRecordings[0]!.problem).toContain('is not in the database')
      // The host has nothing left to ship; what its shipped session.end vouches for is missing here.
      expect((await fleetStatus(client)).find((h) => h.hostId === identity.hostId)).toMatchObject({ recordingBytes: 0, recordingLag: 0, recordingMissing: file.length })
    } finally {
      await client.end()
    }
    await host.stop()
  })

  it('a host that stops mid-session and comes back ships the rest from the database\'s end, with no gap and no duplicate; so does a database outage', { timeout: 90_000 }, async () => {
    const { identity } = newIdentity()
    const dir = path.join(root, `store-${hosts}`)
    let host = await startHost(dir, identity)
    const opened = await openSession(host.store)
    opened.sink.output(noise(40_000, 3))
    await opened.sink.flush()
    await waitUntil('part shipped', async () => expectContiguous(await pieces(identity.hostId, opened.session)) >= opened.sink.summary().bytes)
    // The shippers go (as in a host whose serve is killed), the session goes on recording.
    await Promise.all([host.records.stop(0), host.recordings.stop(0)])
    opened.sink.output(noise(40_000, 4))
    await opened.sink.flush()
    const store = host.store
    const records = new FleetShipper({ target, identity, source: shipSource(store), logger, version: 'test', policyDigest: () => 'digest', heartbeatMs: 200 })
    const recordings = new RecordingShipper({ target, identity, source: recordingShipSource(store), logger, chunkBytes: 4096, batchBytes: 16_384, intervalMs: 50 })
    records.start()
    recordings.start()
    host = { store, records, recordings, stop: async () => { await Promise.all([records.stop(), recordings.stop()]); await store.close() } }
    await waitUntil('the rest shipped', async () => expectContiguous(await pieces(identity.hostId, opened.session)) >= opened.sink.summary().bytes)
    // The new shipper reported the running session's backlog, then zero once it had shipped it.
    await waitUntil('the lag reported back to zero', async () => (await pg.sql(`SELECT lag_bytes FROM portcullis.recording_reports WHERE host_id = '${identity.hostId}' ORDER BY id DESC LIMIT 1`)).trim() === '0')
    expect(Number((await pg.sql(`SELECT max(lag_bytes) FROM portcullis.recording_reports WHERE host_id = '${identity.hostId}'`)).trim())).toBeGreaterThanOrEqual(40_000)

    // The database goes away mid-session: the session records on, unhindered; it all arrives once it is back.
    await pg.stop()
    opened.sink.output(noise(60_000, 5))
    await opened.sink.flush()
    await waitUntil('the shipper sees the outage', () => host.recordings.status().state === 'unreachable')
    expect(host.recordings.status().lastError).toMatchObject({ code: expect.stringMatching(/^PORTCULLIS_FLEET_/) })
    await endSession(store, opened)
    await pg.start()
    const file = readFileSync(recordingPath(store.dir, opened.session))
    await waitUntil('drained after the outage', async () => (await centralBytes(identity.hostId, opened.session)).equals(file), { timeoutMs: 30_000 })
    expectContiguous(await pieces(identity.hostId, opened.session))
    await waitUntil('the records shipped', () => host.records.status().lag === 0, { timeoutMs: 30_000 })
    const client = await connectFleet(target)
    try {
      expect((await verifyFleet(client, { hostId: identity.hostId }))[0]).toMatchObject({ ok: true, recordings: 1 })
    } finally {
      await client.end()
    }
    await host.stop()
  })

  it('other bytes at an offset the database holds (a second machine with a copy of the keys) are an alarm: nothing is overwritten', { timeout: 60_000 }, async () => {
    const { identity } = newIdentity()
    const first = await startHost(path.join(root, `store-${hosts}-a`), identity)
    const opened = await openSession(first.store)
    opened.sink.output(noise(10_000, 6))
    await endSession(first.store, opened)
    const original = readFileSync(recordingPath(first.store.dir, opened.session))
    await waitUntil('shipped', async () => (await centralBytes(identity.hostId, opened.session)).equals(original))
    await first.stop()

    // The same host ID and key elsewhere, with a recording of the same session ID and other bytes.
    const clone = await AuditStore.open(path.join(root, `store-${hosts}-b`))
    const start = await clone.append({ kind: 'session', user: 'mallory', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session: opened.session } })
    const sink = await clone.openRecording(opened.session, start.seq, { version: 2, width: 80, height: 24 }, { flushIntervalMs: 10 })
    sink.output(noise(20_000, 7))
    await sink.flush()
    const recordings = new RecordingShipper({ target, identity, source: recordingShipSource(clone), logger, chunkBytes: 4096, batchBytes: 16_384, intervalMs: 50 })
    recordings.start()
    await waitUntil('the alarm', () => recordings.status().state === 'halted')
    expect(recordings.status().halted).toMatchObject({ kind: 'conflict', detail: expect.stringContaining(opened.session) })
    await recordings.stop()
    await sink.finish()
    await sink.release()
    expect(await centralBytes(identity.hostId, opened.session)).toEqual(original)
    const alarms = await pg.sql(`SELECT kind || ' ' || detail FROM portcullis.alarms WHERE host_id = '${identity.hostId}'`)
    expect(alarms).toContain(`conflict the database holds other bytes at offset`)
    expect(alarms).toContain(opened.session)
    const [local] = await clone.tail(1)
    expect(local).toMatchObject({ action: 'fleet.alarm', code: 'PORTCULLIS_FLEET_ALARM', fields: { alarm: 'conflict', session: opened.session } })
    await clone.close()
  })

  it('fleet bundle puts each host\'s recordings in its part, as the database holds them, and verify-bundle checks them offline; a recording the database lacks stays on the host, said so', { timeout: 60_000 }, async () => {
    const { identity } = newIdentity()
    const host = await startHost(path.join(root, `store-${hosts}`), identity)
    const ended = await openSession(host.store)
    ended.sink.output(Buffer.from('hello from the fleet bundle\r\n'))
    ended.sink.output(noise(20_000, 8))
    await endSession(host.store, ended)
    const running = await openSession(host.store)
    running.sink.output(Buffer.from('still running\r\n'))
    await running.sink.flush()
    await signCheckpointNow(auditDatabase(host.store), identity.key, { seq: host.store.head().seq })
    // A record after it, so the shipper's next batch carries the checkpoint along.
    await host.store.append({ kind: 'system', action: 'test.mark', reason: 'after the checkpoint' })
    const file = readFileSync(recordingPath(host.store.dir, ended.session))
    await waitUntil('records, checkpoint and recordings shipped', async () =>
      host.records.status().lag === 0 && (await pg.sql(`SELECT count(*) FROM portcullis.checkpoints WHERE host_id = '${identity.hostId}'`)).trim() !== '0' &&
      (await centralBytes(identity.hostId, ended.session)).equals(file) && (await centralBytes(identity.hostId, running.session)).length === running.sink.summary().bytes)

    const client = await connectFleet(target)
    try {
      const dir = path.join(root, `bundle-${hosts}`)
      const manifest = await writeFleetBundle(client, dir, target.url, { since: new Date(0), hosts: [identity.hostId], generator: 'test' })
      expect(manifest).toMatchObject({ recordings: 'in-parts', hosts: [{ hostId: identity.hostId, dir: `hosts/${identity.hostId}` }] })
      const part = path.join(dir, manifest.hosts[0]!.dir!)
      expect(readFileSync(path.join(part, recordingFilePath(ended.session)))).toEqual(file)
      expect(readFileSync(path.join(part, recordingFilePath(running.session))).length).toBe(running.sink.summary().bytes)
      expect(readFileSync(path.join(part, 'report.html'), 'utf8')).toContain('hello from the fleet bundle')
      const verdict = await verifyAnyBundle(dir) as FleetBundleVerifyReport
      expect(verdict).toMatchObject({ kind: 'fleet', ok: true })
      expect(verdict.hosts[0]!.report!.onHost ?? []).toEqual([])

      // The bundle is checked offline: a changed recording in it is named.
      const copy = path.join(part, recordingFilePath(ended.session))
      const changed = readFileSync(copy)
      changed[changed.length - 1] = changed[changed.length - 1]! ^ 0xff
      writeFileSync(copy, changed)
      const broken = await verifyAnyBundle(dir) as FleetBundleVerifyReport
      expect(broken.ok).toBe(false)
      expect(broken.firstBad).toMatchObject({ host: identity.hostId, session: ended.session })

      // The database lacks a piece of it: the part leaves the recordings on the host and says why.
      await pg.sql(`DELETE FROM portcullis.recording_chunks WHERE host_id = '${identity.hostId}' AND session_id = '${ended.session}' AND byte_offset = (SELECT max(byte_offset) FROM portcullis.recording_chunks WHERE host_id = '${identity.hostId}' AND session_id = '${ended.session}')`)
      const lacking = path.join(root, `bundle-${hosts}-lacking`)
      const second = await writeFleetBundle(client, lacking, target.url, { since: new Date(0), hosts: [identity.hostId], generator: 'test' })
      expect(second.hosts[0]!.note).toContain(`the database does not hold the whole recording of session ${ended.session} yet`)
      const onHost = await verifyAnyBundle(lacking) as FleetBundleVerifyReport
      expect(onHost.ok).toBe(true)
      expect(onHost.hosts[0]!.report!.onHost).toContain(ended.session)
    } finally {
      await client.end()
    }
    await running.sink.finish()
    await host.stop()
  })
})
