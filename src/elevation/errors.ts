// Errors the elevation service raises (their HTTP statuses are in src/errors.ts's HTTP_STATUS). Callers match on
// `err.code`, never on message text; the codes are declared with all the others in src/errors.ts.

import { type ErrorCode, PortcullisError } from '../errors.js'

export type ElevationErrorCode = Extract<ErrorCode, `PORTCULLIS_ELEVATION_${string}`>

export class ElevationError extends PortcullisError {
  declare readonly code: ElevationErrorCode

  constructor (code: ElevationErrorCode, args: string[] = [], options?: ErrorOptions) {
    super(code, ...args)
    this.name = 'ElevationError'
    this.causedBy(options)
  }
}
