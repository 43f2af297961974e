// The private PostgreSQL of the fleet tests (scripts/lib/postgres.js, shared with the benchmarks), typed, with the
// tests' last-resort cleanup: a server whose test process dies is SIGKILLed.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import * as harness from '../../scripts/lib/postgres.js'
import { onProcessEnd } from './safety-net.js'

export interface Postgres {
  /** The directory holding the cluster's socket: a libpq `host`. */
  readonly socketDir: string
  readonly port: number
  /** The superuser's connection URL (trust on the private socket). */
  readonly adminUrl: string
  /** A URL for `user` on this cluster (the password goes in a file, never in the URL). */
  url: (user: string) => string
  readonly pid: number | null
  /** Runs SQL as the superuser with psql; resolves with its stdout. */
  sql: (statement: string) => Promise<string>
  /** Stops the server (fast shutdown) and waits for its process to end. */
  stop: () => Promise<void>
  /** Starts it again on the same directory and port. */
  start: () => Promise<void>
  /** For a standby: makes it the primary. */
  promote: () => Promise<void>
}

/** A cluster in `dir` with a database `portcullis`, started; the superuser `postgres` logs in without a password. */
export async function startPostgres (dir: string): Promise<Postgres> {
  return await harness.startPostgres(dir, { onProcessEnd }) as Postgres
}

/** A streaming standby of `primary` in `dir`, started read-only. */
export async function startStandby (primary: Postgres, dir: string): Promise<Postgres> {
  return await harness.startStandby(primary, dir, { onProcessEnd }) as Postgres
}

export interface FleetLogin {
  /** `--fleet URL --fleet-password-file FILE`, as a host or a CLI command connects as this role. */
  args: string[]
  passwordFile: string
}

/** Makes a login role `name` on `pg` in `memberOf` (a role `fleet init-db` made: portcullis_ingest, portcullis_reader,
 * portcullis_publisher) and writes its password to `<name>.pw` (0600) in `dir`. */
export async function fleetLogin (pg: Postgres, dir: string, name: string, password: string, memberOf: string): Promise<FleetLogin> {
  await pg.sql(`CREATE ROLE ${name} LOGIN PASSWORD '${password}' IN ROLE ${memberOf}`)
  const passwordFile = path.join(dir, `${name}.pw`)
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 })
  return { args: ['--fleet', pg.url(name), '--fleet-password-file', passwordFile], passwordFile }
}
