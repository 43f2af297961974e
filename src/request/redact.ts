// Keeps secrets out of audit records: environment values and volume mount options are often
// passwords or tokens, so only their names are kept.

const REDACTED = '<redacted>'

/** The variable name of an `Env` entry (`NAME=value` → `NAME`; a bare `NAME` is its own name). */
export function envName (entry: string): string {
  const eq = entry.indexOf('=')
  return eq === -1 ? entry : entry.slice(0, eq)
}

/** `NAME=value` → `NAME=<redacted>`; a bare `NAME` (no value) is kept as is. */
export function redactEnv (env: readonly string[] | null | undefined): string[] {
  if (env === null || env === undefined) return []
  return env.map((entry) => entry.includes('=') ? `${envName(entry)}=${REDACTED}` : entry)
}

/** The names of the variables an `Env` list sets. */
export function envNames (env: readonly string[] | null | undefined): string[] {
  if (env === null || env === undefined) return []
  return env.map(envName)
}

// Local-driver options whose values are plain paths or filesystem types; everything else
// (notably `o`, which carries things like `password=` for CIFS) is redacted.
const SAFE_DRIVER_OPTIONS = new Set(['type', 'device'])

/** Volume driver options for the audit record, with values that may hold credentials redacted. */
export function redactDriverOptions (options: Readonly<Record<string, string>> | null | undefined): Record<string, string> {
  const out = Object.create(null) as Record<string, string> // keys like "__proto__" stay plain keys
  if (options === null || options === undefined) return out
  for (const [key, value] of Object.entries(options)) {
    out[key] = SAFE_DRIVER_OPTIONS.has(key.toLowerCase()) ? value : REDACTED
  }
  return out
}
