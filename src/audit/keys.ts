// Key layout in LevelDB. Records live under `r!` + seq as 16 hex digits, so key order is seq order;
// `s!head` holds the last record's seq and hash and is written in the same batch as that record.

import type { AuditHead } from './record.js'

const RECORD_PREFIX = 'r!'
// After every record key: the head is rewritten with each batch, and keeping it at the end of the key space
// keeps LevelDB's compactions from rewriting the record range for it.
export const HEAD_KEY = 's!head'
/** `s!index` = the index layout version (indexes.ts); the indexes live under `x!`, after everything else. */
export const INDEX_VERSION_KEY = 's!index'
/** `s!bundled` = the highest seq an evidence bundle holds; retention removes nothing after it. */
export const BUNDLED_KEY = 's!bundled'
/** `s!shipped` = the highest seq the fleet database holds (src/fleet/shipper.ts); retention removes nothing after it. */
export const SHIPPED_KEY = 's!shipped'

/** Iterator bounds that cover every record key and nothing else. */
export const RECORD_RANGE = { gte: RECORD_PREFIX, lt: 'r"' } as const // '"' follows '!'

const SEQ_DIGITS = 16
const KEY_PATTERN = /^r!([0-9a-f]{16})$/

export function recordKey (seq: number): string {
  return RECORD_PREFIX + seq.toString(16).padStart(SEQ_DIGITS, '0')
}

/** The seq a record key stands for, or null for a key this layout never writes. */
export function seqFromKey (key: string): number | null {
  const match = KEY_PATTERN.exec(key)
  return match === null ? null : Number.parseInt(match[1]!, 16)
}

export function encodeHead (head: AuditHead): string {
  return JSON.stringify({ seq: head.seq, hash: head.hash })
}

/** The stored head, or null when it is not a `{ seq, hash }` object. */
export function decodeHead (raw: string): AuditHead | null {
  try {
    const value = JSON.parse(raw) as unknown
    if (value === null || typeof value !== 'object') return null
    const { seq, hash } = value as Record<string, unknown>
    if (!Number.isSafeInteger(seq) || typeof hash !== 'string') return null
    return { seq: seq as number, hash }
  } catch {
    return null
  }
}

// Session recordings. The asciicast text of a session is stored in chunks under `c!<session>!<index as 8 hex>`,
// so one session's chunks are contiguous and in order; `o!<session>` marks a session whose recording is still
// open. Both prefixes sort before `r!`, away from the records and the head.

/** `s-` and 16 lowercase hex digits: what the bridge hands out, and all a key may embed. */
const SESSION_ID_PATTERN = /^s-[0-9a-f]{16}$/

const CAST_PREFIX = 'c!'
const MARKER_PREFIX = 'o!'
const CHUNK_DIGITS = 8

export function isSessionId (value: unknown): value is string {
  return typeof value === 'string' && SESSION_ID_PATTERN.test(value)
}

export function castKey (sessionId: string, index: number): string {
  return CAST_PREFIX + sessionId + '!' + index.toString(16).padStart(CHUNK_DIGITS, '0')
}

/** Iterator bounds that cover one session's chunks and nothing else. */
export function castRange (sessionId: string): { gte: string, lt: string } {
  return { gte: CAST_PREFIX + sessionId + '!', lt: CAST_PREFIX + sessionId + '"' } // '"' follows '!'
}

/** The chunk index a cast key stands for, or null for a key this layout never writes. */
export function chunkIndexFromKey (key: string): number | null {
  const match = /^c!s-[0-9a-f]{16}!([0-9a-f]{8})$/.exec(key)
  return match === null ? null : Number.parseInt(match[1]!, 16)
}

export function markerKey (sessionId: string): string {
  return MARKER_PREFIX + sessionId
}

/** Iterator bounds that cover every open-session marker. */
export const MARKER_RANGE = { gte: MARKER_PREFIX, lt: 'o"' } as const

/** The session a marker key names, or null for a key this layout never writes. */
export function sessionFromMarkerKey (key: string): string | null {
  const session = key.slice(MARKER_PREFIX.length)
  return key.startsWith(MARKER_PREFIX) && isSessionId(session) ? session : null
}

export function encodeMarker (startSeq: number): string {
  return JSON.stringify({ startSeq })
}

/** The seq of the session.start a marker points at, or null when the marker is unreadable. */
export function decodeMarker (raw: string): number | null {
  try {
    const value = JSON.parse(raw) as { startSeq?: unknown } | null
    return value !== null && typeof value === 'object' && Number.isSafeInteger(value.startSeq) && (value.startSeq as number) >= 1
      ? value.startSeq as number
      : null
  } catch {
    return null
  }
}

