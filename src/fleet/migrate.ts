// `portcullis fleet init-db`: makes or upgrades the fleet's schema. Each missing migration runs in its own
// transaction with its row in schema_migrations, under an advisory lock so two operators running it at once
// cannot both apply one. Run again, it changes nothing.

import type pg from 'pg'
import { PortcullisError } from '../errors.js'
import { fleetError, type FleetTarget } from './connection.js'
import { BOOTSTRAP_SQL, FLEET_SCHEMA, GRANTS_SQL, MIGRATIONS, SCHEMA_VERSION } from './schema.js'

/** An arbitrary constant: the advisory lock that init-db holds while it migrates. */
const MIGRATION_LOCK = 0x706f7274 // "port"

export interface MigrationResult {
  from: number
  to: number
  applied: Array<{ version: number, description: string }>
}

export async function migrateFleetSchema (client: pg.Client, target: FleetTarget): Promise<MigrationResult> {
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
    try {
      await client.query(BOOTSTRAP_SQL)
      const { rows } = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${FLEET_SCHEMA}.schema_migrations`)
      const from = rows[0]?.version ?? 0
      if (from > SCHEMA_VERSION) throw new PortcullisError('PORTCULLIS_FLEET_SCHEMA_NEWER', target.url, String(from), String(SCHEMA_VERSION))
      const applied: MigrationResult['applied'] = []
      for (const migration of MIGRATIONS.filter((m) => m.version > from)) {
        await client.query('BEGIN')
        try {
          await client.query(migration.sql)
          await client.query(`INSERT INTO ${FLEET_SCHEMA}.schema_migrations (version, description) VALUES ($1, $2)`, [migration.version, migration.description])
          await client.query('COMMIT')
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {})
          throw err
        }
        applied.push({ version: migration.version, description: migration.description })
      }
      await client.query(GRANTS_SQL)
      return { from, to: SCHEMA_VERSION, applied }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {})
    }
  } catch (err) {
    throw fleetError(err, target)
  }
}
