// Parsers for the little string formats inside Docker bodies, following how dockerd 20.10 reads
// them on Linux (volume/mounts linux parser, opts.ParseLink, parseVolumesFrom, the *Mode types).

/** `src:dst[:mode]` from HostConfig.Binds: source is a host path or a volume name (null: anonymous volume). */
export function bindSource (bind: string): string | null {
  const parts = bind.split(':')
  return parts.length >= 2 ? (parts[0] as string) : null
}

/**
 * Whether a bind or mount source means a host path rather than a volume name. The daemon only
 * takes absolute paths as host paths and rejects other path-like names, but anything path-like is
 * treated as a host path here so that no odd spelling slips through as a "volume".
 */
export function isHostPath (source: string): boolean {
  return source.includes('/') || source.includes('\\') || source.startsWith('.') || source.startsWith('~')
}

/** The container a `name:alias` link points at (opts.ParseLink, without the leading slash of `/name`). */
export function linkTarget (link: string): string {
  const parts = link.split(':')
  return withoutSlash(parts[0] as string)
}

/** The container of a VolumesFrom entry `name[:ro|rw]`. */
export function volumesFromTarget (entry: string): string {
  const colon = entry.indexOf(':')
  return withoutSlash(colon === -1 ? entry : entry.slice(0, colon))
}

/** For `container:<name>` namespace modes: the other container's name, else null. */
export function modeContainer (mode: string | undefined): string | null {
  if (mode === undefined) return null
  const normal = mode.trim()
  if (!normal.toLowerCase().startsWith('container:')) return null
  return withoutSlash(normal.slice('container:'.length))
}

/** Whether a namespace mode shares the host's namespace (compared loosely; the daemon wants exactly `host`). */
export function isHostMode (mode: string | undefined): boolean {
  return mode !== undefined && mode.trim().toLowerCase() === 'host'
}

/** NetworkMode values that do not name a user-defined network (container.NetworkMode.IsUserDefined). */
const BUILTIN_NETWORKS = new Set(['', 'default', 'bridge', 'host', 'none'])

/** The user-defined network a NetworkMode names, else null. */
export function modeNetwork (mode: string | undefined): string | null {
  if (mode === undefined || BUILTIN_NETWORKS.has(mode)) return null
  if (mode.startsWith('container:')) return null
  return mode
}

/** Whether an EndpointsConfig key names a user-defined network rather than a built-in one. */
export function isUserNetwork (name: string): boolean {
  return !BUILTIN_NETWORKS.has(name)
}

/** Container names may be written with the leading slash the daemon stores them with. */
function withoutSlash (name: string): string {
  return name.startsWith('/') ? name.slice(1) : name
}
