// The checkpoint format: what is signed, how it is checked, how it is stored and exported. Pure functions, so
// verify, the bundle verifier and anyone with the public key and node:crypto can check one.

import { sign, verify } from 'node:crypto'
import type { AuditHead } from './record.js'
import type { AuditPublicKey, AuditSigningKey } from './signing-key.js'
import { parseJsonObject } from '../json-object.js'

export interface Checkpoint {
  /** The record signed. */
  seq: number
  /** That record's hash. */
  hash: string
  /** When it was signed (ISO 8601). */
  time: string
  /** The signing key's ID (see auditKeyId). */
  keyId: string
  /** Ed25519 signature, base64, over checkpointMessage(seq, hash, time). */
  signature: string
}

const DOMAIN = 'portcullis-checkpoint-v1'

/** The bytes signed: a fixed prefix (so no other signature of this key can pass for a checkpoint) and the fields. */
export function checkpointMessage (seq: number, hash: string, time: string): Buffer {
  return Buffer.from(`${DOMAIN}\n${seq}\n${hash}\n${time}`, 'utf8')
}

export function createCheckpoint (key: AuditSigningKey, record: AuditHead, time: Date = new Date()): Checkpoint {
  const iso = time.toISOString()
  const signature = sign(null, checkpointMessage(record.seq, record.hash, iso), key.privateKey).toString('base64')
  return { seq: record.seq, hash: record.hash, time: iso, keyId: key.keyId, signature }
}

/** Why a checkpoint's signature does not hold, or null when one of `keys` made it. */
export function checkpointSignatureProblem (checkpoint: Checkpoint, keys: readonly AuditPublicKey[]): string | null {
  const key = keys.find((k) => k.keyId === checkpoint.keyId)
  if (key === undefined) {
    return `it names key ${checkpoint.keyId}, which is not the audit key (${keys.map((k) => k.keyId).join(', ') || 'none given'})`
  }
  const signature = Buffer.from(checkpoint.signature, 'base64')
  // Ed25519 signatures are 64 bytes; anything else is not one (and base64 decoding skips junk silently).
  if (signature.length !== 64 || signature.toString('base64') !== checkpoint.signature) return 'its signature is malformed'
  let valid: boolean
  try {
    valid = verify(null, checkpointMessage(checkpoint.seq, checkpoint.hash, checkpoint.time), key.publicKey, signature)
  } catch {
    valid = false
  }
  return valid ? null : `its signature does not match key ${key.keyId}: it was made with another key, or its fields were changed`
}

/** A stored (or exported) checkpoint, or null when the text is not one. */
export function parseCheckpoint (text: string): Checkpoint | null {
  const value = parseJsonObject(text)
  if (value === null) return null
  const { seq, hash, time, keyId, signature } = value
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return null
  if (typeof hash !== 'string' || typeof time !== 'string' || typeof keyId !== 'string' || typeof signature !== 'string') return null
  return { seq: seq as number, hash, time, keyId, signature }
}

export function encodeCheckpoint (checkpoint: Checkpoint): string {
  const { seq, hash, time, keyId, signature } = checkpoint
  return JSON.stringify({ seq, hash, time, keyId, signature })
}
