// The signed envelope a fleet policy revision carries: it verifies only under the pinned key and only for the exact
// bytes, revision, publisher, time and rollback flag it was signed for.
import { mkdtempSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { PortcullisError } from '../../src/errors.js'
import { makePolicyKeys, readPolicyPublicKey, readPolicySigningKey, signPolicy, verifySignedPolicy, type SignedPolicy } from '../../src/policy/signed.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-policy-key-'))
const made = makePolicyKeys(dir)
const key = readPolicySigningKey(made.privatePath)
const pinned = readPolicyPublicKey(made.publicPath)
const bytes = Buffer.from('{"version":1,"roles":{},"projects":{}}\n')
const signed = signPolicy(key, bytes, { revision: 7, publisher: 'ops@admin-1', publishedAt: '2026-12-06T04:00:00.000Z', rollback: false })

function codeOf (tampered: SignedPolicy): string {
  try {
    verifySignedPolicy(pinned, tampered)
  } catch (err) {
    expect(err).toBeInstanceOf(PortcullisError)
    return (err as PortcullisError).code
  }
  return 'verified'
}

describe('policy revision envelopes', () => {
  it('keygen writes a private key only its owner can read, and never overwrites a pair', () => {
    expect(statSync(made.privatePath).mode & 0o777).toBe(0o600)
    expect(made.keyId).toBe(pinned.keyId)
    expect(() => makePolicyKeys(dir)).toThrow(expect.objectContaining({ code: 'PORTCULLIS_POLICY_KEY_EXISTS' }))
  })

  it('a revision verifies under the pinned key and binds the bytes, revision and key', () => {
    const envelope = verifySignedPolicy(pinned, signed)
    expect(envelope).toMatchObject({ revision: 7, publisher: 'ops@admin-1', rollback: false, keyId: pinned.keyId })
    expect(envelope.sha256).toMatch(/^[0-9a-f]{64}$/)
  })

  it('tampered bytes are refused', () => {
    expect(codeOf({ ...signed, policy: Buffer.from(bytes.toString().replace('{}', '{"x":{}}')) })).toBe('PORTCULLIS_POLICY_BYTES_MISMATCH')
  })

  it('a revision signed with another key is refused', () => {
    const other = readPolicySigningKey(makePolicyKeys(mkdtempSync(path.join(os.tmpdir(), 'portcullis-policy-key-'))).privatePath)
    expect(codeOf(signPolicy(other, bytes, { revision: 7, publisher: 'mallory', publishedAt: signed.publishedAt, rollback: false }))).toBe('PORTCULLIS_POLICY_SIGNATURE')
  })

  it('a relabelled revision is refused', () => {
    expect(codeOf({ ...signed, revision: 9 })).toBe('PORTCULLIS_POLICY_REVISION_MISMATCH')
  })

  it('a changed envelope (a rollback flag added after signing) breaks the signature', () => {
    expect(codeOf({ ...signed, envelope: signed.envelope.replace('"rollback":false', '"rollback":true'), rollback: true })).toBe('PORTCULLIS_POLICY_SIGNATURE')
  })

  it('publisher, time or rollback stored beside the envelope must match the signed ones', () => {
    expect(codeOf({ ...signed, rollback: true })).toBe('PORTCULLIS_POLICY_ENVELOPE')
    expect(codeOf({ ...signed, publisher: 'someone else' })).toBe('PORTCULLIS_POLICY_ENVELOPE')
  })

  it('a public key is required for pinning, and a missing key file says how to make one', () => {
    expect(() => readPolicyPublicKey(made.privatePath)).toThrow(expect.objectContaining({ code: 'PORTCULLIS_POLICY_KEY_INVALID' }))
    expect(() => readPolicyPublicKey(path.join(dir, 'nope.pub'))).toThrow(expect.objectContaining({ code: 'PORTCULLIS_POLICY_KEY_MISSING' }))
  })
})
