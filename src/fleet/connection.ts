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
  /** One config per host the URL lists, tried in order (libpq's multi-host form). */
  candidates: pg.ClientConfig[]
  /** `read-write`: a server in recovery (a standby) or read-only is skipped, as libpq's target_session_attrs does,
   * so hosts follow a failover to whichever server is the primary now. */
  targetSessionAttrs: 'any' | 'read-write'
}

/** The query keys `--fleet` takes (libpq's, as node-postgres reads them). Any other is refused: an unknown key is a
 * typo or a setting node-postgres would ignore, and its value would be logged and recorded as part of the URL. */
const QUERY_KEYS = new Set([
  'host', 'port', 'user', 'target_session_attrs', 'application_name', 'options',
  'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslnegotiation', 'ssl', 'uselibpqcompat'
])

/**
 * Reads `--fleet URL` and `--fleet-password-file FILE` (else $PORTCULLIS_FLEET_PASSWORD, else none). The URL may
 * list several servers, as libpq takes them: `postgresql://u@db1:5432,db2:5432/portcullis?target_session_attrs=read-write`,
 * or socket directories `?host=/run/a,/run/b&port=5432,5433`. A URL that carries a secret anywhere is refused before
 * anything else (PORTCULLIS_FLEET_URL_PASSWORD), and no error repeats what was given unless it has been checked, so
 * the `url` kept (logged, shown by `status`, written into records) holds nothing secret.
 */
