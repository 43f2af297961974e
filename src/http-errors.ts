// The one way an HTTP API of portcullis (the admin socket, the elevation API) answers an error: the error's code,
// its message and the registry's status (src/errors.ts), so a client shows the code and never parses the text. An
// error without a code of ours is a fault of portcullis: logged, and answered as PORTCULLIS_INTERNAL.

import type { ErrorRequestHandler, Response } from 'express'
import type { Logger } from 'pino'
import { messageOf } from './audit/errors.js'
import { PortcullisError } from './errors.js'

/** Answers `err` as `{ error, code }` with its status (401: WWW-Authenticate; Retry-After when it says when). */
export function sendError (res: Response, err: PortcullisError): void {
  if (err.status === 401) res.setHeader('WWW-Authenticate', 'Bearer')
  if (err.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.retryAfterSeconds))
  res.status(err.status).json({ error: err.message, code: err.code })
}

/** Express's error handler for an API: a reply already under way is cut off; anything else is answered by sendError. */
export function errorHandler (logger: Logger, api: string): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    if (err instanceof PortcullisError) logger.warn({ err }, `${api} request refused`)
    else logger.error({ err }, `${api} request failed`)
    if (res.headersSent) {
      res.destroy()
      return
    }
    sendError(res, err instanceof PortcullisError ? err : new PortcullisError('PORTCULLIS_INTERNAL', messageOf(err)))
  }
}
