// IPv4/IPv6 addresses and CIDR ranges as numbers, for the subnet and port grants. Pure; no DNS, no zones.

import { isIPv4, isIPv6 } from 'node:net'

export interface Cidr {
  readonly family: 4 | 6
  /** The network address (host bits cleared). */
  readonly base: bigint
  readonly prefix: number
}

/** An address as a number and its family, or null when it is not a literal IPv4/IPv6 address. */
export function parseIp (text: string): { family: 4 | 6, value: bigint } | null {
  if (isIPv4(text)) {
    return { family: 4, value: text.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n) }
  }
  if (!isIPv6(text) || text.includes('%')) return null
  let head = text
  let tailV4: bigint[] = []
  const lastColon = text.lastIndexOf(':')
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIp(text.slice(lastColon + 1))
    if (v4 === null) return null
    tailV4 = [v4.value >> 16n, v4.value & 0xffffn]
    head = text.slice(0, lastColon + 1) + '0:0'
  }
  const [left, right] = head.includes('::') ? head.split('::') as [string, string] : [head, undefined]
  const groups = (s: string | undefined): bigint[] => s === undefined || s === '' ? [] : s.split(':').map((g) => BigInt(parseInt(g, 16)))
  let parts = groups(left)
  if (right !== undefined) {
    const tail = groups(right)
    parts = [...parts, ...Array<bigint>(8 - parts.length - tail.length).fill(0n), ...tail]
  }
  if (tailV4.length > 0) parts = [...parts.slice(0, 6), ...tailV4]
  if (parts.length !== 8) return null
  return { family: 6, value: parts.reduce((n, g) => (n << 16n) | g, 0n) }
}

/** `10.0.0.0/16`, `fd00::/64` (a bare address is a /32 or /128), or null. */
export function parseCidr (text: string): Cidr | null {
  const slash = text.indexOf('/')
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash))
  if (ip === null) return null
  const width = ip.family === 4 ? 32 : 128
  const prefixText = slash < 0 ? String(width) : text.slice(slash + 1)
  if (!/^[0-9]{1,3}$/.test(prefixText)) return null
  const prefix = Number(prefixText)
  if (prefix > width) return null
  return { family: ip.family, base: ip.value & mask(width, prefix), prefix }
}

function mask (width: number, prefix: number): bigint {
  return ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - prefix)) - 1n)
}

/** Whether `inner` lies wholly inside `outer`. */
export function cidrContains (outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false
  const width = outer.family === 4 ? 32 : 128
  return (inner.base & mask(width, outer.prefix)) === outer.base
}
