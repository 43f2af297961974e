// The user names portcullis records its own calls under; the policy may not give them to anyone.

/** Who the bridge's housekeeping calls are recorded as (with authMethod `bridge-housekeeping`). */
export const BRIDGE_USER = 'portcullis-bridge'

/** Names portcullis records its own calls under (its look-ups, the bridge's housekeeping): no caller may bear them. */
export const RESERVED_USERS: ReadonlySet<string> = new Set(['portcullis', BRIDGE_USER])
