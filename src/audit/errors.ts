// Errors the audit store raises. Callers match on `err.code`, never on message text.

import { ERRORS, type ErrorCode } from '../errors.js'

/** The audit store's codes, declared with all the others in src/errors.ts. */
export type AuditErrorCode = Extract<ErrorCode, `PORTCULLIS_AUDIT_${string}`>

export class AuditError extends Error {
  readonly code: AuditErrorCode

  constructor (code: AuditErrorCode, args: string[] = [], options?: ErrorOptions) {
    let i = 0
    super(ERRORS[code].replace(/%s/g, () => args[i++] ?? ''), options)
    this.name = 'AuditError'
    this.code = code
  }
}

/** The message of whatever was thrown, for embedding in one of ours. */
export function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
