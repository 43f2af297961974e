// Bounds on connections that have not logged in yet, the way sshd's MaxStartups, PerSourceMaxStartups and
// PerSourceNetBlockSize work: counted from TCP accept (not from the client's banner), per source block and in
// total, with random early drop between `start` and `full`. Pure: the caller owns the sockets and the clock.

import { isIPv4 } from 'node:net'
import { parseIp } from '../core/cidr.js'
import { withoutZone } from '../ssh/address-patterns.js'
import type { MaxStartups, StartupLimits } from '../policy/startup-limits.js'

export type StartupRefusal = 'per-source' | 'full' | 'random-early-drop'

/**
 * The source block an address belongs to, as text: `10.1.2.3` (a /32 is the address itself), `10.1.0.0/16`,
 * `2001:db8:1:2::/64`. IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) count as IPv4, so a dual-stack listener
 * cannot be used to double one's share.
 */
export function sourceBlock (address: string, netBlock: { v4: number, v6: number }): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  // A link-local client's zone (`%eth0`) is not part of its address: without this, every one would be a block of its own.
  const text = mapped !== null ? mapped[1]! : withoutZone(address)
  const ip = parseIp(text)
  if (ip === null) return text
  const width = ip.family === 4 ? 32 : 128
  const bits = ip.family === 4 ? netBlock.v4 : netBlock.v6
  if (bits >= width) return isIPv4(text) ? text : formatIpv6(ip.value)
  const kept = bits === 0 ? 0n : ip.value & (((1n << BigInt(bits)) - 1n) << BigInt(width - bits))
  return `${ip.family === 4 ? formatIpv4(kept) : formatIpv6(kept)}/${bits}`
}

function formatIpv4 (value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.')
}

function formatIpv6 (value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn))
  // The longest run of zero groups (two or more) becomes `::`, as RFC 5952 writes it.
  let best = { at: -1, length: 1 }
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > best.length) best = { at: i, length: j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best.at < 0) return hex.join(':')
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.length).join(':')}`
}

/**
 * sshd's drop rule: below `start` never, at `full` or above always, between them with a probability that rises
 * linearly from `rate`% to 100%. `random` returns a number in [0, 1).
 */
export function shouldDropStartup (unauthenticated: number, limits: MaxStartups, random: () => number): boolean {
  if (unauthenticated < limits.start) return false
  if (unauthenticated >= limits.full) return true
  if (limits.rate >= 100) return true
  const span = limits.full - limits.start
  const probability = (limits.rate + (100 - limits.rate) * (unauthenticated - limits.start) / span) / 100
  return random() < probability
}

/** One admitted connection's place in the counts; `release` it exactly once (login done, or closed). */
export interface StartupTicket {
  readonly source: string
  release (): void
}

/** Counts unauthenticated connections in total and per source block, and decides whether a new one may start. */
export class StartupLimiter {
  readonly #perSource = new Map<string, number>()
  #total = 0

  constructor (private readonly random: () => number = Math.random) {}

  /** Connections that have not logged in yet. */
  get unauthenticated (): number {
    return this.#total
  }

  /** Admits a connection from `address` under `limits`, or says why not. */
  admit (address: string, limits: StartupLimits): { ticket: StartupTicket } | { refused: StartupRefusal, source: string } {
    const source = sourceBlock(address, limits.netBlock)
    const fromSource = this.#perSource.get(source) ?? 0
    if (fromSource >= limits.perSource) return { refused: 'per-source', source }
    if (this.#total >= limits.maxStartups.full) return { refused: 'full', source }
    if (shouldDropStartup(this.#total, limits.maxStartups, this.random)) return { refused: 'random-early-drop', source }
    this.#total++
    this.#perSource.set(source, fromSource + 1)
    let released = false
    return {
      ticket: {
        source,
        release: () => {
          if (released) return
          released = true
          this.#total--
          const left = (this.#perSource.get(source) ?? 1) - 1
          if (left === 0) this.#perSource.delete(source)
          else this.#perSource.set(source, left)
        }
      }
    }
  }
}
