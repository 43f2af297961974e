// The token key `serve` verifies users' tokens with. Without it every token holder would silently become
// anonymous, so a missing key stops the start unless the operator asked for exactly that (--allow-anonymous).

import { createPublicKey } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { hasPortcullisCode, PortcullisError } from '../errors.js'
import { readKey, readTokenSettings } from '../identity/keys.js'
import { TokenVerifier } from '../identity/tokens.js'

/** `maxLifetimeMs`: the policy's longest token lifetime, read at each verification so a reload applies at once. */
export function loadTokenVerifier (keysDir: string, allowAnonymous: boolean, logger: Logger, maxLifetimeMs: () => number): TokenVerifier | null {
  const publicKeyPath = join(keysDir, 'token.pub')
  if (!existsSync(publicKeyPath)) {
    if (!allowAnonymous) throw new PortcullisError('PORTCULLIS_TOKEN_KEY_MISSING', publicKeyPath)
    logger.warn({ keys: keysDir }, 'no token key and --allow-anonymous: every caller without a TLS identity is anonymous')
    return null
  }
  try {
    const publicKey = readKey(keysDir, 'publicKey')
    // Parsed now, so a damaged key stops the start instead of refusing every token later.
    createPublicKey(publicKey)
    return new TokenVerifier(publicKey, readTokenSettings(keysDir), { maxLifetimeMs })
  } catch (err) {
    if (hasPortcullisCode(err) && err.code !== 'PORTCULLIS_INPUT') throw err
    throw new PortcullisError('PORTCULLIS_TOKEN_KEY_INVALID', publicKeyPath, (err as Error).message)
  }
}
