// Reaching the fleet's PostgreSQL: the URL from the command line (never with a password in it: command lines are
// visible to every user of the host, and the URL is logged and recorded), the password from a file or the
// environment, and PostgreSQL's failures turned into coded errors that say what to do.

import { readFileSync } from 'node:fs'
import pg from 'pg'
import { parse as parseConnectionString, toClientConfig } from 'pg-connection-string'
import { PortcullisError } from '../errors.js'
import { FLEET_SCHEMA, SCHEMA_VERSION } from './schema.js'

/** The environment variable `--fleet-password-file` stands in for. */
export const PASSWORD_ENV = 'PORTCULLIS_FLEET_PASSWORD'

export interface FleetTarget {
  /** The URL as given, without a password: safe to log and record. */
  url: string
  config: pg.ClientConfig
}

/** Reads `--fleet URL` and `--fleet-password-file FILE` (else $PORTCULLIS_FLEET_PASSWORD, else none). */
export function fleetTarget (url: string, passwordFile?: string, env: NodeJS.ProcessEnv = process.env): FleetTarget {
  // libpq's URL form, as node-postgres reads it: the WHATWG parser refuses `postgresql://user@/db?host=/socket/dir`.
  if (!/^postgres(ql)?:\/\/[^\s]*$/.test(url)) throw new PortcullisError('PORTCULLIS_FLEET_URL_INVALID', url, 'it must start with postgresql:// and hold no spaces')
  let parsed: ReturnType<typeof parseConnectionString>
  try {
    parsed = parseConnectionString(url)
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_FLEET_URL_INVALID', url, (err as Error).message)
  }
  if (parsed.password !== undefined && parsed.password !== '') throw new PortcullisError('PORTCULLIS_FLEET_URL_PASSWORD')
  let password: string | undefined
  if (passwordFile !== undefined) {
    try {
      password = readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '')
    } catch (err) {
      throw new PortcullisError('PORTCULLIS_FLEET_PASSWORD_FILE', passwordFile, (err as Error).message)
    }
  } else if (env[PASSWORD_ENV] !== undefined && env[PASSWORD_ENV] !== '') {
    password = env[PASSWORD_ENV]
  }
  return {
    url,
    config: {
      // The parsed URL, not `connectionString`: node-postgres lets the URL's (empty) password override ours.
      ...withoutPassword(toClientConfig(parsed)),
      ...(password !== undefined ? { password } : {}),
      application_name: 'portcullis',
      connectionTimeoutMillis: 5_000,
      // A query that hangs (a network partition) is cut, so the shipper reconnects instead of waiting forever.
      query_timeout: 30_000,
      keepAlive: true
    }
  }
}

function withoutPassword (config: pg.ClientConfig): pg.ClientConfig {
  const { password: _password, ...rest } = config
  return rest
}

/** Connects, or throws PORTCULLIS_FLEET_UNREACHABLE / PORTCULLIS_FLEET_LOGIN with the reason. */
export async function connectFleet (target: FleetTarget): Promise<pg.Client> {
  const client = new pg.Client(target.config)
  // An error on an idle connection (the server went away) must not end the process: the next query fails instead.
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw fleetError(err, target)
  }
  return client
}

/** A PostgreSQL or socket failure as the coded error a user can act on. */
export function fleetError (err: unknown, target: FleetTarget): PortcullisError {
  if (err instanceof PortcullisError) return err
  const code = (err as { code?: unknown }).code
  const message = err instanceof Error ? err.message : String(err)
  // 28P01 wrong password, 28000 no such role or no pg_hba entry, 3D000 no such database.
  if (code === '28P01' || code === '28000' || code === '3D000') return new PortcullisError('PORTCULLIS_FLEET_LOGIN', target.url, message)
  // 42501: insufficient privilege.
  if (code === '42501') return new PortcullisError('PORTCULLIS_FLEET_PRIVILEGE', target.url, message)
  return new PortcullisError('PORTCULLIS_FLEET_UNREACHABLE', target.url, message)
}

/** Checks that init-db made the tables this build writes: the schema at exactly this build's version. */
export async function checkSchema (client: pg.Client, target: FleetTarget): Promise<void> {
  let version: number | null
  try {
    const result = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${FLEET_SCHEMA}.schema_migrations`)
    version = result.rows[0]?.version ?? null
  } catch (err) {
    if ((err as { code?: unknown }).code === '42P01' || (err as { code?: unknown }).code === '3F000') version = null
    else throw fleetError(err, target)
  }
  if (version === null) throw new PortcullisError('PORTCULLIS_FLEET_SCHEMA_MISSING', target.url)
  if (version > SCHEMA_VERSION) throw new PortcullisError('PORTCULLIS_FLEET_SCHEMA_NEWER', target.url, String(version), String(SCHEMA_VERSION))
  if (version < SCHEMA_VERSION) throw new PortcullisError('PORTCULLIS_FLEET_SCHEMA_OLDER', target.url, String(version), String(SCHEMA_VERSION))
}
