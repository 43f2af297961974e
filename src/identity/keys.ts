// The token key pair and its settings, kept together in one directory so that `serve` (public key) and
// `token issue` (private key) always agree on algorithm, issuer and audience.

import { generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PortcullisError } from '../errors.js'

export const TOKEN_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'PS256'] as const
export type TokenAlgorithm = typeof TOKEN_ALGORITHMS[number]

export interface TokenSettings {
  algorithm: TokenAlgorithm
  issuer: string
  audience: string
}

export const DEFAULT_TOKEN_SETTINGS: TokenSettings = { algorithm: 'ES256', issuer: 'portcullis', audience: 'docker' }

const FILES = { privateKey: 'token.key', publicKey: 'token.pub', settings: 'token.json' }

export function initKeys (dir: string, settings: TokenSettings = DEFAULT_TOKEN_SETTINGS): { privateKeyPath: string, publicKeyPath: string } {
  const privateKeyPath = join(dir, FILES.privateKey)
  const publicKeyPath = join(dir, FILES.publicKey)
  if (existsSync(privateKeyPath) || existsSync(publicKeyPath)) throw new PortcullisError('PORTCULLIS_KEYS_EXIST', dir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })

  const { privateKey, publicKey } = generateFor(settings.algorithm)
  writeFileSync(privateKeyPath, privateKey, { mode: 0o600 })
  writeFileSync(publicKeyPath, publicKey, { mode: 0o644 })
  writeFileSync(join(dir, FILES.settings), JSON.stringify(settings, null, 2) + '\n', { mode: 0o644 })
  return { privateKeyPath, publicKeyPath }
}

function generateFor (algorithm: TokenAlgorithm): { privateKey: string, publicKey: string } {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const
  if (algorithm === 'RS256' || algorithm === 'PS256') {
    return generateKeyPairSync('rsa', { modulusLength: 3072, publicKeyEncoding, privateKeyEncoding })
  }
  const namedCurve = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[algorithm]
  return generateKeyPairSync('ec', { namedCurve, publicKeyEncoding, privateKeyEncoding })
}

export function readTokenSettings (dir: string): TokenSettings {
  const path = join(dir, FILES.settings)
  if (!existsSync(path)) throw new PortcullisError('PORTCULLIS_KEYS_MISSING', path, dir)
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<TokenSettings>
  const settings = { ...DEFAULT_TOKEN_SETTINGS, ...parsed }
  if (!TOKEN_ALGORITHMS.includes(settings.algorithm)) {
    throw new PortcullisError('PORTCULLIS_INPUT', path, `algorithm must be one of ${TOKEN_ALGORITHMS.join(', ')}`)
  }
  return settings
}

export function readKey (dir: string, which: 'privateKey' | 'publicKey'): string {
  const path = join(dir, FILES[which])
  if (!existsSync(path)) throw new PortcullisError('PORTCULLIS_KEYS_MISSING', path, dir)
  return readFileSync(path, 'utf8')
}
