import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import jwt from 'jsonwebtoken'
import { afterAll, describe, expect, it } from 'vitest'
import { initKeys, readKey, readTokenSettings } from '../../src/identity/keys.js'
import { IdentityResolver } from '../../src/identity/resolve.js'
import { issueToken, TokenVerifier } from '../../src/identity/tokens.js'
import { ManualClock } from '../fakes/clock.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-keys-'))
const other = mkdtempSync(join(tmpdir(), 'portcullis-keys-'))
afterAll(() => { rmSync(dir, { recursive: true }); rmSync(other, { recursive: true }) })
initKeys(dir)
initKeys(other)
const settings = readTokenSettings(dir)
const privateKey = readKey(dir, 'privateKey')
const publicKey = readKey(dir, 'publicKey')
const verifier = new TokenVerifier(publicKey, settings)

describe('tokens', () => {
  it('verifies a token it issued and names the user', () => {
    const verdict = verifier.verify(issueToken(privateKey, settings, 'alice', 60))
    expect(verdict).toMatchObject({ ok: true, claims: { user: 'alice' } })
  })

  it('refuses an expired token and says when it expired', () => {
    const token = issueToken(privateKey, settings, 'alice', 60)
    const clock = new ManualClock(Date.now())
    clock.advance(3600_000)
    const verdict = new TokenVerifier(publicKey, settings, { clock }).verify(token)
    expect(verdict.ok).toBe(false)
    expect(!verdict.ok && verdict.reason).toMatch(/expired at .*get a new one/)
  })

  it('refuses a cached token once it has expired', () => {
    const token = issueToken(privateKey, settings, 'alice', 60)
    const clock = new ManualClock(Date.now())
    const cachingVerifier = new TokenVerifier(publicKey, settings, { clock })
    expect(cachingVerifier.verify(token).ok).toBe(true)
    clock.advance(59_000)
    expect(cachingVerifier.verify(token).ok).toBe(true)
    clock.advance(2_000)
    expect(cachingVerifier.verify(token)).toMatchObject({ ok: false, reason: expect.stringMatching(/expired/) })
  })

  it('refuses a token signed by another key (forged)', () => {
    const forged = issueToken(readKey(other, 'privateKey'), settings, 'alice', 60)
    expect(verifier.verify(forged)).toMatchObject({ ok: false, reason: expect.stringMatching(/invalid signature/) })
  })

  it('refuses alg none and HS256 signed with the public key (algorithm confusion)', () => {
    const none = jwt.sign({ sub: 'alice', iss: 'portcullis', aud: 'docker' }, '', { algorithm: 'none', expiresIn: 60 })
    expect(verifier.verify(none).ok).toBe(false)
    const hs = jwt.sign({ sub: 'alice', iss: 'portcullis', aud: 'docker' }, publicKey, { algorithm: 'HS256', expiresIn: 60 })
    expect(verifier.verify(hs).ok).toBe(false)
  })

  it('refuses a token for another audience or issuer', () => {
    expect(verifier.verify(issueToken(privateKey, { ...settings, audience: 'k8s' }, 'alice', 60)).ok).toBe(false)
    expect(verifier.verify(issueToken(privateKey, { ...settings, issuer: 'evil' }, 'alice', 60)).ok).toBe(false)
  })

  // Signed with the right key, so only the header or the claims can be what refuses them.
  const signed = (claims: object, header: object = {}): string =>
    jwt.sign({ sub: 'alice', iss: 'portcullis', aud: 'docker', ...claims }, privateKey, { algorithm: 'ES256', noTimestamp: !('iat' in claims), header: { alg: 'ES256', ...header } as jwt.JwtHeader })
  const nowSeconds = (): number => Math.floor(Date.now() / 1000)

  it('refuses a token whose header has crit, whatever it names (RFC 7515 4.1.11)', () => {
    for (const crit of [['exp'], ['http://example.com/unknown'], []]) {
      const verdict = verifier.verify(signed({ iat: nowSeconds(), exp: nowSeconds() + 60 }, { crit }))
      expect(verdict).toMatchObject({ ok: false, reason: expect.stringMatching(/crit.*RFC 7515/) })
    }
  })

  it('refuses a token valid for longer than the cap (90 days unless the policy says), and one expiring in the year 31 million', () => {
    const day = 86_400
    expect(verifier.verify(signed({ iat: nowSeconds(), exp: nowSeconds() + 89 * day })).ok).toBe(true)
    expect(verifier.verify(signed({ iat: nowSeconds(), exp: nowSeconds() + 91 * day }))).toMatchObject({ ok: false, reason: expect.stringMatching(/tokens.maxLifetime \(90d\)/) })
    expect(verifier.verify(signed({ iat: nowSeconds(), exp: 31_000_000 * 365 * day })).ok).toBe(false)
    // A back-dated iat does not make a far expiry acceptable.
    expect(verifier.verify(signed({ iat: nowSeconds() - 10 * day, exp: nowSeconds() + 85 * day })).ok).toBe(false)
  })

  it('refuses a token with no iat, or one issued in the future', () => {
    expect(verifier.verify(signed({ exp: nowSeconds() + 60 }))).toMatchObject({ ok: false, reason: expect.stringMatching(/no issue time \(iat\)/) })
    expect(verifier.verify(signed({ iat: nowSeconds() + 3600, exp: nowSeconds() + 7200 }))).toMatchObject({ ok: false, reason: expect.stringMatching(/issued in the future/) })
  })

  it('applies the policy\'s cap as it is now, also to tokens it has already accepted', () => {
    let capMs = 3_600_000
    const capped = new TokenVerifier(publicKey, settings, { maxLifetimeMs: () => capMs })
    const token = issueToken(privateKey, settings, 'alice', 1800)
    expect(capped.verify(token).ok).toBe(true)
    expect(capped.verify(issueToken(privateKey, settings, 'alice', 7200))).toMatchObject({ ok: false, reason: expect.stringMatching(/maxLifetime \(1h\)/) })
    capMs = 600_000
    expect(capped.verify(token).ok).toBe(false)
  })

  it('takes a token from its cache only when it is the exact same token, not one ending the same way', () => {
    const fresh = new TokenVerifier(publicKey, settings)
    const token = issueToken(privateKey, settings, 'alice', 60)
    expect(fresh.verify(token)).toMatchObject({ ok: true, claims: { user: 'alice' } })
    // alice's header and signature (so the same tail) around a payload naming mallory: cached by tail, refused whole.
    const [head, , signature] = token.split('.')
    const payload = Buffer.from(JSON.stringify({ ...jwt.decode(token) as object, sub: 'mallory' })).toString('base64url')
    const forged = `${head}.${payload}.${signature}`
    expect(forged.slice(-48)).toBe(token.slice(-48))
    const verdict = fresh.verify(forged)
    expect(verdict.ok).toBe(false)
    expect(!verdict.ok && verdict.reason).toMatch(/invalid signature/)
    expect(fresh.verify(token)).toMatchObject({ ok: true, claims: { user: 'alice' } })
  })
})

