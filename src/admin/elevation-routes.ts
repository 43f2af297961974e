// Elevation on the admin socket: the user API's routes under /v1/elevation, for root on the host. `?as=USER`
// acts as that user (recorded with `via: admin-socket`); without it, root may list and read every request.

import type express from 'express'
import type { Request } from 'express'
import type { Logger } from 'pino'
import { elevationRouter, type Caller } from '../elevation/routes.js'
import type { ElevationService } from '../elevation/service.js'
import { adminCallerFields } from './peer-identity.js'

export function addElevationRoutes (app: express.Express, deps: { elevation?: ElevationService | null, logger: Logger }): void {
  const service = deps.elevation
  if (service === undefined || service === null) return
  // Who really acts, whatever --as says: the socket's peer, as the kernel reports it (recorded with each decision).
  app.use('/v1/elevation', async (req, res, next) => {
    res.locals.peer = (await adminCallerFields(req)).peer
    next()
  })
  app.use('/v1/elevation', elevationRouter(service, actingAs, deps.logger))
}

function actingAs (req: Request): Caller {
  const as = req.query.as
  const peer = req.res?.locals.peer as Record<string, unknown> | null | undefined
  return typeof as === 'string' && as !== '' ? { actor: { user: as, via: 'admin-socket', ...(peer !== undefined ? { peer } : {}) } } : { root: true }
}
