// Credentials the SSH bridge hands the daemon for the exec calls it makes on a user's behalf. A grant is a random
// secret that lives exactly as long as its session and is known only to this process and the daemon it calls, so
// the plugin can trust it to name the SSH user: the plugin's own records then show alice, not the bridge.

import { randomBytes, timingSafeEqual } from 'node:crypto'

export const BRIDGE_HEADER = 'X-Portcullis-Bridge'

export interface BridgeGrant {
  /** The header value; never logged, never recorded. */
  readonly secret: string
  readonly user: string
  readonly session: string
}

export class BridgeGrants {
  readonly #bySecret = new Map<string, BridgeGrant>()

  issue (user: string, session: string): BridgeGrant {
    const grant = Object.freeze({ secret: randomBytes(32).toString('base64url'), user, session })
    this.#bySecret.set(grant.secret, grant)
    return grant
  }

  revoke (grant: BridgeGrant): void {
    this.#bySecret.delete(grant.secret)
  }

  /** The live grant with this secret, or undefined. The map lookup is by the full secret; compare again in
   * constant time so a near miss answers no faster than a far one. */
  find (secret: string): BridgeGrant | undefined {
    const grant = this.#bySecret.get(secret)
    if (grant === undefined) return undefined
    const given = Buffer.from(secret)
    const known = Buffer.from(grant.secret)
    return given.length === known.length && timingSafeEqual(given, known) ? grant : undefined
  }

  get size (): number {
    return this.#bySecret.size
  }
}
