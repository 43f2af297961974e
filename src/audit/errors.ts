// Errors the audit store raises. Callers match on `err.code`, never on message text.

import { type ErrorCode, PortcullisError } from '../errors.js'

/** The audit store's codes, declared with all the others in src/errors.ts. */
export type AuditErrorCode = Extract<ErrorCode, `PORTCULLIS_AUDIT_${string}`>

export class AuditError extends PortcullisError {
  declare readonly code: AuditErrorCode

  constructor (code: AuditErrorCode, args: string[] = [], options?: ErrorOptions) {
    super(code, ...args)
    this.name = 'AuditError'
    this.causedBy(options)
  }
}

/** The message of whatever was thrown, for embedding in one of ours. */
export function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
