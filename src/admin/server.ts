// The admin socket: the only way other commands reach the audit store while `serve` owns it (LevelDB allows one
// process). A unix socket readable by root alone; the routes are versioned so the CLI and daemon can differ.

import http from 'node:http'
import express, { type Request, type Response } from 'express'
import type { Logger } from 'pino'
import type { AuditStore } from '../audit/store.js'
import type { AuditRecord } from '../audit/record.js'
import { isSessionId } from '../audit/keys.js'
import { findSession, listSessions, openSessionIds } from '../audit/sessions.js'
import { PortcullisError } from '../errors.js'
import { errorHandler, sendError } from '../http-errors.js'
import { listenUnixSocket } from '../protocol/unix-socket.js'
import type { AuditSigningKey } from '../audit/signing-key.js'
import { addAuditIntegrityRoutes } from './audit-integrity.js'
import { addAuditExportRoute } from './audit-export-route.js'
import { addAuditBundleRoutes } from './audit-bundle-routes.js'
import { addElevationRoutes } from './elevation-routes.js'
import { addTokenRoutes } from './token-routes.js'
import type { ElevationService } from '../elevation/service.js'
import type { PolicySource } from '../policy/source.js'
import type { RecordingShipperStatus } from '../fleet/recording-shipper.js'
import type { ShipperStatus } from '../fleet/shipper.js'
import type { OutputStatus } from '../siem/record-output.js'
import type { AlertsStatus } from '../alerts/alerts.js'

export interface AdminDeps {
  audit: AuditStore
  policy: PolicySource
  logger: Logger
  startedAt: Date
  version: string
  /** The SSH bridge's state, null when it is off. */
  bridge?: () => BridgeStatus | null
  /** Signs checkpoints; verify checks them against its public half. Null when the daemon has none. */
  auditKey?: AuditSigningKey | null
  /** The token key directory (serve --keys): `token issue --admin-socket` signs with it. Unset: no token route. */
  keys?: string
  /** Elevation requests and grants (routes under /v1/elevation); null or unset: none. */
  elevation?: ElevationService | null
  /** Shipping to the fleet database: its state and lag; null when the host does not ship. */
  fleet?: () => ShipperStatus | null
  /** Shipping session recordings to the fleet database: its state and lag in bytes; null when the host does not ship. */
  fleetRecordings?: () => RecordingShipperStatus | null
  /** The SIEM outputs (policy `outputs`): each one's cursor and lag. */
  outputs?: () => OutputStatus[]
  /** The alert sinks (last delivery, failures, queue) and the conditions that last now. */
  alerts?: () => AlertsStatus | null
}

export interface BridgeStatus {
  listen: string
  hostKey: string
  sessions: number
  /** Why the bridge is not listening, when it could not start. */
  error?: string
}

