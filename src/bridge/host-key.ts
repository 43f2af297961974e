// The bridge's persistent host key. Made once (by `portcullis keys init` or the first `serve` with the bridge on)
// and kept, so users' known_hosts entries stay valid across restarts and upgrades.

import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import { PortcullisError } from '../errors.js'

const HOST_KEY_FILE = 'ssh_host_ed25519_key'

export interface HostKey {
  /** OpenSSH private key text, as ssh2 takes it. */
  privateKey: string
  /** `ssh-ed25519 AAAA… portcullis`: what goes into known_hosts. */
  publicLine: string
  /** `SHA256:…`, as `ssh-keygen -lf` and the ssh client print it. */
  fingerprint: string
  path: string
}

/** Makes the host key in `dir` unless there is one; returns whether it was made. */
export function ensureHostKey (dir: string): { key: HostKey, created: boolean } {
  const path = join(dir, HOST_KEY_FILE)
  if (existsSync(path)) return { key: readHostKey(dir), created: false }
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const pair = generateHostKeyPair()
  writeFileSync(path, pair.private, { mode: 0o600, flag: 'wx' })
  writeFileSync(path + '.pub', pair.public + '\n', { mode: 0o644 })
  return { key: readHostKey(dir), created: true }
}

/**
 * ssh2 1.17 drops the leading zero bytes of an ed25519 public key while writing it (mscdex/ssh2#1513), so about one
 * key in 256 is written malformed and cannot be read back. Such a pair is thrown away and another one made.
 */
function generateHostKeyPair (): { private: string, public: string } {
  for (let attempt = 0; attempt < 32; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'portcullis bridge' })
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error) && !(ssh2.utils.parseKey(pair.public) instanceof Error)) return pair
  }
  throw new PortcullisError('PORTCULLIS_START_FAILED', 'SSH host key', 'every key ssh2 generated was malformed')
}

export function readHostKey (dir: string): HostKey {
  const path = join(dir, HOST_KEY_FILE)
  if (!existsSync(path)) throw new PortcullisError('PORTCULLIS_KEYS_MISSING', path, dir)
  const privateKey = readFileSync(path, 'utf8')
  const parsed = ssh2.utils.parseKey(privateKey)
  if (parsed instanceof Error) throw new PortcullisError('PORTCULLIS_SSH_HOST_KEY_INVALID', path, parsed.message)
  const publicSSH = parsed.getPublicSSH()
  return {
    privateKey,
    publicLine: `${parsed.type} ${publicSSH.toString('base64')} portcullis bridge`,
    fingerprint: sshFingerprint(publicSSH),
    path
  }
}

/** OpenSSH's SHA256 fingerprint of a public key blob. */
export function sshFingerprint (publicSSH: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(publicSSH).digest('base64').replace(/=+$/, '')
}
