// What the fleet shipper (src/fleet/shipper.ts) reads a host's chain from and records its own events into: the
// store's durable records as stored, its checkpoints, its appends, and the shipped mark retention keeps to.

import type { Checkpoint } from './checkpoint-format.js'
import { readCheckpoints } from './checkpoints.js'
import type { StoredRecord } from './query.js'
import type { AuditHead, AuditInput, AuditRecord } from './record.js'
import { auditDatabase, type AuditStore } from './store.js'

export interface ShipSource {
  head: () => AuditHead
  queryStored: (filter: { fromSeq: number, toSeq: number }) => AsyncIterable<StoredRecord>
  checkpoints: (fromSeq: number, toSeq: number) => AsyncIterable<Checkpoint>
  /** Hands over each record as it becomes durable, with the text stored for it: what queryStored would read back. */
  subscribe: (listener: (row: StoredRecord) => void) => () => void
  append: (input: AuditInput) => Promise<AuditRecord>
  /** Notes locally how far the database holds the chain, so retention keeps what is not shipped. */
  markShipped: (seq: number) => Promise<unknown>
}

export function shipSource (store: AuditStore): ShipSource {
  return {
    head: () => store.head(),
    queryStored: (filter) => store.queryStored(filter),
    checkpoints: (fromSeq, toSeq) => readCheckpoints(auditDatabase(store), { fromSeq, toSeq }),
    subscribe: (listener) => store.subscribe((record, text) => { listener({ record, text }) }),
    append: async (input) => await store.append(input),
    markShipped: async (seq) => await store.markShipped(seq)
  }
}
