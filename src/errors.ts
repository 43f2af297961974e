// One registry of every error portcullis raises. Users match on `err.code`, never on message text;
// test/unit/errors.test.ts checks that every code thrown in src/ is declared here.

export const ERRORS = {
  PORTCULLIS_USAGE: 'Bad command line: %s. Run `portcullis %s --help` for the options.',
  PORTCULLIS_POLICY_READ: 'Cannot read the policy file %s: %s.',
  PORTCULLIS_POLICY_INVALID: 'The policy %s is invalid:\n%s\nFix these and run `portcullis policy validate --config %s`.',
  PORTCULLIS_KEYS_MISSING: 'No token key at %s. Run `portcullis keys init --keys %s` first.',
  PORTCULLIS_KEYS_EXIST: 'Keys already exist in %s. Remove them first if you really want new ones (every issued token stops working).',
  PORTCULLIS_TOKEN_TTL: 'Cannot read the TTL %s: use a number of seconds or a duration like 30m, 8h, 7d.',
  PORTCULLIS_URI_INVALID: 'The request URI cannot be decoded: %s.',
  PORTCULLIS_ADMIN_UNREACHABLE: 'Cannot reach the portcullis admin socket %s (%s). Is `portcullis serve` running? Pass --admin-socket if it listens elsewhere.',
  PORTCULLIS_ADMIN_REQUEST: 'The admin socket answered %s: %s',
  PORTCULLIS_DOCKER_LOOKUP: 'Looking up %s %s in the Docker daemon failed: %s.',
  PORTCULLIS_SOCKET_IN_USE: 'Another process is already listening on %s. Stop it, or pass --socket/--admin-socket with another path.',
  PORTCULLIS_INPUT: 'Cannot read %s: %s.'
} as const

export type ErrorCode = keyof typeof ERRORS

export class PortcullisError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, ...args: string[]) {
    let i = 0
    super(ERRORS[code].replace(/%s/g, () => args[i++] ?? ''))
    this.name = 'PortcullisError'
    this.code = code
  }
}

export function isPortcullisError (err: unknown): err is PortcullisError {
  return err instanceof PortcullisError
}
