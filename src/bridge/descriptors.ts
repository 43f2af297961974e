// How close the process is to its file descriptor limit, so the SSH bridge backs off before the plugin socket,
// the admin socket or the audit store run out. Node has no getrlimit: the soft RLIMIT_NOFILE comes from
// /proc/self/limits and the open count from /proc/self/fd (Linux; elsewhere both are unknown and nothing is
// refused for want of descriptors).

import { readdirSync, readFileSync } from 'node:fs'

/** Descriptors kept for everything but the bridge: a quarter of the limit, and never fewer than this. */
const MIN_DESCRIPTOR_RESERVE = 64
/** Re-read /proc at most this often; in between, descriptors the bridge took since are added to the count. */
const RECOUNT_MS = 100

/** The soft limit on open files from /proc/self/limits' text; Infinity for `unlimited` or when it is missing. */
export function parseOpenFilesLimit (limitsText: string): number {
  const line = limitsText.split('\n').find((l) => l.startsWith('Max open files'))
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0]
  if (soft === undefined || soft === 'unlimited' || !/^\d+$/.test(soft)) return Infinity
  return Number(soft)
}

/** The descriptors kept back for the rest of the process under `limit`. */
export function descriptorReserve (limit: number): number {
  return Math.max(MIN_DESCRIPTOR_RESERVE, Math.ceil(limit / 4))
}

export interface DescriptorReading {
  open: number
  limit: number
  reserve: number
}

export interface DescriptorSource {
  limit (): number
  open (): number
}

/** The running process's own numbers; both Infinity/0 where /proc cannot be read. */
const procSelf: DescriptorSource = {
  limit: () => {
    try {
      return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8'))
    } catch {
      return Infinity
    }
  },
  open: () => {
    try {
      // The listing itself holds one descriptor while it runs.
      return readdirSync('/proc/self/fd').length - 1
    } catch {
      return 0
    }
  }
}

/** Answers "may the bridge take one more descriptor?" cheaply enough to ask on every accept. */
export class DescriptorBudget {
  #reading: DescriptorReading | null = null
  #readAt = 0
  #takenSince = 0

  constructor (private readonly source: DescriptorSource = procSelf, private readonly now: () => number = Date.now) {}

  /** The latest numbers, with the bridge's own descriptors taken since the last count added. */
  reading (): DescriptorReading {
    if (this.#reading === null || this.now() - this.#readAt >= RECOUNT_MS) {
      const limit = this.source.limit()
      this.#reading = { open: this.source.open(), limit, reserve: descriptorReserve(limit) }
      this.#readAt = this.now()
      this.#takenSince = 0
    }
    return { ...this.#reading, open: this.#reading.open + this.#takenSince }
  }

  /** True when one more descriptor leaves the reserve untouched; counts it as taken when so. */
  take (): boolean {
    const { open, limit, reserve } = this.reading()
    if (limit !== Infinity && open + 1 > limit - reserve) return false
    this.#takenSince++
    return true
  }
}
