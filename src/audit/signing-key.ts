// The Ed25519 key pair that signs audit checkpoints. Made once (by `portcullis keys init`, or the first `serve`
// without one) and kept: the public key is what a reviewer checks checkpoints and bundles against, so it must
// stay the same for as long as the records it vouches for are kept.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AuditError, messageOf } from './errors.js'

export const AUDIT_PRIVATE_KEY_FILE = 'audit_ed25519.key'
export const AUDIT_PUBLIC_KEY_FILE = 'audit_ed25519.pub'

export interface AuditPublicKey {
  /** First 16 hex digits of sha256(SPKI DER): what checkpoints name and what a reviewer compares. */
  keyId: string
  publicKey: KeyObject
  /** SPKI PEM, as stored in audit_ed25519.pub. */
  publicKeyPem: string
}

export interface AuditSigningKey extends AuditPublicKey {
  privateKey: KeyObject
  /** Where the private key is stored. */
  path: string
}

/** Makes the key pair in `dir` unless there is one; returns whether it was made. */
export function ensureAuditKey (dir: string): { key: AuditSigningKey, created: boolean } {
  const path = join(dir, AUDIT_PRIVATE_KEY_FILE)
  if (existsSync(path)) return { key: readAuditSigningKey(dir), created: false }
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const pair = generateKeyPairSync('ed25519', {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' }
  })
  // 'wx': two processes making the key at once must not end up with different halves.
  writeFileSync(path, pair.privateKey, { mode: 0o600, flag: 'wx' })
  writeFileSync(join(dir, AUDIT_PUBLIC_KEY_FILE), pair.publicKey, { mode: 0o644 })
  return { key: readAuditSigningKey(dir), created: true }
}

/** The key pair in `dir`. The public half is derived from the private key, so the two cannot disagree. */
export function readAuditSigningKey (dir: string): AuditSigningKey {
  const path = join(dir, AUDIT_PRIVATE_KEY_FILE)
  if (!existsSync(path)) throw new AuditError('PORTCULLIS_AUDIT_KEY_MISSING', [path, dir])
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new AuditError('PORTCULLIS_AUDIT_KEY_INVALID', [path, messageOf(err)], { cause: err })
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new AuditError('PORTCULLIS_AUDIT_KEY_INVALID', [path, `an ${String(privateKey.asymmetricKeyType)} key, not Ed25519`])
  return { ...publicKeyOf(createPublicKey(privateKey)), privateKey, path }
}

/** A public key from an SPKI PEM file: audit_ed25519.pub, or the copy a reviewer was given. */
export function readAuditPublicKey (path: string): AuditPublicKey {
  if (!existsSync(path)) throw new AuditError('PORTCULLIS_AUDIT_KEY_MISSING', [path, '<keys dir>'])
  try {
    return parseAuditPublicKey(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new AuditError('PORTCULLIS_AUDIT_KEY_INVALID', [path, messageOf(err)], { cause: err })
  }
}

/** The public key in the keys directory `dir` (audit_ed25519.pub). */
export function readAuditPublicKeyFromDir (dir: string): AuditPublicKey {
  const path = join(dir, AUDIT_PUBLIC_KEY_FILE)
  if (!existsSync(path)) throw new AuditError('PORTCULLIS_AUDIT_KEY_MISSING', [path, dir])
  return readAuditPublicKey(path)
}

/** Throws when the text is not an Ed25519 public key in PEM. */
export function parseAuditPublicKey (pem: string): AuditPublicKey {
  const publicKey = createPublicKey(pem)
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new Error(`an ${String(publicKey.asymmetricKeyType)} key, not Ed25519`)
  return publicKeyOf(publicKey)
}

export function auditKeyId (publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)
}

function publicKeyOf (publicKey: KeyObject): AuditPublicKey {
  return { keyId: auditKeyId(publicKey), publicKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string }
}
