// Keeps what one request can put into an audit record bounded: long strings keep a prefix, long lists their
// first items, and the record says what was cut (where, the original length, and the sha256 of the whole).

import { createHash } from 'node:crypto'
import { MAX_RECORDED_TEXT } from '../request/limits.js'

/** Most items kept of one list in a record. */
export const MAX_RECORDED_ITEMS = 256

export interface Cut {
  /** Where in the record: `uri`, `reason`, `fields.cmd.3`… */
  at: string
  /** Original length (characters for strings, items for lists). */
  length: number
  /** sha256 of the whole original (strings: UTF-8; lists: their JSON). */
  sha256: string
}

export function boundText (text: string, at: string, cuts: Cut[], max = MAX_RECORDED_TEXT): string {
  if (text.length <= max) return text
  cuts.push({ at, length: text.length, sha256: sha256(text) })
  return text.slice(0, max) + '…'
}

/** A copy of `value` with every string and list within the limits; `value` itself is left as it is. */
function boundValue (value: unknown, at: string, cuts: Cut[], depth = 0): unknown {
  if (typeof value === 'string') return boundText(value, at, cuts)
  if (value === null || typeof value !== 'object') return value
  if (depth > 8) {
    const json = JSON.stringify(value) ?? ''
    cuts.push({ at, length: json.length, sha256: sha256(json) })
    return '…'
  }
  if (Array.isArray(value)) {
    let list = value
    if (list.length > MAX_RECORDED_ITEMS) {
      cuts.push({ at, length: list.length, sha256: sha256(JSON.stringify(list) ?? '') })
      list = list.slice(0, MAX_RECORDED_ITEMS)
    }
    return list.map((item, i) => boundValue(item, `${at}.${i}`, cuts, depth + 1))
  }
  const out: Record<string, unknown> = Object.create(Object.getPrototypeOf(value) === null ? null : Object.prototype) as Record<string, unknown>
  let kept = 0
  const keys = Object.keys(value)
  for (const key of keys) {
    if (kept++ >= MAX_RECORDED_ITEMS) {
      cuts.push({ at, length: keys.length, sha256: sha256(JSON.stringify(value) ?? '') })
      break
    }
    out[boundText(key, `${at} key`, cuts)] = boundValue((value as Record<string, unknown>)[key], `${at}.${key.slice(0, 64)}`, cuts, depth + 1)
  }
  return out
}

function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Whether `value` is within every limit already (the common case: then nothing is copied). */
function withinBounds (value: unknown, depth: number): boolean {
  if (typeof value === 'string') return value.length <= MAX_RECORDED_TEXT
  if (value === null || typeof value !== 'object') return true
  if (depth > 8) return false
  if (Array.isArray(value)) {
    if (value.length > MAX_RECORDED_ITEMS) return false
    for (const item of value) if (!withinBounds(item, depth + 1)) return false
    return true
  }
  let count = 0
  for (const key in value) {
    if (++count > MAX_RECORDED_ITEMS || key.length > MAX_RECORDED_TEXT) return false
    if (!withinBounds((value as Record<string, unknown>)[key], depth + 1)) return false
  }
  return true
}

/** The URI, reason and fields of a decision record, bounded; `fields.cut` lists what was cut, if anything. */
export function boundDecision (uri: string | null, reason: string, fields: Record<string, unknown> | null): { uri: string | null, reason: string, fields: Record<string, unknown> | null } {
  if ((uri === null || uri.length <= MAX_RECORDED_TEXT) && reason.length <= 4 * MAX_RECORDED_TEXT && withinBounds(fields, 0)) {
    return { uri, reason, fields }
  }
  const cuts: Cut[] = []
  const boundedUri = uri === null ? null : boundText(uri, 'uri', cuts)
  const boundedReason = boundText(reason, 'reason', cuts, 4 * MAX_RECORDED_TEXT)
  const boundedFields = fields === null ? null : boundValue(fields, 'fields', cuts) as Record<string, unknown>
  if (cuts.length === 0) return { uri, reason, fields }
  return { uri: boundedUri, reason: boundedReason, fields: { ...boundedFields, cut: cuts } }
}
