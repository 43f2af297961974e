// Errors the audit store raises. Callers match on `err.code`, never on message text.
// Same shape as the registry in src/errors.ts so these entries can move there as they are.

export const AUDIT_ERRORS = {
  PORTCULLIS_AUDIT_LOCKED: 'The audit store %s is locked by another process: a running `portcullis serve` owns it. Use the admin socket commands (`portcullis audit tail|export|verify`) while it runs, or stop the daemon to open the store directly.',
  PORTCULLIS_AUDIT_OPEN_FAILED: 'Cannot open the audit store %s: %s. Check that the directory is writable by portcullis and not damaged.',
  PORTCULLIS_AUDIT_NOT_FOUND: 'There is no audit store at %s. Pass the data directory that `portcullis serve --data` uses.',
  PORTCULLIS_AUDIT_HEAD_MISMATCH: 'The audit store %s does not match its own head (%s), so portcullis will not add to it. Run `portcullis audit verify --data %s` to find the first bad record, and keep a copy of the directory for investigation.',
  PORTCULLIS_AUDIT_WRITE_FAILED: 'Writing to the audit store failed: %s. Every call waiting for it was denied; check the disk, then restart `portcullis serve`.',
  PORTCULLIS_AUDIT_UNAVAILABLE: 'The audit store refuses new records since a write failed (%s). Restart `portcullis serve` once the disk problem is fixed.',
  PORTCULLIS_AUDIT_CLOSED: 'The audit store is closed; no more records can be added.',
  PORTCULLIS_AUDIT_INVALID_INPUT: 'This audit record cannot be stored: %s.',
  PORTCULLIS_AUDIT_CORRUPT: 'The audit record under key %s cannot be read (%s). Run `portcullis audit verify` to check the whole chain.'
} as const

export type AuditErrorCode = keyof typeof AUDIT_ERRORS

export class AuditError extends Error {
  readonly code: AuditErrorCode

  constructor (code: AuditErrorCode, args: string[] = [], options?: ErrorOptions) {
    let i = 0
    super(AUDIT_ERRORS[code].replace(/%s/g, () => args[i++] ?? ''), options)
    this.name = 'AuditError'
    this.code = code
  }
}

export function isAuditError (err: unknown, code?: AuditErrorCode): err is AuditError {
  return err instanceof AuditError && (code === undefined || err.code === code)
}

/** The message of whatever was thrown, for embedding in one of ours. */
export function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
