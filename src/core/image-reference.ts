// Image references as dockerd reads them (docker/distribution `reference.ParseNormalizedNamed`), so that
// `busybox`, `library/busybox:1` and `docker.io/library/busybox@sha256:…` are one repository:
// `docker.io/library/busybox`. Policy patterns and registry allowlists compare these normalized forms.

const DEFAULT_DOMAIN = 'docker.io'
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io'
const OFFICIAL_PREFIX = 'library/'
const NAME_TOTAL_LENGTH_MAX = 255

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`)
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^[\w][\w.-]{0,127}$/
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/
const IMAGE_ID = /^(?:sha256:)?[0-9a-f]{64}$/

export interface ImageReference {
  /** `docker.io`, `registry.example.com:5000`, `localhost`… */
  domain: string
  /** `library/busybox`, `payments/app`. */
  path: string
  /** `docker.io/library/busybox`: what patterns match against. */
  repository: string
  tag?: string
  digest?: string
}

/** A full image ID (`sha256:<64 hex>` or the 64 hex alone): dockerd takes these as IDs, never as names. */
export function isImageId (text: string): boolean {
  return IMAGE_ID.test(text)
}

/** Splits a familiar name the way dockerd does: the first part is a registry only if it looks like a host. */
export function splitDomain (name: string): { domain: string, remainder: string } {
  const slash = name.indexOf('/')
  const first = slash === -1 ? '' : name.slice(0, slash)
  let domain: string
  let remainder: string
  if (slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN
    remainder = name
  } else {
    domain = first
    remainder = name.slice(slash + 1)
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_PREFIX + remainder
  return { domain, remainder }
}

/** The normalized reference, or a sentence saying why dockerd would not read `text` as a name. */
export function parseImageReference (text: string): ImageReference | { error: string } {
  if (text === '') return { error: 'the image name is empty' }
  if (isImageId(text)) return { error: `"${text}" is an image ID, not a repository name` }
  let rest = text
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!DIGEST.test(digest)) return { error: `"${text}" has an invalid digest` }
  }
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) return { error: `"${text}" has an invalid tag` }
  }
  const { domain, remainder } = splitDomain(rest)
  if (remainder.toLowerCase() !== remainder) return { error: `"${text}": repository names must be lowercase` }
  if (!DOMAIN.test(domain)) return { error: `"${text}" has an invalid registry host "${domain}"` }
  if (!remainder.split('/').every((part) => PATH_COMPONENT.test(part))) return { error: `"${text}" is not a valid repository name` }
  const repository = `${domain}/${remainder}`
  if (repository.length > NAME_TOTAL_LENGTH_MAX) return { error: `"${text}" is longer than ${NAME_TOTAL_LENGTH_MAX} characters` }
  return { domain, path: remainder, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) }
}

/** Normalizes a policy pattern the same way (`payments/*` → `docker.io/payments/*`), keeping its `*`s. */
export function normalizePattern (pattern: string): string {
  const { domain, remainder } = splitDomain(pattern)
  return `${domain}/${remainder}`
}

/**
 * Whether a registry host (`127.0.0.1:5000`, `[::1]`, `localhost`) is the host itself: loopback, unspecified or
 * link-local. Other names that resolve to such addresses are not caught here (no DNS in the policy core): set
 * `images.registries` to allow only the registries meant.
 */
export function isHostLocalRegistry (domain: string): boolean {
  let host = domain.toLowerCase()
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']') === -1 ? undefined : host.indexOf(']'))
  else if ((host.match(/:/g) ?? []).length === 1) host = host.slice(0, host.indexOf(':'))
  if (host === 'localhost' || host.endsWith('.localhost') || host === 'localhost.localdomain' || host === 'ip6-localhost' || host === 'ip6-loopback') return true
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host)
  if (v4 !== null) {
    const [a, b] = [Number(v4[1]), Number(v4[2])]
    return a === 127 || a === 0 || (a === 169 && b === 254)
  }
  if (host.includes(':')) {
    if (host === '::1' || host === '::' || /^fe[89ab][0-9a-f]:/.test(host)) return true
    const mapped = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(host)
    return mapped !== null && isHostLocalRegistry(mapped[1] as string)
  }
  return false
}
