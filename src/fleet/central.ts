// Reading the fleet's database: what `fleet status` shows per host, and `fleet verify`, which walks every host's
// chain as the database holds it with the same ChainVerifier `audit verify` runs on a store, and checks each
// checkpoint against the public key the host registered, and each shipped recording against the size and sha256
// its session.end holds.

import type pg from 'pg'
import { ChainVerifier, checkpointFault, isChainFault, vouchedSummaries, type ChainFault } from '../audit/chain-verifier.js'
import { parseCheckpoint } from '../audit/checkpoint-format.js'
import { scanRecordingBytes, type RecordingSummary } from '../audit/recordings.js'
import { parseAuditPublicKey } from '../audit/signing-key.js'
import { FLEET_SCHEMA } from './schema.js'

const S = FLEET_SCHEMA
/** Rows per round trip of the chain walk: the walk holds one page at a time. */
const PAGE = 5_000
/** Recording pieces per round trip (at most 256 KiB each as hosts ship them). */
const PIECE_PAGE = 16

export interface HostStatus {
  hostId: string
  name: string
  keyId: string
  registeredAt: string
  /** The highest seq the database holds for the host (0: none), and how many records. */
  shippedSeq: number
  records: number
  lastRecordAt: string | null
  /** What the host last said of itself. */
  lastSeen: string | null
  headSeq: number | null
  /** Records the host held that the database did not, at its last heartbeat. */
  lag: number | null
  policyDigest: string | null
  /** The fleet policy revision it ran at its last heartbeat; null for a policy from a local file. */
  policyRevision: number | null
  version: string | null
  alarms: number
  lastAlarm: { kind: string, seq: number | null, detail: string, at: string } | null
  /** Bytes of session recordings the database holds for the host. */
  recordingBytes: number
  /** Bytes of recordings of ended sessions (their session.end shipped) not yet in the database; a running session's
   * lag shows on the host (`portcullis status`). */
  recordingLag: number
}

export async function fleetStatus (client: pg.Client): Promise<HostStatus[]> {
  const { rows } = await client.query<{
    host_id: string, name: string, key_id: string, registered_at: Date, shipped_seq: string | null, records: string, last_record_at: Date | null,
    last_seen: Date | null, head_seq: string | null, hb_shipped: string | null, policy_digest: string | null, policy_revision: string | null, version: string | null,
    alarms: string, alarm_kind: string | null, alarm_seq: string | null, alarm_detail: string | null, alarm_at: Date | null
  }>(`
    SELECT h.host_id, h.name, h.key_id, h.registered_at,
           r.shipped_seq, coalesce(r.records, 0) AS records, r.last_record_at,
           b.at AS last_seen, b.head_seq, b.shipped_seq AS hb_shipped, b.policy_digest, b.policy_revision, b.version,
           coalesce(a.alarms, 0) AS alarms, la.kind AS alarm_kind, la.seq AS alarm_seq, la.detail AS alarm_detail, la.at AS alarm_at
    FROM ${S}.hosts h
    LEFT JOIN LATERAL (SELECT max(seq) AS shipped_seq, count(*) AS records, max(time) AS last_record_at FROM ${S}.records WHERE host_id = h.host_id) r ON true
    LEFT JOIN LATERAL (SELECT at, head_seq, shipped_seq, policy_digest, policy_revision, version FROM ${S}.heartbeats WHERE host_id = h.host_id ORDER BY id DESC LIMIT 1) b ON true
    LEFT JOIN LATERAL (SELECT count(*) AS alarms FROM ${S}.alarms WHERE host_id = h.host_id) a ON true
    LEFT JOIN LATERAL (SELECT kind, seq, detail, at FROM ${S}.alarms WHERE host_id = h.host_id ORDER BY id DESC LIMIT 1) la ON true
    ORDER BY h.name, h.host_id`)
  const recordings = await recordingTotals(client)
  return rows.map((row) => {
    const shippedSeq = Number(row.shipped_seq ?? 0)
    const headSeq = row.head_seq === null ? null : Number(row.head_seq)
    return {
      hostId: row.host_id,
      name: row.name,
      keyId: row.key_id,
      registeredAt: row.registered_at.toISOString(),
      shippedSeq,
      records: Number(row.records),
      lastRecordAt: row.last_record_at?.toISOString() ?? null,
      lastSeen: row.last_seen?.toISOString() ?? null,
      headSeq,
      lag: headSeq === null ? null : Math.max(0, headSeq - shippedSeq),
      policyDigest: row.policy_digest,
      policyRevision: row.policy_revision === null ? null : Number(row.policy_revision),
      version: row.version,
      alarms: Number(row.alarms),
      lastAlarm: row.alarm_kind === null ? null : { kind: row.alarm_kind, seq: row.alarm_seq === null ? null : Number(row.alarm_seq), detail: row.alarm_detail ?? '', at: row.alarm_at!.toISOString() },
      recordingBytes: recordings.get(row.host_id)?.held ?? 0,
      recordingLag: recordings.get(row.host_id)?.lag ?? 0
    }
  })
}

