// Errors the elevation service raises, each with the HTTP status the API answers it with. Callers match on
// `err.code`, never on message text; the codes are declared with all the others in src/errors.ts.

import { ERRORS, type ErrorCode } from '../errors.js'

export type ElevationErrorCode = Extract<ErrorCode, `PORTCULLIS_ELEVATION_${string}`>

const STATUS: Partial<Record<ElevationErrorCode, number>> = {
  PORTCULLIS_ELEVATION_BAD_INPUT: 400,
  PORTCULLIS_ELEVATION_UNKNOWN_PROJECT: 400,
  PORTCULLIS_ELEVATION_PROJECT_GONE: 409,
  PORTCULLIS_ELEVATION_RATE_LIMITED: 429,
  PORTCULLIS_ELEVATION_TOO_MANY_PENDING: 409,
  PORTCULLIS_ELEVATION_UNKNOWN_ROLE: 400,
  PORTCULLIS_ELEVATION_TTL_TOO_LONG: 400,
  PORTCULLIS_ELEVATION_UNAUTHENTICATED: 401,
  PORTCULLIS_ELEVATION_NOT_ABOVE: 403,
  PORTCULLIS_ELEVATION_TOO_FAR: 403,
  PORTCULLIS_ELEVATION_LEVEL_TOO_LOW: 403,
  PORTCULLIS_ELEVATION_SELF_APPROVAL: 403,
  PORTCULLIS_ELEVATION_NOT_APPROVER: 403,
  PORTCULLIS_ELEVATION_NOT_FOUND: 404,
  PORTCULLIS_ELEVATION_ALREADY_HELD: 409,
  PORTCULLIS_ELEVATION_DUPLICATE: 409,
  PORTCULLIS_ELEVATION_NOT_PENDING: 409,
  PORTCULLIS_ELEVATION_NOT_REVOCABLE: 409,
  PORTCULLIS_ELEVATION_UNAVAILABLE: 503
}

export class ElevationError extends Error {
  readonly code: ElevationErrorCode
  /** What the HTTP API answers with. */
  readonly status: number
  /** Seconds until trying again makes sense (429: sent as Retry-After). */
  retryAfterSeconds?: number

  constructor (code: ElevationErrorCode, args: string[] = [], options?: ErrorOptions) {
    let i = 0
    super(ERRORS[code].replace(/%s/g, () => args[i++] ?? ''), options)
    this.name = 'ElevationError'
    this.code = code
    this.status = STATUS[code] ?? 500
  }
}
