// A fleet host's chain read from both of its places, to match them record by record: the host's own store and its
// rows in the fleet's PostgreSQL. And a central row changed the way someone with write access to the database could.
import type { Postgres } from './postgres.js'
import { portcullisCliOk } from './portcullis.js'

const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '')

/** The host's local chain as stored (read with `audit export --data`, serve stopped), one JSON line a record. */
export async function localChain (data: string): Promise<string[]> {
  return lines(await portcullisCliOk(['audit', 'export', '--data', data]))
}

/** The bodies of the host's rows in the database in seq order, all of them or those from `seqs.from` to `seqs.to`. */
export async function centralChain (pg: Postgres, hostId: string, seqs?: { from: number, to: number }): Promise<string[]> {
  const range = seqs === undefined ? '' : ` AND seq BETWEEN ${seqs.from} AND ${seqs.to}`
  return lines(await pg.sql(`SELECT body FROM portcullis.records WHERE host_id = '${hostId}'${range} ORDER BY seq`))
}

/** Changes the central row (hostId, seq), its "alice" made "mallory", runs `check`, and puts the row back. */
export async function withChangedRow (pg: Postgres, hostId: string, seq: number, check: () => Promise<void>): Promise<void> {
  const where = `host_id = '${hostId}' AND seq = ${seq}`
  const original = (await pg.sql(`SELECT body FROM portcullis.records WHERE ${where}`)).trim()
  await pg.sql(`UPDATE portcullis.records SET body = replace(body, '"alice"', '"mallory"') WHERE ${where}`)
  try {
    await check()
  } finally {
    await pg.sql(`UPDATE portcullis.records SET body = $body$${original}$body$ WHERE ${where}`)
  }
}
