// The profile: a small JSON file that remembers where the daemon is, so --admin-socket and --url are not typed on
// every call. $PORTCULLIS_PROFILE names it; else $XDG_CONFIG_HOME/portcullis/profile.json, else
// ~/.config/portcullis/profile.json. A missing default file is an empty profile; a bad one is an error naming the key.

import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { PortcullisError } from '../errors.js'
import { closest } from '../policy/did-you-mean.js'

const PROFILE_KEYS = ['adminSocket', 'url', 'dockerConfig', 'tokenFile'] as const
export type ProfileKey = typeof PROFILE_KEYS[number]
export type Profile = Partial<Record<ProfileKey, string>>

export interface LoadedProfile {
  path: string
  /** False when the default file does not exist (an empty profile). */
  found: boolean
  values: Profile
}

export function profilePath (env: NodeJS.ProcessEnv = process.env): string {
  if (nonEmpty(env.PORTCULLIS_PROFILE)) return env.PORTCULLIS_PROFILE!
  const configHome = nonEmpty(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME! : join(homedir(), '.config')
  return join(configHome, 'portcullis', 'profile.json')
}

export function loadProfile (env: NodeJS.ProcessEnv = process.env): LoadedProfile {
  const path = profilePath(env)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    // Only the default place may be empty; a file named by $PORTCULLIS_PROFILE that is not there is a mistake. A
    // default place this user may not enter (another user's home: a command run with setpriv or sudo -u keeps
    // HOME) is no profile of theirs either.
    const code = (err as NodeJS.ErrnoException).code
    if ((code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR') && !nonEmpty(env.PORTCULLIS_PROFILE)) return { path, found: false, values: {} }
    throw new PortcullisError('PORTCULLIS_PROFILE_INVALID', path, `it cannot be read (${(err as Error).message})`)
  }
  return { path, found: true, values: parseProfile(text, path) }
}

/** Checks every key: a known name, a non-empty string, and for `url` an http(s) URL. */
export function parseProfile (text: string, path: string): Profile {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_PROFILE_INVALID', path, `it is not JSON (${(err as Error).message})`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new PortcullisError('PORTCULLIS_PROFILE_INVALID', path, 'it is not a JSON object')
  const profile: Profile = {}
  for (const [key, value] of Object.entries(parsed)) {
    if (!(PROFILE_KEYS as readonly string[]).includes(key)) {
      const near = closest(key, PROFILE_KEYS)
      throw new PortcullisError('PORTCULLIS_PROFILE_INVALID', path, `unknown key "${key}"${near === undefined ? '' : ` (did you mean "${near}"?)`}`)
    }
    if (typeof value !== 'string' || value.trim() === '') throw new PortcullisError('PORTCULLIS_PROFILE_INVALID', path, `key "${key}" must be a non-empty string`)
    if (key === 'url' && !/^https?:\/\/[^\s/]+/.test(value)) throw new PortcullisError('PORTCULLIS_PROFILE_INVALID', path, `key "url" must be an http:// or https:// URL, not ${JSON.stringify(value)}`)
    profile[key as ProfileKey] = value
  }
  return profile
}

function nonEmpty (value: string | undefined): boolean {
  return value !== undefined && value !== ''
}
