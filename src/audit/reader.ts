// A store directory opened for reading when no daemon owns it (a stopped daemon, a copy taken for a review):
// what `--data DIR` gives the audit commands. It never writes records or indexes; a store from before indexes
// existed is still queried, by scanning (the daemon indexes it at its next start).

import type { RecordingReader } from './recording-store.js'
import { readSessionMarkers, type SessionMarker } from './session-markers.js'
import { readSessionCast } from './session-cast.js'
import { readBundledSeq } from './bundled.js'
import { openAuditDb } from './level.js'
import { queryRecords, queryStored, type AuditFilter, type StoredRecord } from './query.js'
import type { AuditRecord } from './record.js'
import { readRecords, type ReadOptions } from './store.js'

export interface AuditReader extends RecordingReader {
  readonly dir: string
  /** Matching records in seq order, from one snapshot. */
  query: (filter: AuditFilter) => AsyncIterable<AuditRecord>
  /** The same, with each record's stored text. */
  queryStored: (filter: AuditFilter) => AsyncIterable<StoredRecord>
  read: (options?: ReadOptions) => AsyncIterable<AuditRecord>
  openSessionMarkers: () => Promise<SessionMarker[]>
  bundledSeq: () => Promise<number>
  close: () => Promise<void>
}

/** Opens `dir` for reading; PORTCULLIS_AUDIT_LOCKED when a daemon owns it, PORTCULLIS_AUDIT_NOT_FOUND when there is
 * no store there. Creates nothing. */
export async function openAuditReader (dir: string): Promise<AuditReader> {
  const db = await openAuditDb(dir, { create: false })
  return {
    dir,
    query: (filter) => queryRecords(db, filter),
    queryStored: (filter) => queryStored(db, filter),
    read: (options) => readRecords(db, options),
    readCast: (sessionId) => readSessionCast(db, dir, sessionId),
    openSessionMarkers: () => readSessionMarkers(db),
    bundledSeq: () => readBundledSeq(db),
    close: () => db.close()
  }
}
