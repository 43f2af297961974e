// The elevation routes, the same for users (TCP, bearer token: http-api.ts) and for root on the host (the admin
// socket, acting as --as USER: src/admin/elevation-routes.ts). Only who the caller is differs.

import express, { type NextFunction, type Request, type Response } from 'express'
import type { Logger } from 'pino'
import { messageOf } from '../audit/errors.js'
import { PortcullisError } from '../errors.js'
import { errorHandler, sendError } from '../http-errors.js'
import { ElevationError } from './errors.js'
import type { ElevationRequest } from './request.js'
import type { Actor, ElevationService } from './service.js'

/** A user acting; or root on the admin socket without --as, who may read everything and change nothing. */
export type Caller = { actor: Actor } | { root: true }

/** Who sent the request; throws an ElevationError (401) when that cannot be told. */
export type Identify = (req: Request) => Caller

/** A request as the API returns it: as stored, plus whether its grant counts right now. */
export type RequestView = ElevationRequest & { active: boolean }

const MAX_BODY = '16kb'

export function elevationRouter (service: ElevationService, identify: Identify, logger: Logger): express.Router {
  const router = express.Router()
  router.use(express.json({ limit: MAX_BODY }))
  const view = (request: ElevationRequest): RequestView => ({ ...request, active: request.grant !== undefined && service.isActive(request.grant.id) })

  router.post('/requests', async (req, res) => {
    const actor = acting(identify(req), 'create a request')
    res.status(201).json(view(await service.create(actor, req.body)))
  })

  router.get('/requests', (req, res) => {
    const caller = identify(req)
    res.json({ requests: service.list('root' in caller ? null : caller.actor.user).map(view) })
  })

  router.get('/requests/:id', (req, res) => {
    const caller = identify(req)
    res.json(view(service.get(String(req.params.id), 'root' in caller ? null : caller.actor.user)))
  })

  router.post('/requests/:id/approve', async (req, res) => {
    const actor = acting(identify(req), 'approve a request')
    res.json(view(await service.approve(String(req.params.id), actor, bodyReason(req))))
  })

  router.post('/requests/:id/deny', async (req, res) => {
    const actor = acting(identify(req), 'deny a request')
    res.json(view(await service.deny(String(req.params.id), actor, bodyReason(req) ?? '')))
  })

  router.post('/requests/:id/revoke', async (req, res) => {
    const actor = acting(identify(req), 'revoke a request')
    res.json(view(await service.revoke(String(req.params.id), actor, bodyReason(req))))
  })

  router.use((req: Request, res: Response) => {
    sendError(res, new ElevationError('PORTCULLIS_ELEVATION_NO_ROUTE', [`${req.method} ${req.path}`, '/requests, /requests/ID, /requests/ID/approve, /requests/ID/deny and /requests/ID/revoke']))
  })

  // The JSON body parser's own refusals (not JSON, too large, wrong charset) carry a 4xx status: bad input, said so.
  router.use((err: unknown, _req: Request, _res: Response, next: NextFunction) => {
    const status = err instanceof PortcullisError ? undefined : (err as { status?: unknown } | null)?.status
    if (typeof status === 'number' && status >= 400 && status < 500) {
      next(new ElevationError('PORTCULLIS_ELEVATION_BAD_INPUT', [`the body must be a JSON object of at most ${MAX_BODY} (${messageOf(err)})`]))
      return
    }
    next(err)
  })
  router.use(errorHandler(logger, 'elevation API'))
  return router
}

function acting (caller: Caller, what: string): Actor {
  if ('root' in caller) throw new ElevationError('PORTCULLIS_ELEVATION_BAD_INPUT', [`on the admin socket, say whom you act for to ${what} (--as USER, ?as=USER)`])
  return caller.actor
}

/** `{"reason": "…"}`, if the body has one. */
function bodyReason (req: Request): string | undefined {
  const body = req.body as { reason?: unknown } | undefined
  return typeof body?.reason === 'string' ? body.reason : undefined
}
