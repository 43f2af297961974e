// A chain in memory for the fleet shipper: records sealed and linked as the store seals them, starting at any seq
// (a store whose oldest records expired), with the store's subscribe and markShipped.
import { sealRecord, type SealedRecord } from '../../src/audit/chain.js'
import type { Checkpoint } from '../../src/audit/checkpoint-format.js'
import { GENESIS_HASH, type AuditHead, type AuditInput, type AuditRecord } from '../../src/audit/record.js'
import type { ShipSource } from '../../src/audit/ship-source.js'

export class MemoryChain implements ShipSource {
  readonly rows: SealedRecord[] = []
  shipped = 0
  readonly #listeners = new Set<(row: SealedRecord) => void>()
  readonly #first: number
  readonly #firstPrevHash: string

  /** `first`: the seq of the first record (after an expiry); `firstPrevHash` what it links to. */
  constructor (first = 1, firstPrevHash = GENESIS_HASH) {
    this.#first = first
    this.#firstPrevHash = firstPrevHash
  }

  /** Appends `n` decision records naming `user`. */
  async add (n: number, user = 'alice'): Promise<void> {
    for (let i = 0; i < n; i++) await this.append({ kind: 'decision', user, action: 'container.list', decision: 'allow', uri: `/v1.41/containers/json?n=${this.rows.length}` })
  }

  head (): AuditHead {
    const last = this.rows.at(-1)?.record
    return last === undefined ? { seq: this.#first - 1, hash: this.#firstPrevHash } : { seq: last.seq, hash: last.hash }
  }

  async * queryStored (filter: { fromSeq: number, toSeq: number }): AsyncIterable<SealedRecord> {
    for (const row of this.rows) if (row.record.seq >= filter.fromSeq && row.record.seq <= filter.toSeq) yield row
  }

  async * checkpoints (_fromSeq: number, _toSeq: number): AsyncIterable<Checkpoint> {}

  subscribe (listener: (row: SealedRecord) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  async append (input: AuditInput): Promise<AuditRecord> {
    const head = this.head()
    const sealed = sealRecord(input, head.seq + 1, new Date().toISOString(), head.hash)
    this.rows.push(sealed)
    for (const listener of this.#listeners) listener(sealed)
    return sealed.record
  }

  async markShipped (seq: number): Promise<number> {
    this.shipped = Math.max(this.shipped, seq)
    return this.shipped
  }
}
