// A host's identity in the fleet: a host ID made once by `portcullis keys init` (file `host-id` in the keys
// directory), the host's name, and the audit signing key whose public half the central database registers on first
// contact and checks the host's checkpoints with.

import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'
import type { AuditSigningKey } from '../audit/signing-key.js'
import { PortcullisError } from '../errors.js'

const HOST_ID_FILE = 'host-id'
const HOST_ID_PATTERN = /^h-[0-9a-f]{16}$/

export interface HostIdentity {
  hostId: string
  name: string
  key: AuditSigningKey
}

export function isHostId (value: unknown): value is string {
  return typeof value === 'string' && HOST_ID_PATTERN.test(value)
}

/** Makes `keys/host-id` unless it exists (a host keeps its ID for life: its shipped history is filed under it). */
export function ensureHostId (keysDir: string): { hostId: string, path: string, created: boolean } {
  const file = path.join(keysDir, HOST_ID_FILE)
  if (existsSync(file)) return { hostId: readHostId(keysDir), path: file, created: false }
  const hostId = `h-${randomBytes(8).toString('hex')}`
  writeFileSync(file, hostId + '\n', { mode: 0o644, flag: 'wx' })
  return { hostId, path: file, created: true }
}

function readHostId (keysDir: string): string {
  const file = path.join(keysDir, HOST_ID_FILE)
  let text: string
  try {
    text = readFileSync(file, 'utf8').trim()
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_FLEET_HOST_ID', file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : String(err), keysDir)
  }
  if (!isHostId(text)) throw new PortcullisError('PORTCULLIS_FLEET_HOST_ID', file, 'it does not hold a host ID (h- and 16 hex digits)', keysDir)
  return text
}

/** The identity `serve` ships under: the host ID (made now on a host set up before host IDs existed), a name for
 * people (this machine's, unless `serve --fleet-host-name` gives one), and the audit signing key. */
export function hostIdentity (keysDir: string, key: AuditSigningKey, name: string = hostname()): HostIdentity & { created: boolean } {
  const { hostId, created } = ensureHostId(keysDir)
  return { hostId, name, key, created }
}