/** Per host: the recording bytes held, and those its shipped session.end records vouch for and the database lacks. */
async function recordingTotals (client: pg.Client): Promise<Map<string, { held: number, lag: number }>> {
  const { rows } = await client.query<{ host_id: string, held: string, lag: string }>(`
    WITH held AS (SELECT host_id, session_id, sum(length(bytes)) AS bytes FROM ${S}.recording_chunks GROUP BY host_id, session_id),
         vouched AS (SELECT host_id, (body::jsonb #>> '{fields,session}') AS session_id, (body::jsonb #>> '{fields,recording,bytes}')::bigint AS bytes
                     FROM ${S}.records WHERE kind = 'session' AND action = 'session.end' AND body::jsonb #> '{fields,recording,bytes}' IS NOT NULL)
    SELECT h.host_id, coalesce((SELECT sum(bytes) FROM held WHERE held.host_id = h.host_id), 0) AS held,
           coalesce((SELECT sum(greatest(0, v.bytes - coalesce(held.bytes, 0))) FROM vouched v LEFT JOIN held ON held.host_id = v.host_id AND held.session_id = v.session_id WHERE v.host_id = h.host_id), 0) AS lag
    FROM ${S}.hosts h`)
  return new Map(rows.map((row) => [row.host_id, { held: Number(row.held), lag: Number(row.lag) }]))
}

export interface HostVerdict {
  hostId: string
  name: string
  ok: boolean
  /** The range walked: the first record the database holds for the host (its chain is trusted from there) to the last. */
  fromSeq: number | null
  toSeq: number | null
  records: number
  checkpoints: number
  /** The first record that does not check out, and why. */
  firstBad: { seq: number, problem: string } | null
  badCheckpoints: Array<{ seq: number, problem: string }>
  /** Recordings whose pieces match what their session.end holds. */
  recordings: number
  /** A recording missing, cut, with a gap or other bytes than its session.end (record `seq`) vouches for. */
  badRecordings: Array<{ session: string, seq: number, problem: string }>
  alarms: Array<{ kind: string, seq: number | null, detail: string, at: string }>
}

/** Walks each host's chain (or only `hostId`'s). A host with an alarm is not ok either: its history diverged. */
export async function verifyFleet (client: pg.Client, options: { hostId?: string } = {}): Promise<HostVerdict[]> {
  const hosts = await client.query<{ host_id: string, name: string, public_key: string }>(
    `SELECT host_id, name, public_key FROM ${S}.hosts ${options.hostId !== undefined ? 'WHERE host_id = $1' : ''} ORDER BY name, host_id`,
    options.hostId !== undefined ? [options.hostId] : [])
  const verdicts: HostVerdict[] = []
  for (const host of hosts.rows) verdicts.push(await verifyHost(client, host.host_id, host.name, host.public_key))
  return verdicts
}

