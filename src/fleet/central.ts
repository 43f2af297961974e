// Reading the fleet's database: what `fleet status` shows per host, and `fleet verify`, which walks every host's
// chain as the database holds it with the same ChainVerifier `audit verify` runs on a store, and checks each
// checkpoint against the public key the host registered, and each shipped recording (recordings-central.ts).

import type pg from 'pg'
import { ChainVerifier, checkpointFault, isChainFault, vouchedSummaries, type ChainFault } from '../audit/chain-verifier.js'
import { parseCheckpoint } from '../audit/checkpoint-format.js'
import type { AuditRecord } from '../audit/record.js'
import { parseAuditPublicKey } from '../audit/signing-key.js'
import { recordingTotals, verifyRecordings, type RecordingVerdict, type VouchedRecording } from './recordings-central.js'
import { FLEET_SCHEMA } from './schema.js'

const S = FLEET_SCHEMA
/** Rows per round trip of the chain walk: the walk holds one page at a time. */
const PAGE = 5_000

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
  lastAlarm: { kind: string, seq: number | null, detail: string, at: string, reportedBy: string | null } | null
  /** Bytes of session recordings the database holds for the host. */
  recordingBytes: number
  /** Bytes of recordings durable on the host and not yet here, running sessions included, at the host's last report
   * (null: it never reported). */
  recordingLag: number | null
  /** Bytes the shipped session.end records vouch for that the database does not hold: what a host that stopped
   * reporting (destroyed, say) still owes. */
  recordingMissing: number
}

