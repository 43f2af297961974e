// The policy's `tokens` settings: how long a token may be valid. A token is a bearer credential; one that lives
// for years (or, forged with a stolen key, for ever) outlives every review of who may hold it, so `token issue`
// refuses longer ones and verification refuses any token whose lifetime exceeds the cap.

import type { PolicyProblem } from './compile.js'
import { durationMs } from '../core/duration.js'
import { TOKEN_DEFAULTS } from './schema.js'

export interface TokensDocument {
  maxLifetime?: string
}

export interface TokenPolicy {
  /** The longest a token may be valid, from its iat to its exp. */
  readonly maxLifetimeMs: number
}

export function checkTokens (tokens: TokensDocument | undefined, problems: PolicyProblem[]): void {
  if (tokens?.maxLifetime !== undefined && durationMs(tokens.maxLifetime) <= 0) problems.push({ path: '$.tokens.maxLifetime', message: 'must be longer than 0' })
}

export function compileTokens (tokens: TokensDocument | undefined): TokenPolicy {
  return Object.freeze({ maxLifetimeMs: durationMs(tokens?.maxLifetime ?? TOKEN_DEFAULTS.maxLifetime) })
}
