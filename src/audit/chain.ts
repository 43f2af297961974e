// The hash chain: each record's hash covers its own stored text and the previous record's hash, so changing,
// removing, inserting or reordering any stored record breaks the chain at that record.
//
// A record is serialized once. Its body (every field but `hash`, `prevHash` last) is JSON.stringify'd, hashed,
// and stored with `,"hash":"<64 hex>"` put before its closing brace. Verifying works on the stored text, not on
// a parsed object, so any byte change to a stored record (even reordering its keys) breaks its hash, and a
// stored line verifies on its own: a line exported exactly as stored can be checked with recordHashMatches
// without portcullis, its keys or its database.

import crypto from 'node:crypto'
import type { AuditInput, AuditRecord } from './record.js'

/** A record and the exact text stored for it. */
export interface SealedRecord {
  record: AuditRecord
  text: string
}

/** `sha256hex(prevHash + '\n' + bodyText)`, where bodyText is the stored text without its hash. */
export function chainHash (prevHash: string, bodyText: string): string {
  return sha256hex(prevHash + '\n' + bodyText)
}

/** The stored text for a body: its JSON with `hash` added as the last field. */
export function withHash (bodyText: string, hash: string): string {
  return bodyText.slice(0, -1) + ',"hash":"' + hash + '"}'
}

// `,"hash":"` + 64 hex + `"}`: how every stored record ends.
const HASH_SUFFIX_LENGTH = 75
const HASH_SUFFIX = /^,"hash":"[0-9a-f]{64}"\}$/

/** The text a stored record's hash covers (the stored text minus its hash), or null when the stored text does
 * not end with `,"hash":"<64 hex>"}`. */
export function bodyTextOf (storedText: string): string | null {
  if (storedText.length <= HASH_SUFFIX_LENGTH || !HASH_SUFFIX.test(storedText.slice(-HASH_SUFFIX_LENGTH))) return null
  return storedText.slice(0, -HASH_SUFFIX_LENGTH) + '}'
}

/**
 * Whether a stored record (or an exported line that is exactly its stored text) matches its own hash when
 * chained onto `prevHash`. Passing the previous line's hash checks the link too, since the record's own
 * `prevHash` field is part of what is hashed; passing the record's `prevHash` checks only its content.
 */
export function recordHashMatches (storedText: string, prevHash: string): boolean {
  const bodyText = bodyTextOf(storedText)
  return bodyText !== null && chainHash(prevHash, bodyText) === storedText.slice(-66, -2)
}

/** Builds the record for `input` at position `seq` and seals it with its hash. Fields are always set in the
 * same order, `prevHash` last, because the stored text (and so the hash) follows that order. Optional fields are
 * left out when not given, to keep records small. Throws what JSON.stringify throws (a BigInt, a cycle). */
export function sealRecord (input: AuditInput, seq: number, time: string, prevHash: string): SealedRecord {
  const record = { seq, time, kind: input.kind, user: input.user ?? null, authMethod: input.authMethod ?? null } as AuditRecord
  if (input.tokenId != null) record.tokenId = input.tokenId
  record.action = input.action ?? null
  record.project = input.project ?? null
  record.resource = input.resource ?? null
  record.method = input.method ?? null
  record.uri = input.uri ?? null
  record.decision = input.decision ?? null
  record.reason = input.reason ?? null
  if (input.code != null) record.code = input.code
  if (input.role != null) record.role = input.role
  if (input.fields != null) record.fields = input.fields
  if (input.reqSeq != null) record.reqSeq = input.reqSeq
  if (input.status != null) record.status = input.status
  record.prevHash = prevHash
  const bodyText = JSON.stringify(record) // before `hash` exists on the object
  const hash = chainHash(prevHash, bodyText)
  record.hash = hash
  return { record, text: withHash(bodyText, hash) }
}

// One-shot hashing (Node ≥ 20.12) is about twice as fast as a Hash object for short inputs; this is per record.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash
function sha256hex (text: string): string {
  return oneShot !== undefined ? oneShot('sha256', text, 'hex') : crypto.createHash('sha256').update(text).digest('hex')
}
