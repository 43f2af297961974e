// The shipper's PostgreSQL connection lives in a worker thread (src/fleet/worker-client.ts), so that building and
// sending each INSERT costs serve's main thread nothing but a copy of the values. It must behave as the pg.Client it
// replaced: answers and row counts as PostgreSQL gives them, PostgreSQL's errors with their SQLSTATE, our own
// coded errors for a server that cannot be reached, and a lost connection failing what waits and saying so once.
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fleetTarget } from '../../src/fleet/connection.js'
import { WorkerFleetClient } from '../../src/fleet/worker-client.js'
import { removeDirSync } from '../helpers/index.js'
import { startPostgres, type Postgres } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let pg: Postgres

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-fleet-worker-'))
  pg = await startPostgres(path.join(root, 'pg'))
}, 120_000)

afterAll(async () => {
  await pg?.stop()
  if (root !== undefined) removeDirSync(root)
}, 60_000)

describe('the fleet connection in a worker thread', () => {
  it('answers rows and row counts as PostgreSQL gives them, for queries sent at once', async () => {
    const client = await WorkerFleetClient.connect(fleetTarget(pg.adminUrl))
    try {
      await client.query('CREATE TABLE worker_rows (n bigint, t text)')
      const texts = ['plain', 'with "quotes", commas and \\ backslashes', '漢字 and a line\nbreak', '']
      const inserted = await client.query('INSERT INTO worker_rows SELECT * FROM unnest($1::bigint[], $2::text[])', [[1, 2, 3, 4], texts])
      expect(inserted.rowCount).toBe(4)
      const [all, one] = await Promise.all([
        client.query<{ n: string, t: string }>('SELECT n, t FROM worker_rows ORDER BY n'),
        client.query<{ count: string }>('SELECT count(*) FROM worker_rows WHERE n > $1', [2])
      ])
      expect(all.rows).toEqual(texts.map((t, i) => ({ n: String(i + 1), t })))
      expect(one.rows).toEqual([{ count: '2' }])
    } finally {
      await client.end()
    }
  })

  it('fails a bad query with PostgreSQL\'s SQLSTATE, and goes on answering afterwards', async () => {
    const client = await WorkerFleetClient.connect(fleetTarget(pg.adminUrl))
    try {
      await expect(client.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01', message: expect.stringContaining('no_such_table') })
      expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    } finally {
      await client.end()
    }
  })

  it('refuses to connect with the coded error connectFleet gives, when no server answers', async () => {
    const nowhere = `postgresql://postgres@/portcullis?host=${encodeURIComponent(path.join(root, 'no-server'))}&port=${pg.port}`
    await expect(WorkerFleetClient.connect(fleetTarget(nowhere))).rejects.toMatchObject({ code: 'PORTCULLIS_FLEET_UNREACHABLE' })
  })

  it('a connection the server ends fails what waits, says so once, and fails every query after it', async () => {
    const client = await WorkerFleetClient.connect(fleetTarget(pg.adminUrl))
    const lost: Error[] = []
    client.on('error', (err: Error) => lost.push(err))
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
    const waiting = expect(client.query('SELECT pg_sleep(30)')).rejects.toMatchObject({ code: '57P01' })
    await pg.sql(`SELECT pg_terminate_backend(${rows[0]!.pid})`)
    await waiting
    await expect(client.query('SELECT 1')).rejects.toThrow()
    expect(lost).toHaveLength(1)
    await client.end()
  })

  it('end() closes the connection: the server no longer sees it', async () => {
    const client = await WorkerFleetClient.connect(fleetTarget(pg.adminUrl))
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
    const sessions = async (): Promise<string> => (await pg.sql(`SELECT count(*) FROM pg_stat_activity WHERE pid = ${rows[0]!.pid}`)).trim()
    expect(await sessions()).toBe('1')
    await client.end()
    await expect(client.query('SELECT 1')).rejects.toThrow(/closed/)
    await waitUntil('the backend is gone', async () => await sessions() === '0')
  })
})