export async function fleetStatus (client: pg.Client): Promise<HostStatus[]> {
  const { rows } = await client.query<{
    host_id: string, name: string, key_id: string, registered_at: Date, shipped_seq: string | null, records: string, last_record_at: Date | null,
    last_seen: Date | null, head_seq: string | null, hb_shipped: string | null, policy_digest: string | null, policy_revision: string | null, version: string | null,
    alarms: string, alarm_kind: string | null, alarm_seq: string | null, alarm_detail: string | null, alarm_at: Date | null, alarm_by: string | null
  }>(`
    SELECT h.host_id, h.name, h.key_id, h.registered_at,
           r.shipped_seq, coalesce(r.records, 0) AS records, r.last_record_at,
           b.at AS last_seen, b.head_seq, b.shipped_seq AS hb_shipped, b.policy_digest, b.policy_revision, b.version,
           coalesce(a.alarms, 0) AS alarms, la.kind AS alarm_kind, la.seq AS alarm_seq, la.detail AS alarm_detail, la.at AS alarm_at, la.reported_by AS alarm_by
    FROM ${S}.hosts h
    LEFT JOIN LATERAL (SELECT max(seq) AS shipped_seq, count(*) AS records, max(time) AS last_record_at FROM ${S}.records WHERE host_id = h.host_id) r ON true
    LEFT JOIN LATERAL (SELECT at, head_seq, shipped_seq, policy_digest, policy_revision, version FROM ${S}.heartbeats WHERE host_id = h.host_id ORDER BY id DESC LIMIT 1) b ON true
    LEFT JOIN LATERAL (SELECT count(*) AS alarms FROM ${S}.alarms WHERE host_id = h.host_id) a ON true
    LEFT JOIN LATERAL (SELECT kind, seq, detail, at, reported_by FROM ${S}.alarms WHERE host_id = h.host_id ORDER BY id DESC LIMIT 1) la ON true
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
      lastAlarm: row.alarm_kind === null ? null : { kind: row.alarm_kind, seq: row.alarm_seq === null ? null : Number(row.alarm_seq), detail: row.alarm_detail ?? '', at: row.alarm_at!.toISOString(), reportedBy: row.alarm_by },
      recordingBytes: recordings.get(row.host_id)?.held ?? 0,
      recordingLag: recordings.get(row.host_id)?.reported ?? null,
      recordingMissing: recordings.get(row.host_id)?.missing ?? 0
    }
  })
}

export interface HostVerdict extends RecordingVerdict {
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
  /** Rows whose filter columns (what `fleet export` and queries select on) say otherwise than their verified body:
   * the columns that differ. */
  badColumns: Array<{ seq: number, columns: string[] }>
  badCheckpoints: Array<{ seq: number, problem: string }>
  alarms: Array<{ kind: string, seq: number | null, detail: string, at: string, reportedBy: string | null }>
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
  const verdict: HostVerdict = { hostId, name, ok: true, fromSeq: null, toSeq: null, records: 0, checkpoints: 0, firstBad: null, badColumns: [], badCheckpoints: [], recordings: 0, badRecordings: [], pendingRecordings: [], alarms: [] }
  let verifier: ChainVerifier | null = null
  const ends: VouchedRecording[] = []
  let after = 0
  walk: for (;;) {
    // Every column, so the verified body can be held against what filters select on; the first row's prev_hash is
    // the verifier's start, so no body is parsed but by the verifier.
    const page = await client.query<RecordRow>(
      `SELECT seq, time, kind, user_name, project, action, decision, hash, prev_hash, body FROM ${S}.records WHERE host_id = $1 AND seq > $2 ORDER BY seq LIMIT ${PAGE}`, [hostId, after])
    for (const row of page.rows) {
      const seq = Number(row.seq)
      // The first row the database holds is trusted as a start, as `audit verify` trusts the record before its base.
      // Its prev_hash column is what the host shipped as the body's prevHash; a row whose two differ is `unlinked`.
      verifier ??= new ChainVerifier({ seq, prevHash: row.prev_hash })
      verdict.fromSeq ??= seq
      const result = verifier.next({ seq, text: row.body })
      if (isChainFault(result)) {
        verdict.firstBad = { seq: result.fault === 'missing' ? result.expected : seq, problem: describeFault(result, seq) }
        break walk
      }
      verdict.toSeq = seq
      verdict.records++
      const columns = columnsDisagreeing(row, result)
      if (columns.length > 0) verdict.badColumns.push({ seq, columns })
      // The recordings are checked against the session.end records of the verified bodies, whatever the columns say.
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

  Object.assign(verdict, await verifyRecordings(client, hostId, ends))

  const alarms = await client.query<{ kind: string, seq: string | null, detail: string, at: Date, reported_by: string | null }>(
    `SELECT kind, seq, detail, at, reported_by FROM ${S}.alarms WHERE host_id = $1 ORDER BY id`, [hostId])
  verdict.alarms = alarms.rows.map((a) => ({ kind: a.kind, seq: a.seq === null ? null : Number(a.seq), detail: a.detail, at: a.at.toISOString(), reportedBy: a.reported_by }))
  verdict.ok = verdict.firstBad === null && verdict.badColumns.length === 0 && verdict.badCheckpoints.length === 0 && verdict.badRecordings.length === 0 && verdict.alarms.length === 0
  return verdict
}

interface RecordRow {
  seq: string
  time: Date
  kind: string
  user_name: string | null
  project: string | null
  action: string | null
  decision: string | null
  hash: string
  prev_hash: string
  body: string
}

/** The columns of a row the host wrote beside its body that say otherwise than the (verified) record. */
function columnsDisagreeing (row: RecordRow, record: AuditRecord): string[] {
  const expected: Array<[string, unknown, unknown]> = [
    ['time', row.time.getTime(), Date.parse(record.time)],
    ['kind', row.kind, record.kind],
    ['user_name', row.user_name, record.user ?? null],
    ['project', row.project, record.project ?? null],
    ['action', row.action, record.action ?? null],
    ['decision', row.decision, record.decision ?? null],
    ['hash', row.hash, record.hash],
    ['prev_hash', row.prev_hash, record.prevHash]
  ]
  return expected.filter(([, column, body]) => column !== body).map(([name]) => name)
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
