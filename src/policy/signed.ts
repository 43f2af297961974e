// A policy revision as the fleet stores it: the policy's exact bytes, and an envelope signed with the policy-signing
// Ed25519 key (not the audit key) that binds those bytes (their sha256) to a revision number, a publisher, a time and
// whether it is a rollback. A host trusts a revision only when the envelope verifies under its pinned public key and
// every field it binds matches the row it came in: bytes, revision, key.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PortcullisError } from '../errors.js'

const POLICY_PRIVATE_KEY_FILE = 'policy_ed25519.key'
const POLICY_PUBLIC_KEY_FILE = 'policy_ed25519.pub'
const FORMAT = 'portcullis-policy/1'

/** What the signature covers. */
export interface PolicyEnvelope {
  format: typeof FORMAT
  revision: number
  /** sha256 of the policy's exact bytes, hex. */
  sha256: string
  publisher: string
  publishedAt: string
  rollback: boolean
  keyId: string
}

/** One revision as stored: the row of portcullis.policy_revisions, and the last good copy a host keeps. */
export interface SignedPolicy {
  revision: number
  policy: Buffer
  /** The envelope's JSON text, exactly as signed. */
  envelope: string
  /** Ed25519 signature of `envelope`, base64. */
  signature: string
  keyId: string
  publisher: string
  publishedAt: string
  rollback: boolean
}

export interface PolicyKey {
  keyId: string
  publicKey: KeyObject
}

export interface PolicySigningKey extends PolicyKey {
  privateKey: KeyObject
}

/** First 16 hex digits of sha256(SPKI DER), as the audit key's ID is made. */
function keyIdOf (publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)
}

/** Makes a policy-signing key pair in `dir`; never overwrites one. */
export function makePolicyKeys (dir: string): { privatePath: string, publicPath: string, keyId: string } {
  const privatePath = join(dir, POLICY_PRIVATE_KEY_FILE)
  const publicPath = join(dir, POLICY_PUBLIC_KEY_FILE)
  if (existsSync(privatePath) || existsSync(publicPath)) throw new PortcullisError('PORTCULLIS_POLICY_KEY_EXISTS', dir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const pair = generateKeyPairSync('ed25519', {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' }
  })
  writeFileSync(privatePath, pair.privateKey, { mode: 0o600, flag: 'wx' })
  writeFileSync(publicPath, pair.publicKey, { mode: 0o644, flag: 'wx' })
  return { privatePath, publicPath, keyId: keyIdOf(createPublicKey(pair.publicKey)) }
}

export function readPolicySigningKey (path: string): PolicySigningKey {
  const privateKey = readKey(path, (text) => createPrivateKey(text))
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new PortcullisError('PORTCULLIS_POLICY_KEY_INVALID', path, `an ${String(privateKey.asymmetricKeyType)} key, not Ed25519`)
  const publicKey = createPublicKey(privateKey)
  return { keyId: keyIdOf(publicKey), publicKey, privateKey }
}

export function readPolicyPublicKey (path: string): PolicyKey {
  // createPublicKey would take a private key too (deriving its public half): a private key has no place on a host.
  const publicKey = readKey(path, (text) => {
    if (text.includes('PRIVATE KEY')) throw new Error('a private key: pin the public half, policy_ed25519.pub')
    return createPublicKey(text)
  })
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new PortcullisError('PORTCULLIS_POLICY_KEY_INVALID', path, `an ${String(publicKey.asymmetricKeyType)} key, not Ed25519`)
  return { keyId: keyIdOf(publicKey), publicKey }
}

function readKey (path: string, parse: (text: string) => KeyObject): KeyObject {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_POLICY_KEY_MISSING', path, (err as Error).message)
  }
  try {
    return parse(text)
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_POLICY_KEY_INVALID', path, (err as Error).message)
  }
}

export function policySha256 (bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Signs `policy` as `revision`. */
export function signPolicy (key: PolicySigningKey, policy: Buffer, fields: { revision: number, publisher: string, publishedAt: string, rollback: boolean }): SignedPolicy {
  const envelope: PolicyEnvelope = { format: FORMAT, revision: fields.revision, sha256: policySha256(policy), publisher: fields.publisher, publishedAt: fields.publishedAt, rollback: fields.rollback, keyId: key.keyId }
  const text = JSON.stringify(envelope)
  return {
    ...fields,
    policy,
    envelope: text,
    signature: sign(null, Buffer.from(text, 'utf8'), key.privateKey).toString('base64'),
    keyId: key.keyId
  }
}

/**
 * Checks a stored revision against the pinned key: the signature over the envelope, then that the envelope binds
 * these bytes, this revision, this key, and the publisher, time and rollback flag the row shows. Throws a coded
 * PortcullisError naming what does not hold; returns the envelope.
 */
export function verifySignedPolicy (key: PolicyKey, signed: SignedPolicy): PolicyEnvelope {
  const revision = String(signed.revision)
  let valid = false
  try {
    valid = verify(null, Buffer.from(signed.envelope, 'utf8'), key.publicKey, Buffer.from(signed.signature, 'base64'))
  } catch {}
  if (!valid) throw new PortcullisError('PORTCULLIS_POLICY_SIGNATURE', revision, key.keyId)
  let envelope: PolicyEnvelope
  try {
    envelope = JSON.parse(signed.envelope) as PolicyEnvelope
  } catch {
    throw new PortcullisError('PORTCULLIS_POLICY_ENVELOPE', revision, 'the signed envelope is not JSON')
  }
  if (envelope.format !== FORMAT) throw new PortcullisError('PORTCULLIS_POLICY_ENVELOPE', revision, `the envelope's format is ${JSON.stringify(envelope.format)}, not ${FORMAT}`)
  if (envelope.keyId !== key.keyId) throw new PortcullisError('PORTCULLIS_POLICY_ENVELOPE', revision, `the envelope names key ${String(envelope.keyId)}, not the pinned ${key.keyId}`)
  if (envelope.sha256 !== policySha256(signed.policy)) throw new PortcullisError('PORTCULLIS_POLICY_BYTES_MISMATCH', revision)
  if (envelope.revision !== signed.revision) throw new PortcullisError('PORTCULLIS_POLICY_REVISION_MISMATCH', revision, String(envelope.revision))
  if (envelope.publisher !== signed.publisher || envelope.publishedAt !== signed.publishedAt || envelope.rollback !== signed.rollback) {
    throw new PortcullisError('PORTCULLIS_POLICY_ENVELOPE', revision, 'the publisher, time or rollback flag stored beside it differ from the signed ones')
  }
  return envelope
}
