// Session recordings as the fleet database holds them (recording_chunks, shipped by recording-shipper.ts): read back
// in offset order, checked against the size and sha256 the session.end record holds (for `fleet verify`, with the
// scan `audit verify` reads a recording file with), handed to `fleet bundle`, and totalled for `fleet status`.

import type pg from 'pg'
import { vouchedSummaries } from '../audit/chain-verifier.js'
import { parseRecord } from '../audit/record.js'
import { scanRecordingBytes, type RecordingSummary } from '../audit/recordings.js'
import { FLEET_SCHEMA } from './schema.js'

const S = FLEET_SCHEMA
/** Pieces per round trip (hosts ship at most 256 KiB a piece): a reader holds one page at a time. */
const PIECE_PAGE = 16

/** A session's recording put together from its pieces; stops where one is missing and calls `gap` with the bytes. */
export async function * recordingPieces (client: pg.Client, hostId: string, session: string, gap: (from: number, to: number) => void = () => {}): AsyncIterable<Buffer> {
  let expected = 0
  for (;;) {
    const page = await client.query<{ byte_offset: string, bytes: Buffer }>(
      `SELECT byte_offset, bytes FROM ${S}.recording_chunks WHERE host_id = $1 AND session_id = $2 AND byte_offset >= $3 ORDER BY byte_offset LIMIT ${PIECE_PAGE}`,
      [hostId, session, expected])
    for (const row of page.rows) {
      const offset = Number(row.byte_offset)
      if (offset !== expected) {
        gap(expected, offset - 1)
        return
      }
      expected += row.bytes.length
      yield row.bytes
    }
    if (page.rows.length < PIECE_PAGE) return
  }
}

/** Whether the database holds any piece of the session's recording. */
export async function holdsRecording (client: pg.Client, hostId: string, session: string): Promise<boolean> {
  const { rows } = await client.query(`SELECT 1 FROM ${S}.recording_chunks WHERE host_id = $1 AND session_id = $2 LIMIT 1`, [hostId, session])
  return rows.length > 0
}

export interface RecordingVerdict {
  /** Recordings whose pieces match what their session.end holds. */
  recordings: number
  /** A recording missing, with a gap, or other bytes than its session.end (record `seq`) vouches for. */
  badRecordings: Array<{ session: string, seq: number, problem: string }>
  /** Recordings still being shipped: the database holds a start of them with no gap, and the host's last report,
   * younger than RECORDING_REPORT_FRESH_MS, says it has bytes left to ship. Not a failure. */
  pendingRecordings: Array<{ session: string, seq: number, pendingBytes: number }>
}

/** How recent a host's last recording report must be for a recording it has not shipped whole to count as still
 * being shipped: a shipper with bytes left reports at least every 10 s while they go; one silent longer has stopped. */
const RECORDING_REPORT_FRESH_MS = 60_000

/** A recording a session.end (record `seq`) vouches for. */
export interface VouchedRecording {
  seq: number
  session: string
  recording: RecordingSummary
}

/** Checks the recording of every session.end the chain walk found in the verified bodies (never picked by the
 * host-written kind/action columns, which a host login can set to anything). */
export async function verifyRecordings (client: pg.Client, hostId: string, ends: readonly VouchedRecording[]): Promise<RecordingVerdict> {
  const verdict: RecordingVerdict = { recordings: 0, badRecordings: [], pendingRecordings: [] }
  if (ends.length === 0) return verdict
  const report = await client.query<{ lag_bytes: string, fresh: boolean }>(
    `SELECT lag_bytes, at > now() - make_interval(secs => $2) AS fresh FROM ${S}.recording_reports WHERE host_id = $1 ORDER BY id DESC LIMIT 1`, [hostId, RECORDING_REPORT_FRESH_MS / 1000])
  const stillShipping = report.rows[0] !== undefined && report.rows[0].fresh && Number(report.rows[0].lag_bytes) > 0
  for (const { seq, session, recording } of ends) {
    let gap: string | null = null
    const { summary, invalid } = await scanRecordingBytes(recordingPieces(client, hostId, session, (from, to) => { gap = `bytes ${from} to ${to} are missing` }))
    if (gap === null && invalid === null && summary.bytes < recording.bytes && stillShipping) {
      verdict.pendingRecordings.push({ session, seq, pendingBytes: recording.bytes - summary.bytes })
      continue
    }
    const problem = gap !== null
      ? `the recording of session ${session} has a gap: ${gap as string}`
      : summary.bytes === 0
        ? `the recording of session ${session} is not in the database (its session.end vouches for ${recording.bytes} bytes)`
        : summary.bytes !== recording.bytes || summary.sha256 !== recording.sha256
          ? `the recording of session ${session} in the database (${summary.bytes} bytes) does not match the sha256 its session.end holds (${recording.bytes} bytes): a piece was changed, cut or added`
          : null
    if (problem === null) verdict.recordings++
    else verdict.badRecordings.push({ session, seq, problem })
  }
  return verdict
}

/** Per host: the recording bytes held, those its shipped session.end records vouch for and the database lacks, and
 * the lag it reported last. Each session.end body is read here, as verify reads it, not cast in SQL: a body that is
 * not a record (fleet verify names it) vouches for nothing and breaks no other host's totals. */
export async function recordingTotals (client: pg.Client): Promise<Map<string, { held: number, missing: number, reported: number | null }>> {
  const { rows } = await client.query<{ host_id: string, reported: string | null }>(`
    SELECT h.host_id, (SELECT lag_bytes FROM ${S}.recording_reports r WHERE r.host_id = h.host_id ORDER BY id DESC LIMIT 1) AS reported
    FROM ${S}.hosts h`)
  const totals = new Map(rows.map((row) => [row.host_id, { held: 0, missing: 0, reported: row.reported === null ? null : Number(row.reported) }]))
  const held = new Map<string, number>()
  const pieces = await client.query<{ host_id: string, session_id: string, bytes: string }>(
    `SELECT host_id, session_id, sum(length(bytes)) AS bytes FROM ${S}.recording_chunks GROUP BY host_id, session_id`)
  for (const row of pieces.rows) {
    held.set(`${row.host_id} ${row.session_id}`, Number(row.bytes))
    const total = totals.get(row.host_id)
    if (total !== undefined) total.held += Number(row.bytes)
  }
  const ends = await client.query<{ host_id: string, body: string }>(`SELECT host_id, body FROM ${S}.records WHERE kind = 'session' AND action = 'session.end'`)
  for (const row of ends.rows) {
    const record = parseRecord(row.body)
    const vouched = record === null ? null : vouchedSummaries(record)
    const total = totals.get(row.host_id)
    if (vouched?.recording === undefined || total === undefined) continue
    total.missing += Math.max(0, vouched.recording.bytes - (held.get(`${row.host_id} ${vouched.session}`) ?? 0))
  }
  return totals
}
