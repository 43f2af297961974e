// What the fleet shipper (src/fleet/shipper.ts) reads a host's chain from and records its own events into: the
// store's durable records as stored, its checkpoints, its appends, and the shipped mark retention keeps to; and what
// the recording shipper reads: the recording files, how much of each is durable, and its own shipped marks; and what a
// SIEM output (src/siem/record-output.ts) reads the same chain through, with its delivered mark.

import { constants } from 'node:fs'
import { lstat, open, readdir } from 'node:fs/promises'
import type { Checkpoint } from './checkpoint-format.js'
import { vouchedSummaries } from './chain-verifier.js'
import { readCheckpoints } from './checkpoints.js'
import { outputDeliveredKey, recordingShippedKey } from './keys.js'
import type { StoredRecord } from './query.js'
import type { AuditHead, AuditInput, AuditRecord } from './record.js'
import { classifyRecordingNames, recordingPath, recordingsDir } from './recordings.js'
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

/** What a SIEM output reads the chain from: the records as the shipper reads them, and its own delivered mark. */
export interface OutputSource extends Pick<ShipSource, 'head' | 'queryStored' | 'subscribe' | 'append'> {
  /** The last seq the output noted as delivered, or null when it never did. */
  delivered: (output: string) => Promise<number | null>
  /** Notes (synced) that the output holds every record up to `seq` where its reader takes it: retention keeps later ones. */
  markDelivered: (output: string, seq: number) => Promise<void>
  /** Drops the output's mark (it is no longer configured), so retention no longer keeps records for it. */
  forget: (output: string) => Promise<void>
}

export function outputSource (store: AuditStore): OutputSource {
  const { head, queryStored, subscribe, append } = shipSource(store)
  const marks = store.keySpace('outputs')
  return {
    head,
    queryStored,
    subscribe,
    append,
    delivered: async (output) => {
      const raw = await marks.get(outputDeliveredKey(output))
      return raw === undefined || !Number.isSafeInteger(Number(raw)) ? null : Number(raw)
    },
    markDelivered: async (output, seq) => { await marks.put(outputDeliveredKey(output), String(seq)) },
    forget: async (output) => { await marks.del(outputDeliveredKey(output)) }
  }
}

/** What the fleet's recording shipper (src/fleet/recording-shipper.ts) reads session recordings from. */
export interface RecordingShipSource {
  /** The sessions with a recording file in the store (read without blocking the event loop). */
  sessions: () => Promise<string[]>
  /** How many bytes of the session's recording are durable, and whether it is still being written; null: no file. */
  progress: (sessionId: string) => Promise<{ bytes: number, open: boolean } | null>
  /** The file's bytes from `offset`, at most `length` (fewer at its end). */
  read: (sessionId: string, offset: number, length: number) => Promise<Buffer>
  /** Notes that the database holds the closed recording whole (`bytes`), so retention may remove it. */
  markShipped: (sessionId: string, bytes: number) => Promise<void>
  /** What markShipped noted for the session, or null. */
  shipped: (sessionId: string) => Promise<number | null>
  /** The bytes of the recording the session's durable session.end vouches for, or null when none does (yet). */
  vouched: (sessionId: string) => Promise<number | null>
  /** The newest durable seq: a session.end that was not there may be once it moved. */
  headSeq: () => number
  append: (input: AuditInput) => Promise<AuditRecord>
}

export function recordingShipSource (store: AuditStore): RecordingShipSource {
  const marks = store.keySpace('fleet')
  return {
    sessions: async () => {
      try {
        return classifyRecordingNames(await readdir(recordingsDir(store.dir))).sessions
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ENOENT') return []
        throw err
      }
    },
    progress: async (sessionId) => {
      const open = store.openRecordingBytes(sessionId)
      if (open !== null) return { bytes: open, open: true }
      let size: number
      try {
        const stat = await lstat(recordingPath(store.dir, sessionId))
        if (!stat.isFile()) return null
        size = stat.size
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ENOENT') return null
        throw err
      }
      // Opened meanwhile: only what its sink made durable.
      const opened = store.openRecordingBytes(sessionId)
      if (opened !== null) return { bytes: Math.min(size, opened), open: true }
      // No sink, but its marker: finished, its session.end not durable yet (or a run died in it): not closed.
      return { bytes: size, open: await store.hasSessionMarker(sessionId) }
    },
    read: async (sessionId, offset, length) => {
      const handle = await open(recordingPath(store.dir, sessionId), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
      try {
        const buffer = Buffer.allocUnsafe(length)
        let got = 0
        while (got < length) {
          const { bytesRead } = await handle.read(buffer, got, length - got, offset + got)
          if (bytesRead === 0) break
          got += bytesRead
        }
        return buffer.subarray(0, got)
      } finally {
        await handle.close()
      }
    },
    markShipped: async (sessionId, bytes) => { await marks.put(recordingShippedKey(sessionId), String(bytes)) },
    shipped: async (sessionId) => {
      const raw = await marks.get(recordingShippedKey(sessionId))
      return raw === undefined || !Number.isSafeInteger(Number(raw)) ? null : Number(raw)
    },
    vouched: async (sessionId) => {
      for await (const record of store.query({ session: sessionId, action: 'session.end' })) {
        const recording = vouchedSummaries(record)?.recording
        if (recording !== undefined) return recording.bytes
      }
      return null
    },
    headSeq: () => store.head().seq,
    append: async (input) => await store.append(input)
  }
}
