// Credentials the SSH bridge hands the daemon for the exec calls it makes. Each is a random secret known only to
// this process and the daemon it calls, so the plugin can trust what it names:
// - a session grant names the SSH user: the plugin judges and records the session's exec calls as alice;
// - a housekeeping grant names the bridge itself and one exec: the bridge's own look-ups of that exec (its PID to
//   stop it, its exit status) are recorded as the bridge's, and keep working after the user's access has ended.

import { randomBytes, timingSafeEqual } from 'node:crypto'

export const BRIDGE_HEADER = 'X-Portcullis-Bridge'

export interface SessionGrant {
  readonly kind: 'session'
  /** The header value; never logged, never recorded. */
  readonly secret: string
  readonly user: string
  readonly session: string
}

export interface HousekeepingGrant {
  readonly kind: 'housekeeping'
  readonly secret: string
  readonly session: string
  /** The one exec (full ID, as the daemon returned it to the bridge) this grant may inspect. */
  readonly exec: string
}

export type BridgeGrant = SessionGrant | HousekeepingGrant

export class BridgeGrants {
  readonly #bySecret = new Map<string, BridgeGrant>()

  issue (user: string, session: string): SessionGrant {
    return this.#add({ kind: 'session', secret: newSecret(), user, session })
  }

  /** For the bridge's own look-ups of the exec it created for `session`: nothing else. */
  issueHousekeeping (session: string, exec: string): HousekeepingGrant {
    return this.#add({ kind: 'housekeeping', secret: newSecret(), session, exec })
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

  #add<T extends BridgeGrant> (grant: T): T {
    Object.freeze(grant)
    this.#bySecret.set(grant.secret, grant)
    return grant
  }
}

function newSecret (): string {
  return randomBytes(32).toString('base64url')
}
