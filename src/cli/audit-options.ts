// The options every audit command that reads the store shares: where the running daemon is (its admin socket, or
// its API with an auditor's token), or which store to read.
import { readFileSync } from 'node:fs'
import type { AdminEndpoint } from '../admin/client.js'
import { dockerConfigPath, findToken } from '../elevation/client.js'
import { PortcullisError } from '../errors.js'
import { DEFAULTS } from './defaults.js'

export const ADMIN_OPTION = {
  'admin-socket': { type: 'string', default: DEFAULTS.adminSocket },
  url: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' }
} as const
/** Remembered from $PORTCULLIS_ADMIN_SOCKET, $PORTCULLIS_TOKEN_FILE or the profile (src/cli/locations.ts). Not the
 * URL: --url switches from root's admin socket to an auditor's token, and a profile's url (there for `portcullis
 * request`) must not make root's `audit tail` knock on the API with a token that is not an auditor's. */
export const AUDIT_REMEMBERS = ['admin-socket', 'token-file'] as const
export const ADMIN_HELP = {
  '--admin-socket PATH': `the running daemon's admin socket (default ${DEFAULTS.adminSocket})`,
  '--url URL': 'an auditor without root: the daemon\'s API (`serve --elevation-listen`, e.g. http://127.0.0.1:2224), with your token',
  '--token TOKEN': 'with --url: your portcullis token (default: $PORTCULLIS_TOKEN, else the X-Portcullis-Token in your docker CLI config)',
  '--token-file FILE': 'with --url: read the token from FILE'
}
export const DATA_HELP = { '--data DIR': 'read a store directly, when no daemon owns it (stopped daemon, copied store)' }

export interface EndpointFlags {
  'admin-socket': string
  url?: string | undefined
  token?: string | undefined
  'token-file'?: string | undefined
}

/** The admin socket, or with --url the API and the token to send (--token, --token-file, $PORTCULLIS_TOKEN, docker config). */
export function auditEndpoint (flags: EndpointFlags): AdminEndpoint {
  if (flags.url === undefined) return flags['admin-socket']
  let explicit = flags.token
  if (flags['token-file'] !== undefined) {
    try {
      explicit = readFileSync(flags['token-file'], 'utf8')
    } catch (err) {
      throw new PortcullisError('PORTCULLIS_INPUT', flags['token-file'], (err as Error).message)
    }
  }
  const token = findToken(explicit)
  if (token === null) throw new PortcullisError('PORTCULLIS_ELEVATION_NO_TOKEN', dockerConfigPath())
  return { url: flags.url, token }
}
