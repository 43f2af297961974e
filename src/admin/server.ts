// The admin socket: the only way other commands reach the audit store while `serve` owns it (LevelDB allows one
// process). A unix socket readable by root alone; the routes are versioned so the CLI and daemon can differ.

import http from 'node:http'
import express from 'express'
import type { Logger } from 'pino'
import type { AuditStore } from '../audit/store.js'
import { errorHandler } from '../http-errors.js'
import { listenUnixSocket } from '../protocol/unix-socket.js'
import type { AuditSigningKey } from '../audit/signing-key.js'
import { addAuditIntegrityRoutes } from './audit-integrity.js'
import { addAuditBundledRoute } from './audit-bundle-routes.js'
import { auditReadRouter } from './audit-read-routes.js'
import { adminCallerFields, identifyAdminPeer } from './peer-identity.js'
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
  // One request per connection: who is reading is asked of the kernel for each request, and a kept-alive connection
  // could change hands (SCM_RIGHTS) between two of them.
  app.use((_req, res, next) => {
    res.setHeader('Connection', 'close')
    next()
  })

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

  app.post('/v1/policy/reload', async (req, res) => {
    // The policy.reload record names who asked: the admin socket's peer, as the kernel reports it.
    const outcome = deps.policy.reload({ via: 'admin-socket', ...await adminCallerFields(req) })
    res.status(outcome.ok ? 200 : 422).json(outcome)
  })

  app.use('/v1/audit', auditReadRouter(deps, identifyAdminPeer))
  addAuditBundledRoute(app, deps)
  addAuditIntegrityRoutes(app, deps)
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

/** Listens on the admin socket, mode 0600 from the first instant (root only), in a 0700 directory when it makes one. */
export async function listenAdmin (app: express.Express, socketPath: string): Promise<http.Server> {
  const server = http.createServer(app)
  await listenUnixSocket(server, socketPath, { mode: 0o600, dirMode: 0o700 })
  return server
}
