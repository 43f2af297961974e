// `fleet export`: the records of every host (or one) as the fleet database holds them, host by host in seq order,
// with the filters of `audit export`. The database narrows by host, seq and time; the store's own matcher decides
// the rest, so a filter means the same here as on a host. Streamed a page at a time: constant memory.

import type pg from 'pg'
import type { StoredRecord } from '../audit/query.js'
import { recordMatcher, type AuditFilter } from '../audit/query.js'
import { parseRecord } from '../audit/record.js'
import { FLEET_SCHEMA } from './schema.js'

const PAGE = 2_000

export interface FleetRow extends StoredRecord {
  host: string
  hostName: string
}

export interface FleetExportTally {
  /** Rows whose text is not an audit record (a changed row): left out; `fleet verify` names them. */
  unreadable: number
}

export async function * fleetRecords (client: pg.Client, filter: AuditFilter, tally: FleetExportTally, hostId?: string): AsyncIterable<FleetRow> {
  const matches = recordMatcher(filter)
  const hosts = await client.query<{ host_id: string, name: string }>(
    `SELECT host_id, name FROM ${FLEET_SCHEMA}.hosts ${hostId !== undefined ? 'WHERE host_id = $1' : ''} ORDER BY name, host_id`, hostId !== undefined ? [hostId] : [])
  for (const host of hosts.rows) {
    let after = (filter.fromSeq ?? 1) - 1
    for (;;) {
      const page = await client.query<{ seq: string, body: string }>(
        `SELECT seq, body FROM ${FLEET_SCHEMA}.records WHERE host_id = $1 AND seq > $2 AND seq <= $3 AND time >= $4 AND time <= $5 ORDER BY seq LIMIT ${PAGE}`,
        [host.host_id, after, filter.toSeq ?? Number.MAX_SAFE_INTEGER, filter.since ?? new Date(0), filter.until ?? new Date(8.64e15)])
      for (const row of page.rows) {
        const record = parseRecord(row.body)
        if (record === null) {
          tally.unreadable++
          continue
        }
        if (matches(record)) yield { record, text: row.body, host: host.host_id, hostName: host.name }
      }
      if (page.rows.length < PAGE) break
      after = Number(page.rows[page.rows.length - 1]!.seq)
    }
  }
}