describe('identity order', () => {
  const resolver = new IdentityResolver(verifier, 'secret-secret')
  const token = issueToken(privateKey, settings, 'alice', 60)

  it('trusts the daemon-verified TLS user first', () => {
    expect(resolver.resolve({ User: 'carol', UserAuthNMethod: 'TLS', RequestHeaders: { 'X-Portcullis-Token': token } }))
      .toEqual({ ok: true, identity: { user: 'carol', method: 'tls' } })
  })

  it('then the token header', () => {
    expect(resolver.resolve({ User: '', RequestHeaders: { 'X-Portcullis-Token': token } }))
      .toMatchObject({ ok: true, identity: { user: 'alice', method: 'jwt' } })
  })

  it('ignores a User the daemon did not verify', () => {
    expect(resolver.resolve({ User: 'root', UserAuthNMethod: '', RequestHeaders: {} }))
      .toEqual({ ok: true, identity: { user: null, method: 'anonymous' } })
  })

  it('refuses a bad token instead of falling back to anonymous', () => {
    expect(resolver.resolve({ RequestHeaders: { 'X-Portcullis-Token': 'garbage' } }).ok).toBe(false)
  })

  it('recognises its own look-ups only with the exact secret', () => {
    expect(resolver.resolve({ RequestHeaders: { 'X-Portcullis-Internal': 'secret-secret' } }))
      .toEqual({ ok: true, identity: { user: 'portcullis', method: 'internal' } })
    expect(resolver.resolve({ RequestHeaders: { 'X-Portcullis-Internal': 'secret-secreT' } }))
      .toEqual({ ok: true, identity: { user: null, method: 'anonymous' } })
  })
})
