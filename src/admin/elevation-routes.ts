// Elevation on the admin socket: the user API's routes under /v1/elevation, for root on the host. `?as=USER`
// acts as that user (recorded with `via: admin-socket`); without it, root may list and read every request.

import type express from 'express'
import type { Request } from 'express'
import type { Logger } from 'pino'
import { elevationRouter, type Caller } from '../elevation/routes.js'
import type { ElevationService } from '../elevation/service.js'

export function addElevationRoutes (app: express.Express, deps: { elevation?: ElevationService | null, logger: Logger }): void {
  const service = deps.elevation
  if (service === undefined || service === null) return
  app.use('/v1/elevation', elevationRouter(service, actingAs, deps.logger))
}

function actingAs (req: Request): Caller {
  const as = req.query.as
  return typeof as === 'string' && as !== '' ? { actor: { user: as, via: 'admin-socket' } } : { root: true }
}