async function verifyHost (client: pg.Client, hostId: string, name: string, publicKeyPem: string): Promise<HostVerdict> {
  const verdict: HostVerdict = { hostId, name, ok: true, fromSeq: null, toSeq: null, records: 0, checkpoints: 0, firstBad: null, badCheckpoints: [], recordings: 0, badRecordings: [], alarms: [] }
  const ends: Array<{ seq: number, session: string, recording: RecordingSummary }> = []
  let verifier: ChainVerifier | null = null
  let after = 0
  walk: for (;;) {
    const page = await client.query<{ seq: string, body: string }>(`SELECT seq, body FROM ${S}.records WHERE host_id = $1 AND seq > $2 ORDER BY seq LIMIT ${PAGE}`, [hostId, after])
    for (const row of page.rows) {
      const seq = Number(row.seq)
      // The first row the database holds is trusted as a start, as `audit verify` trusts the record before its base.
      verifier ??= new ChainVerifier({ seq, prevHash: prevHashOf(row.body) })
      verdict.fromSeq ??= seq
      const result = verifier.next({ seq, text: row.body })
      if (isChainFault(result)) {
        verdict.firstBad = { seq: result.fault === 'missing' ? result.expected : seq, problem: describeFault(result, seq) }
        break walk
      }
      verdict.toSeq = seq
      verdict.records++
      const vouched = vouchedSummaries(result)
      if (vouched?.recording !== undefined) ends.push({ seq, session: vouched.session, recording: vouched.recording })
    }
    if (page.rows.length < PAGE) break
    after = Number(page.rows[page.rows.length - 1]!.seq)
  }

  // A cut tail: the host said it had shipped further than the database now holds.
  const told = await client.query<{ shipped: string | null }>(`SELECT max(shipped_seq) AS shipped FROM ${S}.heartbeats WHERE host_id = $1`, [hostId])
  const reported = Number(told.rows[0]?.shipped ?? 0)
  if (verdict.firstBad === null && reported > (verdict.toSeq ?? 0)) {
    verdict.firstBad = { seq: (verdict.toSeq ?? 0) + 1, problem: `records ${(verdict.toSeq ?? 0) + 1} to ${reported} are missing: the host reported them shipped` }
  }

  let key
  try {
    key = parseAuditPublicKey(publicKeyPem)
  } catch (err) {
    verdict.badCheckpoints.push({ seq: 0, problem: `the host's registered public key cannot be read: ${(err as Error).message}` })
  }
  const checkpoints = await client.query<{ seq: string, body: string, hash: string | null }>(
    `SELECT c.seq, c.body, r.hash FROM ${S}.checkpoints c LEFT JOIN ${S}.records r ON r.host_id = c.host_id AND r.seq = c.seq WHERE c.host_id = $1 ORDER BY c.seq`, [hostId])
  for (const row of checkpoints.rows) {
    const seq = Number(row.seq)
    const checkpoint = parseCheckpoint(row.body)
    if (checkpoint === null || checkpoint.seq !== seq) {
      verdict.badCheckpoints.push({ seq, problem: 'the checkpoint is unreadable or names another record' })
      continue
    }
    if (key === undefined) continue
    const fault = checkpointFault(checkpoint, [key], row.hash === null ? null : { hash: row.hash })
    if (fault === null) verdict.checkpoints++
    else verdict.badCheckpoints.push({ seq, problem: fault.fault === 'forged' ? `forged: ${fault.why}` : fault.fault === 'mismatch' ? 'it signs another hash than the record the database holds' : 'the database holds no record it signs' })
  }

  for (const end of ends) {
    const problem = await recordingProblem(client, hostId, end.session, end.recording)
    if (problem === null) verdict.recordings++
    else verdict.badRecordings.push({ session: end.session, seq: end.seq, problem })
  }

  const alarms = await client.query<{ kind: string, seq: string | null, detail: string, at: Date }>(`SELECT kind, seq, detail, at FROM ${S}.alarms WHERE host_id = $1 ORDER BY id`, [hostId])
  verdict.alarms = alarms.rows.map((a) => ({ kind: a.kind, seq: a.seq === null ? null : Number(a.seq), detail: a.detail, at: a.at.toISOString() }))
  verdict.ok = verdict.firstBad === null && verdict.badCheckpoints.length === 0 && verdict.badRecordings.length === 0 && verdict.alarms.length === 0
  return verdict
}

/** Why the database's pieces of a recording are not the file its session.end vouches for, or null when they are. */
async function recordingProblem (client: pg.Client, hostId: string, session: string, vouched: RecordingSummary): Promise<string | null> {
  let gap: string | null = null
  let pieces = 0
  async function * bytes (): AsyncIterable<Buffer> {
    let expected = 0
    for (;;) {
      const page = await client.query<{ byte_offset: string, bytes: Buffer }>(
        `SELECT byte_offset, bytes FROM ${S}.recording_chunks WHERE host_id = $1 AND session_id = $2 AND byte_offset >= $3 ORDER BY byte_offset LIMIT ${PIECE_PAGE}`,
        [hostId, session, expected])
      for (const row of page.rows) {
        const offset = Number(row.byte_offset)
        if (offset !== expected) {
          gap = `bytes ${expected} to ${offset - 1} are missing`
          return
        }
        pieces++
        expected += row.bytes.length
        yield row.bytes
      }
      if (page.rows.length < PIECE_PAGE) return
    }
  }
  // The same reading of the bytes `audit verify` does of a recording file.
  const { summary } = await scanRecordingBytes(bytes())
  if (gap !== null) return `the recording of session ${session} has a gap: ${gap as string}`
  if (pieces === 0) return `the recording of session ${session} is not in the database (its session.end vouches for ${vouched.bytes} bytes)`
  if (summary.bytes !== vouched.bytes || summary.sha256 !== vouched.sha256) {
    return `the recording of session ${session} in the database (${summary.bytes} bytes) does not match the sha256 its session.end holds (${vouched.bytes} bytes): a piece was changed, cut or added`
  }
  return null
}

function prevHashOf (body: string): string {
  try {
    const value = JSON.parse(body) as { prevHash?: unknown }
    return typeof value.prevHash === 'string' ? value.prevHash : ''
  } catch {
    return ''
  }
}

function describeFault (fault: ChainFault, seq: number): string {
  switch (fault.fault) {
    case 'missing': return `records ${fault.expected} to ${fault.seq - 1} are missing`
    case 'unparseable': return 'the row is not an audit record'
    case 'unsealed': return 'the row does not end with its hash'
    case 'edited': return 'the row was changed after it was written (its hash does not match its content)'
    case 'unlinked': return `it does not link to record ${seq - 1} (prevHash differs)`
    case 'misplaced': return `it is stored as ${seq} but written as seq ${fault.record.seq}`
  }
}
