// The CLI side of elevation: the user API over TCP with the user's token, or the admin socket as root acting
// for --as USER. Both answer the same JSON; errors come back as `{error, code}` and are raised as they are.

import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ERRORS, PortcullisError, type ErrorCode } from '../errors.js'
import { TOKEN_HEADER } from '../identity/resolve.js'

export type ElevationEndpoint =
  | { kind: 'http', url: string, token: string }
  | { kind: 'admin', socketPath: string, as: string | null }

export interface ElevationReply {
  status: number
  body: unknown
}

/** An error the server answered with, carrying its code when it is one of ours. */
class ElevationApiError extends Error {
  readonly code: ErrorCode
  readonly status: number

  constructor (code: ErrorCode, message: string, status: number) {
    super(message)
    this.name = 'ElevationApiError'
    this.code = code
    this.status = status
  }
}

/** Sends one call (`path` under the routes' root, e.g. `/requests`); resolves with 2xx replies, throws the server's
 * error otherwise. */
export async function callElevation (endpoint: ElevationEndpoint, method: string, path: string, body?: unknown): Promise<ElevationReply> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const headers: Record<string, string> = { accept: 'application/json' }
  if (payload !== undefined) headers['content-type'] = 'application/json'
  let options: http.RequestOptions
  let transport: typeof http | typeof https = http
  let where: string
  if (endpoint.kind === 'http') {
    const base = new URL(endpoint.url)
    const url = new URL(base.pathname.replace(/\/$/, '') + '/v1' + path, base)
    transport = url.protocol === 'https:' ? https : http
    headers.authorization = `Bearer ${endpoint.token}`
    options = { method, hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port, path: url.pathname + url.search, headers }
    where = endpoint.url
  } else {
    const query = endpoint.as !== null ? `${path.includes('?') ? '&' : '?'}as=${encodeURIComponent(endpoint.as)}` : ''
    options = { method, socketPath: endpoint.socketPath, path: '/v1/elevation' + path + query, headers }
    where = endpoint.socketPath
  }
  const { status, text } = await send(transport, options, payload, where, endpoint.kind)
  let parsed: unknown
  try {
    parsed = text === '' ? null : JSON.parse(text)
  } catch {
    throw new PortcullisError('PORTCULLIS_ELEVATION_API', String(status), text.slice(0, 500))
  }
  if (status >= 200 && status < 300) return { status, body: parsed }
  const { error, code } = (parsed ?? {}) as { error?: unknown, code?: unknown }
  if (typeof error === 'string' && typeof code === 'string' && code in ERRORS) throw new ElevationApiError(code as ErrorCode, error, status)
  throw new PortcullisError('PORTCULLIS_ELEVATION_API', String(status), typeof error === 'string' ? error : text.slice(0, 500))
}

function send (transport: typeof http | typeof https, options: http.RequestOptions, payload: string | undefined, where: string, kind: ElevationEndpoint['kind']): Promise<{ status: number, text: string }> {
  return new Promise((resolve, reject) => {
    const req = transport.request({ ...options, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')))
    req.on('error', (err) => reject(kind === 'admin'
      ? new PortcullisError('PORTCULLIS_ADMIN_UNREACHABLE', where, err.message)
      : new PortcullisError('PORTCULLIS_ELEVATION_UNREACHABLE', where, err.message)))
    req.end(payload)
  })
}

/** Where the docker CLI keeps its config: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigPath (env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG !== undefined && env.DOCKER_CONFIG !== '' ? env.DOCKER_CONFIG : join(homedir(), '.docker'), 'config.json')
}

/**
 * The token to send: --token, else $PORTCULLIS_TOKEN, else the X-Portcullis-Token the docker CLI sends (its
 * config's HttpHeaders). Null when there is none.
 */
export function findToken (explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  if (explicit !== undefined && explicit.trim() !== '') return explicit.trim()
  if (env.PORTCULLIS_TOKEN !== undefined && env.PORTCULLIS_TOKEN.trim() !== '') return env.PORTCULLIS_TOKEN.trim()
  let config: unknown
  try {
    config = JSON.parse(readFileSync(dockerConfigPath(env), 'utf8'))
  } catch {
    return null
  }
  const headers = (config as { HttpHeaders?: unknown } | null)?.HttpHeaders
  if (headers === null || typeof headers !== 'object') return null
  // The docker CLI sends header names as written; match any case, as the plugin does.
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (name.toLowerCase() === TOKEN_HEADER.toLowerCase() && typeof value === 'string' && value.trim() !== '') return value.trim()
  }
  return null
}
