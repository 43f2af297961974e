// Why one authorized_keys line cannot be used, for the policy validator (with the JSON path) and the bridge's log.

import { PortcullisError } from '../errors.js'

export type AuthorizedKeyProblem =
  | 'empty'
  | 'bad-options'
  | 'unsupported-option'
  | 'missing-key'
  | 'private-key'
  | 'refused-type'
  | 'unknown-type'
  | 'bad-key-data'

/** `problem` is for code; the message is for the person fixing the policy. */
export class AuthorizedKeyError extends PortcullisError {
  readonly problem: AuthorizedKeyProblem

  constructor (problem: AuthorizedKeyProblem, message: string) {
    super('PORTCULLIS_SSH_KEY_INVALID', message)
    this.name = 'AuthorizedKeyError'
    this.problem = problem
  }
}
