// The `from="pattern-list"` of an authorized_keys line, read as sshd reads it with `UseDNS no` (its default): a
// comma-separated list of addresses, CIDR ranges and `*`/`?` wildcards, each of which may be negated with `!`. A
// negated entry that matches refuses the key even when another entry matches (OpenSSH's match_host_and_ip,
// addr_match_list and match_pattern_list). portcullis resolves no names, so host names could only ever be compared
// with the client's address text; they are refused when the policy is loaded instead of silently never matching.

import { parseCidr, parseIp } from '../core/cidr.js'

type Entry =
  | { readonly negated: boolean, readonly kind: 'cidr', readonly family: 4 | 6, readonly base: bigint, readonly prefix: number }
  | { readonly negated: boolean, readonly kind: 'wildcard', readonly pattern: string }

export interface AddressPatternList {
  /** The list as written in the policy. */
  readonly text: string
  readonly entries: readonly Entry[]
}

/** Characters an address wildcard may hold: digits, hex letters, `.`, `:` and the wildcards themselves. */
const WILDCARD = /^[0-9a-f.:*?]+$/

/** Reads a `from=` list. Throws an Error whose message says which entry is wrong and what to write instead. */
export function parseAddressPatterns (text: string): AddressPatternList {
  const entries = text.split(',').map((raw): Entry => {
    const negated = raw.startsWith('!')
    const body = negated ? raw.slice(1) : raw
    if (body === '') throw new Error(`from="${text}" has an empty entry; separate addresses with single commas`)
    const ip = parseIp(body.includes('/') ? body.slice(0, body.indexOf('/')) : body)
    if (ip !== null) {
      const cidr = parseCidr(body)
      if (cidr === null) throw new Error(`"${body}" in from= has a bad prefix length; write e.g. 10.0.0.0/8 or fd00::/64`)
      // sshd refuses the whole list when a range has host bits set (10.0.0.1/8), so no login could pass.
      if (cidr.base !== ip.value) throw new Error(`"${body}" in from= has host bits set beyond /${cidr.prefix}, which sshd rejects; write the network address`)
      // A client on a dual-stack socket is compared as IPv4 (clientAddress), so a range inside ::ffff:0:0/96 could
      // never match anyone: as a negation it would refuse nobody. Refused, naming the IPv4 form to write.
      if (cidr.family === 6 && cidr.prefix >= 96 && (cidr.base >> 32n) === 0xffffn) {
        const v4 = [24n, 16n, 8n, 0n].map((shift) => String((cidr.base >> shift) & 0xffn)).join('.')
        throw new Error(`"${body}" in from= is an IPv4-mapped IPv6 address, which never matches: IPv4 clients are compared as IPv4; write ${v4}${cidr.prefix < 128 ? `/${cidr.prefix - 96}` : ''}`)
      }
      return { negated, kind: 'cidr', family: cidr.family, base: cidr.base, prefix: cidr.prefix }
    }
    const lower = body.toLowerCase()
    if (!/[*?]/.test(lower) || !WILDCARD.test(lower)) {
      throw new Error(`"${body}" in from= is not an address, a CIDR range or an address wildcard (like 10.1.*); ` +
        'portcullis does not look up host names, so write the addresses the key may log in from')
    }
    return { negated, kind: 'wildcard', pattern: lower }
  })
  return { text, entries }
}

/**
 * Whether a client at `address` may use a key with this `from=` list: some entry matches and no negated entry
 * does. The address is compared both as a number (CIDR entries) and as text (wildcards), as sshd does.
 */
export function addressAllowed (list: AddressPatternList, address: string): boolean {
  const client = clientAddress(address)
  // A link-local client carries its zone (`fe80::1%eth0`); sshd compares the address itself with CIDR entries.
  const ip = parseIp(withoutZone(client))
  let positive = false
  for (const entry of list.entries) {
    const hit = entry.kind === 'cidr'
      ? ip !== null && ip.family === entry.family && inRange(ip.value, entry.family, entry.base, entry.prefix)
      : wildcardMatch(client.toLowerCase(), entry.pattern)
    if (!hit) continue
    if (entry.negated) return false
    positive = true
  }
  return positive
}

/**
 * The address sshd would compare: an IPv4 client seen on a dual-stack socket (`::ffff:10.1.2.3`) is the IPv4
 * address, as OpenSSH's ipv64_normalise_mapped makes it, so `from="10.1.2.3"` means the same on either socket.
 */
export function clientAddress (address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return mapped?.[1] ?? address
}

/** `fe80::1%eth0` → `fe80::1`: the address without its IPv6 zone (scope) ID. */
export function withoutZone (address: string): string {
  const percent = address.indexOf('%')
  return percent < 0 ? address : address.slice(0, percent)
}

function inRange (value: bigint, family: 4 | 6, base: bigint, prefix: number): boolean {
  const width = family === 4 ? 32 : 128
  const shift = BigInt(width - prefix)
  return (value >> shift) === (base >> shift)
}

/** OpenSSH's match_pattern: `*` any run of characters, `?` exactly one, everything else literal. */
export function wildcardMatch (text: string, pattern: string): boolean {
  // Positions in the pattern still alive after each character: linear, no backtracking blow-up.
  let states = closure(new Set([0]), pattern)
  for (const c of text) {
    const next = new Set<number>()
    for (const i of states) {
      if (i === pattern.length) continue
      if (pattern[i] === '*') next.add(i)
      else if (pattern[i] === '?' || pattern[i] === c) next.add(i + 1)
    }
    states = closure(next, pattern)
    if (states.size === 0) return false
  }
  return states.has(pattern.length)
}

function closure (states: Set<number>, pattern: string): Set<number> {
  for (let i = 0; i < pattern.length; i++) if (states.has(i) && pattern[i] === '*') states.add(i + 1)
  return states
}