export function fleetTarget (url: string, passwordFile?: string, env: NodeJS.ProcessEnv = process.env): FleetTarget {
  const secret = secretIn(url)
  if (secret !== null) throw new PortcullisError('PORTCULLIS_FLEET_URL_PASSWORD', secret)
  // libpq's URL form, as node-postgres reads it: the WHATWG parser refuses `postgresql://user@/db?host=/socket/dir`.
  const shape = /^(postgres(?:ql)?:\/\/)([^@/?#\s]*@)?([^@/?#\s]*)([^\s#]*)$/.exec(url)
  if (shape === null) throw new PortcullisError('PORTCULLIS_FLEET_URL_INVALID', shown(url), 'it must start with postgresql:// and hold no spaces, # or second @')
  const [, scheme, userinfo = '', authority, rest] = shape as unknown as [string, string, string | undefined, string, string]
  const query = new URLSearchParams(rest.includes('?') ? rest.slice(rest.indexOf('?') + 1) : '')
  const keys = [...query.keys()]
  const unknown = keys.find((key) => !QUERY_KEYS.has(key))
  if (unknown !== undefined) throw new PortcullisError('PORTCULLIS_FLEET_URL_INVALID', shown(url), `it has the query key ${JSON.stringify(unknown)}, which portcullis does not take (it takes ${[...QUERY_KEYS].join(', ')})`)
  const repeated = keys.find((key, i) => keys.indexOf(key) !== i)
  if (repeated !== undefined) throw new PortcullisError('PORTCULLIS_FLEET_URL_INVALID', shown(url), `it gives the query key ${repeated} twice; list several servers in one value, comma-separated`)
  const attrs = query.get('target_session_attrs') ?? 'any'
  if (attrs !== 'any' && attrs !== 'read-write') throw new PortcullisError('PORTCULLIS_FLEET_URL_INVALID', url, 'target_session_attrs must be any or read-write')
  query.delete('target_session_attrs')
  const path = rest.includes('?') ? rest.slice(0, rest.indexOf('?')) : rest
  // Each server of the list as a URL of its own: hosts in the authority, or socket directories in ?host=.
  const queryHosts = query.get('host')?.split(',') ?? []
  const queryPorts = query.get('port')?.split(',') ?? []
  const urls: string[] = []
  if (queryHosts.length > 1) {
    if (authority !== '') throw new PortcullisError('PORTCULLIS_FLEET_URL_INVALID', url, 'list the servers either before the path or in ?host=, not both')
    queryHosts.forEach((host, i) => {
      const one = new URLSearchParams(query)
      one.set('host', host)
      const port = queryPorts[i] ?? queryPorts[0]
      if (port !== undefined) one.set('port', port)
      else one.delete('port')
      urls.push(`${scheme}${userinfo}${path}?${one.toString()}`)
    })
  } else {
    const remaining = query.toString()
    for (const host of authority.split(',')) urls.push(`${scheme}${userinfo}${host}${path}${remaining !== '' ? '?' + remaining : ''}`)
  }
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
  const candidates = urls.map((one) => {
    let parsed: ReturnType<typeof parseConnectionString>
    try {
      parsed = parseConnectionString(one)
    } catch (err) {
      throw new PortcullisError('PORTCULLIS_FLEET_URL_INVALID', url, (err as Error).message)
    }
    return {
      // The parsed URL, not `connectionString`: node-postgres lets the URL's (empty) password override ours.
      ...withoutPassword(toClientConfig(parsed)),
      ...(password !== undefined ? { password } : {}),
      application_name: 'portcullis',
      connectionTimeoutMillis: 5_000,
      // A query that hangs (a network partition) is cut, so the shipper reconnects instead of waiting forever.
      query_timeout: 30_000,
      keepAlive: true
    }
  })
  return { url, candidates, targetSessionAttrs: attrs }
}

/**
 * Where `url` carries a secret, or null: a password in the user part (`USER:PASSWORD@`, also percent-encoded, or
 * after a second `@`), a query key that names one (`password`, `sslpassword`, in any case or encoding), or a
 * `password=` setting of libpq's keyword/value form (which is refused anyway, but its secret must not be repeated).
 */
function secretIn (url: string): string | null {
  if (/(^|\s)(ssl)?password\s*=/i.test(url)) return 'a password= setting of a keyword/value connection string'
  const scheme = url.indexOf('://')
  if (scheme === -1) return null
  const afterScheme = url.slice(scheme + 3)
  // Up to the last @ of the whole string, not of the authority alone: a password may hold /, ? or #, which would
  // otherwise end the authority early and leave the password's tail to be read as a path, query or fragment.
  const at = afterScheme.lastIndexOf('@')
  if (at !== -1 && decoded(afterScheme.slice(0, at)).includes(':')) return 'in the user part, USER:PASSWORD@'
  const queryAt = afterScheme.indexOf('?')
  const hashAt = afterScheme.indexOf('#')
  const query = queryAt === -1 ? '' : afterScheme.slice(queryAt + 1, hashAt > queryAt ? hashAt : undefined)
  const fragment = hashAt === -1 ? '' : afterScheme.slice(hashAt + 1)
  for (const part of [query, fragment]) {
    for (const key of new URLSearchParams(part).keys()) {
      if (/pass/i.test(key)) return `in the query, as ${key}=`
    }
  }
  return null
}

function decoded (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** `url` as an error may repeat it before it is checked: the scheme, user and servers, without the query and the
 * fragment (where a value may be a secret under a name secretIn does not know), or nothing when it is not a URL. */
function shown (url: string): string {
  const head = /^[a-z]+:\/\/[^/?#\s]*(\/[^?#\s]*)?/i.exec(url)
  if (head === null) return '(the value of --fleet, not repeated: it is not a postgresql:// URL, and libpq\'s keyword/value form is not taken)'
  return head[0] + (head[0].length < url.length ? ' (rest not repeated)' : '')
}

function withoutPassword (config: pg.ClientConfig): pg.ClientConfig {
  const { password: _password, ...rest } = config
  return rest
}

/** Connects to the first server of the list that answers (and, with read-write, takes writes), or throws
 * PORTCULLIS_FLEET_UNREACHABLE / PORTCULLIS_FLEET_LOGIN with the reason the last one gave. */
export async function connectFleet (target: FleetTarget): Promise<pg.Client> {
  let failure: unknown = null
  for (const config of target.candidates) {
    const client = new pg.Client(config)
    // An error on an idle connection (the server went away) must not end the process: the next query fails instead.
    client.on('error', () => {})
    try {
      await client.connect()
      if (target.targetSessionAttrs === 'read-write') {
        const { rows } = await client.query<{ transaction_read_only: string }>('SHOW transaction_read_only')
        if (rows[0]?.transaction_read_only === 'on') throw new PortcullisError('PORTCULLIS_FLEET_UNREACHABLE', target.url, `${describeServer(config)} is read-only (a standby?), and the URL asks for target_session_attrs=read-write`)
      }
      return client
    } catch (err) {
      failure = err
      await client.end().catch(() => {})
    }
  }
  throw fleetError(failure, target)
}

function describeServer (config: pg.ClientConfig): string {
  return `${String(config.host ?? 'localhost')}:${String(config.port ?? 5432)}`
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