// Signed checkpoints (checkpoints.ts) under `k!` + the seq they sign, as 16 hex digits, so key order is seq order.
// `s!base` names the last record removed by expiry (retention.ts): the chain verifies from the record after it.

const CHECKPOINT_PREFIX = 'k!'
const CHECKPOINT_KEY_PATTERN = /^k!([0-9a-f]{16})$/
export const BASE_KEY = 's!base'

export function checkpointKey (seq: number): string {
  return CHECKPOINT_PREFIX + seq.toString(16).padStart(SEQ_DIGITS, '0')
}

/** Iterator bounds that cover every checkpoint key and nothing else. */
export const CHECKPOINT_RANGE = { gte: CHECKPOINT_PREFIX, lt: 'k"' } as const

/** The seq a checkpoint key stands for, or null for a key this layout never writes. */
export function seqFromCheckpointKey (key: string): number | null {
  const match = CHECKPOINT_KEY_PATTERN.exec(key)
  return match === null ? null : Number.parseInt(match[1]!, 16)
}

// The layout version (`s!layout`, beside `s!index`): what the key spaces below look like. A store without it is at
// layout 1, where elevation requests lay under `e!req!<id>` and the ownership registry under `w!e!<kind>!<id>` and
// `w!adopted`; layout 2 keeps them in sublevels the store owns (migration.ts moves them). Records, the head,
// checkpoints, chunks, markers and indexes keep the keys above in every layout: moving them would rewrite the whole
// store, millions of records, for no reader's gain.

export const LAYOUT_VERSION_KEY = 's!layout'
export const LAYOUT_VERSION = 2

/**
 * The small key spaces other modules keep beside the records, each an abstract-level sublevel of the store's
 * database (keys `!<name>!<key>`, which sort before every key above). Their keys are declared here; the store hands a
 * space out with `keySpace(name)`, and only its writes reach it.
 */
export const KEY_SPACES = {
  /** Elevation requests (src/elevation): `req!<id>` → the request as JSON. */
  elevation: { legacyPrefix: 'e!' },
  /** The ownership registry (src/ownership): `e!<kind>!<id>` → `{ project, via }`, `adopted` → when adoption ran. */
  ownership: { legacyPrefix: 'w!' },
  /** Fleet shipping (src/fleet/recording-shipper.ts): `rec!<session>` → the bytes of a closed session's recording the
   * fleet database holds whole; retention keeps a recording until it does. New in layout 2: nothing to move. */
  fleet: { legacyPrefix: null },
  /** SIEM outputs (src/siem): `delivered!<output>` → the last seq the output has made durable where the SIEM's agent
   * reads it; retention keeps every record after it. New in layout 2: nothing to move. */
  outputs: { legacyPrefix: null }
} as const

const OUTPUT_DELIVERED_PREFIX = 'delivered!'
export const OUTPUT_DELIVERED_RANGE = prefixRange(OUTPUT_DELIVERED_PREFIX)

/** `delivered!<output>` in the `outputs` key space. */
export function outputDeliveredKey (output: string): string {
  return OUTPUT_DELIVERED_PREFIX + output
}

/** `rec!<session>` in the `fleet` key space. */
export function recordingShippedKey (sessionId: string): string {
  return `rec!${sessionId}`
}

export type KeySpaceName = keyof typeof KEY_SPACES

/** Iterator bounds that cover every key starting with `prefix` and nothing else (`prefix` ends in '!'). */
export function prefixRange (prefix: string): { gte: string, lt: string } {
  return { gte: prefix, lt: prefix.slice(0, -1) + '"' } // '"' follows '!'
}

const ELEVATION_REQUEST_PREFIX = 'req!'
export const ELEVATION_REQUEST_RANGE = prefixRange(ELEVATION_REQUEST_PREFIX)

export function elevationRequestKey (id: string): string {
  return ELEVATION_REQUEST_PREFIX + id
}

const OWNERSHIP_ENTRY_PREFIX = 'e!'
export const OWNERSHIP_ENTRY_RANGE = prefixRange(OWNERSHIP_ENTRY_PREFIX)
export const OWNERSHIP_ADOPTED_KEY = 'adopted'

export function ownershipEntryKey (kind: string, id: string): string {
  return `${OWNERSHIP_ENTRY_PREFIX}${kind}!${id}`
}

/** The kind and ID an ownership entry key names, or null for a key this layout never writes. */
export function ownershipEntryFromKey (key: string): { kind: string, id: string } | null {
  if (!key.startsWith(OWNERSHIP_ENTRY_PREFIX)) return null
  const rest = key.slice(OWNERSHIP_ENTRY_PREFIX.length)
  const bang = rest.indexOf('!')
  return bang < 0 ? null : { kind: rest.slice(0, bang), id: rest.slice(bang + 1) }
}
