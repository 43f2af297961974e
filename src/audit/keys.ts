// Key layout in LevelDB. Records live under `r!` + seq as 16 hex digits, so key order is seq order;
// `s!head` holds the last record's seq and hash and is written in the same batch as that record.

import type { AuditHead } from './record.js'

export const RECORD_PREFIX = 'r!'
// After every record key: the head is rewritten with each batch, and keeping it at the end of the key space
// keeps LevelDB's compactions from rewriting the record range for it.
export const HEAD_KEY = 's!head'

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
