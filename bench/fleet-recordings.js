// Recording throughput into PostgreSQL: HOSTS audit stores (in this process, as serve holds them) each with one
// recorded session of MIB MiB written through the real RecordingSink, then their RecordingShippers started at once
// against a private PostgreSQL (the tests' harness); the time until the database holds every byte gives MiB/s.
// Also the live lag: while a session records at a steady rate, how long after a byte is durable it is in the
// database (p50/p99 over the samples). `node bench/fleet-recordings.js [--hosts N] [--mib N]`; needs `npm run build`.

import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { AuditStore } from '../dist/audit/store.js'
import { recordingShipSource } from '../dist/audit/ship-source.js'
import { ensureAuditKey } from '../dist/audit/signing-key.js'
import { connectFleet, fleetTarget } from '../dist/fleet/connection.js'
import { ensureHostId } from '../dist/fleet/host-identity.js'
import { RecordingShipper } from '../dist/fleet/recording-shipper.js'
import { startFleetDatabase } from './fleet-hosts.js'
import { summarize } from './stats.js'

const { values } = parseArgs({ options: { hosts: { type: 'string', default: '4' }, mib: { type: 'string', default: '32' } } })
const HOSTS = Number(values.hosts)
const MIB = Number(values.mib)
const logger = pino({ level: 'silent' })
const root = mkdtempSync(path.join(os.tmpdir(), 'portcullis-bench-recordings-'))
const pg = await startFleetDatabase(root)
const target = fleetTarget(pg.adminUrl)
const stores = []
const shippers = []

function host (i) {
  const keys = path.join(root, `keys-${i}`)
  const key = ensureAuditKey(keys).key
  return { hostId: ensureHostId(keys).hostId, name: `host-${i}`, key }
}

async function record (store, session, bytes, onChunk = async () => {}) {
  const start = await store.append({ kind: 'session', user: 'alice', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session } })
  const sink = await store.openRecording(session, start.seq, { version: 2, width: 80, height: 24 })
  const chunk = Buffer.alloc(64 * 1024, 'x')
  for (let written = 0; written < bytes; written += chunk.length) {
    if (!sink.output(chunk)) await new Promise((resolve) => sink.once('drain', resolve))
    await onChunk(sink)
  }
  const recording = await sink.finish()
  await store.append({ kind: 'session', user: 'alice', action: 'session.end', project: 'shop', resource: 'web-1', fields: { session, startSeq: start.seq, recording } })
  await sink.release()
  return recording.bytes
}

try {
  // Backlog: every host's recording on disk first, then all shippers at once.
  let total = 0
  for (let i = 0; i < HOSTS; i++) {
    const store = await AuditStore.open(path.join(root, `store-${i}`))
    stores.push(store)
    total += await record(store, `s-${(i + 1).toString(16).padStart(16, '0')}`, MIB * 1024 * 1024)
  }
  const started = performance.now()
  for (let i = 0; i < HOSTS; i++) {
    const shipper = new RecordingShipper({ target, identity: host(i), source: recordingShipSource(stores[i]), logger })
    shippers.push(shipper)
    shipper.start()
  }
  const client = await connectFleet(target)
  for (;;) {
    const { rows } = await client.query('SELECT coalesce(sum(length(bytes)), 0) AS held FROM portcullis.recording_chunks')
    if (Number(rows[0].held) >= total) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const seconds = (performance.now() - started) / 1000
  console.log(`backlog: ${HOSTS} host(s) x ${MIB} MiB = ${(total / 1048576).toFixed(1)} MiB into PostgreSQL in ${seconds.toFixed(2)} s: ${(total / 1048576 / seconds).toFixed(1)} MiB/s`)

  // Live: one more session on host 0 at about 1 MiB/s; sample how far behind the database is, in time.
  const lags = []
  const session = `s-${'f'.repeat(16)}`
  /** Durable lengths not yet seen in the database, with when they were durable: one poller, one query at a time. */
  const waiting = []
  let recording = true
  const poller = (async () => {
    while (recording || waiting.length > 0) {
      const { rows } = await client.query('SELECT coalesce(max(byte_offset + length(bytes)), 0) AS held FROM portcullis.recording_chunks WHERE session_id = $1', [session])
      const held = Number(rows[0].held)
      while (waiting.length > 0 && waiting[0].durable <= held) lags.push(performance.now() - waiting.shift().at)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  let last = 0
  await record(stores[0], session, 8 * 1024 * 1024, async (sink) => {
    await new Promise((resolve) => setTimeout(resolve, 62))
    if (performance.now() - last < 250) return
    last = performance.now()
    await sink.flush()
    waiting.push({ durable: sink.summary().bytes, at: performance.now() })
  })
  recording = false
  await poller
  await client.end()
  const lag = summarize(lags)
  console.log(`live: a session recording at ~1 MiB/s, ${lag.count} samples: durable to in the database p50 ${lag.p50.toFixed(0)} ms, p99 ${lag.p99.toFixed(0)} ms`)
} finally {
  await Promise.all(shippers.map(async (s) => await s.stop(0)))
  for (const store of stores) await store.close()
  await pg.stop()
  rmSync(root, { recursive: true, force: true })
}
