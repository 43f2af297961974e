// A test file's private PostgreSQL with the fleet schema migrated in, as the shipper tests need it: made before the
// file's tests, stopped and removed after them.
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { connectFleet, fleetTarget, type FleetTarget } from '../../src/fleet/connection.js'
import { migrateFleetSchema } from '../../src/fleet/migrate.js'
import { removeDirSync } from './index.js'
import { startPostgres, type Postgres } from './postgres.js'

export interface MigratedFleet {
  /** The file's temp dir (the cluster lives in it; tests put their hosts' keys and stores there too). */
  root: string
  pg: Postgres
  /** The superuser's target, for shippers under test. */
  target: FleetTarget
}

/** Registers the file's hooks; `ready` gets the database once it is up, before the first test. */
export function useMigratedFleet (prefix: string, ready: (fleet: MigratedFleet) => void): void {
  let fleet: MigratedFleet | undefined
  let root: string | undefined
  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), prefix))
    const pg = await startPostgres(root)
    const target = fleetTarget(pg.adminUrl)
    const client = await connectFleet(target)
    await migrateFleetSchema(client, target)
    await client.end()
    fleet = { root, pg, target }
    ready(fleet)
  }, 120_000)
  afterAll(async () => {
    await fleet?.pg.stop()
    if (root !== undefined) removeDirSync(root)
  }, 60_000)
}
