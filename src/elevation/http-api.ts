// The user side of elevation: a small HTTP API on a loopback TCP port (`serve --elevation-listen`), where users
// sign in with the same JWT their docker CLI sends (`Authorization: Bearer <token>`), verified like the plugin
// verifies it (algorithm, issuer and audience pinned).

import http from 'node:http'
import type { AddressInfo } from 'node:net'
import express, { type Request } from 'express'
import type { Logger } from 'pino'
import { PortcullisError } from '../errors.js'
import type { TokenVerifier } from '../identity/tokens.js'
import { errorHandler, sendError } from '../http-errors.js'
import { readBearer } from '../identity/bearer.js'
import { ElevationError } from './errors.js'
import { elevationRouter, type Caller } from './routes.js'
import type { ElevationService } from './service.js'

export const DEFAULT_ELEVATION_LISTEN = '127.0.0.1:2224'

/** The elevation API; with `auditRoutes`, also the audit read routes for auditors under /v1/audit (docs/audit-access.md). */
export function createElevationApp (service: ElevationService, tokens: TokenVerifier | null, logger: Logger, auditRoutes?: express.Router): express.Express {
  const app = express()
  app.disable('x-powered-by')
  // First: the elevation router answers every other path under /v1 (404), so an auditor has no route but these.
  if (auditRoutes !== undefined) {
    app.use('/v1/audit', auditRoutes)
    app.use('/v1/audit', errorHandler(logger, 'audit API'))
  }
  app.use('/v1', elevationRouter(service, (req) => bearer(req, tokens, service), logger))
  app.use((req, res) => {
    sendError(res, new ElevationError('PORTCULLIS_ELEVATION_NO_ROUTE', [`${req.method} ${req.path}`, 'under /v1/requests and /v1/audit']))
  })
  return app
}

function bearer (req: Request, tokens: TokenVerifier | null, service: ElevationService): Caller {
  const signedIn = readBearer(req, tokens)
  if (!signedIn.ok) {
    // Refused at once; the record (or the count) follows without holding the answer.
    void service.refuseSignIn({ detail: signedIn.reason, remote: req.socket.remoteAddress ?? null, method: req.method, path: req.originalUrl })
    throw new ElevationError('PORTCULLIS_ELEVATION_UNAUTHENTICATED', [signedIn.reason])
  }
  return { actor: { user: signedIn.user, via: 'http', tokenId: signedIn.tokenId } }
}

/** `127.0.0.1:2224`, `[::1]:2224` → host and port; `off` → null. Throws PORTCULLIS_USAGE otherwise. */
export function parseListen (text: string): { host: string, port: number } | null {
  if (text === 'off') return null
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text)
  const port = match === null ? NaN : Number(match[3])
  if (match === null || !(port >= 1 && port <= 65535)) {
    throw new PortcullisError('PORTCULLIS_USAGE', `--elevation-listen ${JSON.stringify(text)} is not HOST:PORT (like ${DEFAULT_ELEVATION_LISTEN}) or off`, 'serve')
  }
  return { host: match[1] ?? match[2]!, port }
}

/** 127.0.0.0/8, ::1 and localhost: where bearer tokens over plain HTTP stay on the machine. */
export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** Listens; rejects with PORTCULLIS_ELEVATION_LISTEN when the address is taken or not ours. */
export function listenElevation (app: express.Express, host: string, port: number): Promise<{ server: http.Server, address: AddressInfo }> {
  const server = http.createServer(app)
  // Requests are tiny; a client that dawdles is holding a socket for nothing.
  server.requestTimeout = 30_000
  server.headersTimeout = 10_000
  // An auditor's follow is a long response: a client gone without a word (a host that died, a cut network) is found
  // by TCP keepalive, and the read's place is freed, instead of being held until its token expires.
  server.on('connection', (socket) => socket.setKeepAlive(true, 30_000))
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new PortcullisError('PORTCULLIS_ELEVATION_LISTEN', `${host}:${port}`, err.message))
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve({ server, address: server.address() as AddressInfo })
    })
  })
}