export function createAdminApp (deps: AdminDeps): express.Express {
  const app = express()
  app.disable('x-powered-by')

  app.get('/v1/status', (_req, res) => {
    res.json({
      version: deps.version,
      pid: process.pid,
      startedAt: deps.startedAt.toISOString(),
      policy: { path: deps.policy.path, digest: deps.policy.current.digest, loadedAt: deps.policy.loadedAt.toISOString(), ...(deps.policy.revision !== null ? { revision: deps.policy.revision } : {}) },
      // `state` is what a monitor watches: `failing` while every call is denied because records cannot be written.
      audit: { state: auditState(deps.audit), head: deps.audit.head(), ...deps.audit.stats(), outage: deps.audit.outage() },
      bridge: deps.bridge?.() ?? null,
      fleet: deps.fleet?.() ?? null,
      fleetRecordings: deps.fleetRecordings?.() ?? null,
      outputs: deps.outputs?.() ?? [],
      alerts: deps.alerts?.() ?? null
    })
  })

  app.post('/v1/policy/reload', (_req, res) => {
    const outcome = deps.policy.reload()
    res.status(outcome.ok ? 200 : 422).json(outcome)
  })

  app.get('/v1/audit/tail', async (req, res) => {
    const n = intParam(req, 'n', 20)
    const follow = req.query.follow === 'true' || req.query.follow === '1'
    res.type('application/x-ndjson')
    const recent = await deps.audit.tail(n)
    for (const record of recent) res.write(JSON.stringify(record) + '\n')
    if (!follow) {
      res.end()
      return
    }
    let last = recent.at(-1)?.seq ?? deps.audit.head().seq
    const unsubscribe = deps.audit.subscribe((record: AuditRecord) => {
      if (record.seq <= last) return
      last = record.seq
      res.write(JSON.stringify(record) + '\n')
    })
    res.on('close', unsubscribe)
  })

  addAuditExportRoute(app, deps)

  app.get('/v1/audit/verify', async (_req, res) => {
    res.json(await deps.audit.verify(deps.auditKey != null ? { publicKeys: [deps.auditKey] } : {}))
  })

  app.get('/v1/audit/sessions', async (req, res) => {
    const user = stringParam(req, 'user')
    const container = stringParam(req, 'container')
    res.json(await listSessions(deps.audit, {
      limit: Math.min(intParam(req, 'limit', 50), MAX_SESSIONS),
      ...(user !== undefined ? { user } : {}),
      ...(container !== undefined ? { container } : {}),
      openSessions: await openSessionIds(deps.audit)
    }))
  })

  app.get('/v1/audit/sessions/:id', async (req, res) => {
    const id = sessionParam(req, res)
    if (id === null) return
    const session = await findSession(deps.audit, id, await openSessionIds(deps.audit))
    if (session === null) sendError(res, new PortcullisError('PORTCULLIS_SESSION_NOT_FOUND', id))
    else res.json(session)
  })

  // The recording exactly as stored, chunk after chunk, at the pace the client reads it.
  app.get('/v1/audit/sessions/:id/cast', async (req, res) => {
    const id = sessionParam(req, res)
    if (id === null) return
    const chunks = deps.audit.readCast(id)[Symbol.asyncIterator]()
    const first = await chunks.next()
    if (first.done === true) {
      const known = await findSession(deps.audit, id)
      sendError(res, new PortcullisError(known === null ? 'PORTCULLIS_SESSION_NOT_FOUND' : 'PORTCULLIS_SESSION_NO_RECORDING', id))
      return
    }
    res.setHeader('Content-Type', CAST_CONTENT_TYPE)
    let next: IteratorResult<string> = first
    try {
      while (next.done !== true) {
        if (res.destroyed) return
        if (!res.write(next.value)) await drained(res)
        next = await chunks.next()
      }
      res.end()
    } finally {
      // The client went away (or a read failed): close the LevelDB iterator now rather than at garbage collection.
      if (next.done !== true) await chunks.return?.()
    }
  })

  addAuditIntegrityRoutes(app, deps)
  addAuditBundleRoutes(app, deps)
  addElevationRoutes(app, deps)
  addTokenRoutes(app, deps)

  // A coded error (a storage failure, say) keeps its code, so the CLI shows it rather than a bare message.
  app.use(errorHandler(deps.logger, 'admin'))
  return app
}

/** `ok`, or why every call is denied: `failing` (a write failed; the store retries), `broken` (see AuditOutage). */
function auditState (audit: AuditStore): 'ok' | 'failing' | 'broken' {
  if (audit.failure === null) return 'ok'
  return audit.outage()?.state ?? 'failing'
}

/** asciinema's media type for asciicast files. */
const CAST_CONTENT_TYPE = 'application/x-asciicast'
const MAX_SESSIONS = 10_000

/** Resolves when the response can take more, or is gone. */
function drained (res: Response): Promise<void> {
  return new Promise<void>((resolve) => {
    res.once('drain', resolve)
    res.once('close', resolve)
  })
}

/** The `:id` of a sessions route, or null after answering 400 when it is not a session ID. */
function sessionParam (req: Request, res: Response): string | null {
  const id = req.params.id
  if (isSessionId(id)) return id
  sendError(res, new PortcullisError('PORTCULLIS_SESSION_ID_INVALID', String(id)))
  return null
}

function stringParam (req: Request, name: string): string | undefined {
  const raw = req.query[name]
  return typeof raw === 'string' && raw !== '' ? raw : undefined
}

function intParam (req: Request, name: string, fallback: number): number {
  const raw = req.query[name]
  if (typeof raw !== 'string' || !/^\d+$/.test(raw)) return fallback
  return Number(raw)
}

/** Listens on the admin socket, mode 0600 from the first instant (root only), in a 0700 directory when it makes one. */
export async function listenAdmin (app: express.Express, socketPath: string): Promise<http.Server> {
  const server = http.createServer(app)
  await listenUnixSocket(server, socketPath, { mode: 0o600, dirMode: 0o700 })
  return server
}
