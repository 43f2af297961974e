// Where the daemon is, remembered: an option's value comes from its flag, else its environment variable, else the
// profile, else its built-in default. One table, applied by runCommand to every command option of these names that
// has a default; an option whose absence chooses another mode (token issue's offline issuing) opts in by name
// (Command.remembers), so a remembered value never switches a mode the command line did not ask for.

import { homedir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_ELEVATION_LISTEN } from '../elevation/http-api.js'
import { loadProfile, type LoadedProfile, type ProfileKey } from './profile.js'
import { DEFAULTS } from './defaults.js'

export interface Location {
  /** The environment variable that sets it. */
  env: string
  profileKey: ProfileKey
  /** The built-in default, or undefined when there is none. */
  fallback: (env: NodeJS.ProcessEnv) => string | undefined
}

export const LOCATIONS = {
  'admin-socket': { env: 'PORTCULLIS_ADMIN_SOCKET', profileKey: 'adminSocket', fallback: () => DEFAULTS.adminSocket },
  url: { env: 'PORTCULLIS_URL', profileKey: 'url', fallback: () => `http://${DEFAULT_ELEVATION_LISTEN}` },
  // The docker CLI's own variable: the directory it reads its config.json from.
  'docker-config': { env: 'DOCKER_CONFIG', profileKey: 'dockerConfig', fallback: () => join(homedir(), '.docker') },
  'token-file': { env: 'PORTCULLIS_TOKEN_FILE', profileKey: 'tokenFile', fallback: () => undefined }
} as const satisfies Record<string, Location>

export type LocationOption = keyof typeof LOCATIONS

export function isLocationOption (name: string): name is LocationOption {
  return Object.hasOwn(LOCATIONS, name)
}

export interface Resolved {
  value: string | undefined
  /** `--admin-socket`, `$PORTCULLIS_ADMIN_SOCKET`, `profile /path (adminSocket)`, `default`, or `unset`. */
  source: string
}

/** Reads the profile at most once, and only when a value falls through to it. */
export class LocationResolver {
  private profile: LoadedProfile | undefined

  constructor (private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** `fallback`: the command option's own default; none for an option whose absence chooses another mode. */
  resolve (name: LocationOption, flag: string | undefined, fallback: string | undefined): Resolved {
    const location: Location = LOCATIONS[name]
    if (flag !== undefined) return { value: flag, source: `--${name}` }
    const fromEnv = this.env[location.env]
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: `$${location.env}` }
    const profile = this.loaded()
    const fromProfile = profile.values[location.profileKey]
    if (fromProfile !== undefined) return { value: fromProfile, source: `profile ${profile.path} (${location.profileKey})` }
    return fallback === undefined ? { value: undefined, source: 'unset' } : { value: fallback, source: 'default' }
  }

  /** With the table's built-in default last, as `portcullis config` shows it. */
  resolveWithDefault (name: LocationOption, flag: string | undefined): Resolved {
    return this.resolve(name, flag, (LOCATIONS[name] as Location).fallback(this.env))
  }

  loaded (): LoadedProfile {
    this.profile ??= loadProfile(this.env)
    return this.profile
  }
}
