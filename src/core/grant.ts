// A just-in-time role grant, as the policy core sees it: a plain fact, like a membership that ends.
// Requests, approvals and expiry live in src/elevation; decide() only reads the grants it is given.

export interface Grant {
  /** `g-` + 12 hex. */
  readonly id: string
  readonly user: string
  readonly project: string
  readonly role: string
  /** Epoch milliseconds. The caller drops ended grants before deciding: the policy core has no clock. */
  readonly expiresAt: number
  /** The request (`r-…`) the grant was approved from. */
  readonly request: string
}
