// The open-session markers: one per session whose recording was opened and not yet released, so a session the
// daemon died in is found (and closed as interrupted) at the next start.
import type { AuditDb } from './level.js'
import { storageError, tablesOverlapping } from './storage-errors.js'
import { MARKER_RANGE, decodeMarker, sessionFromMarkerKey } from './keys.js'

/** A session whose recording was opened and not yet released. */
export interface SessionMarker {
  session: string
  /** The seq of its session.start; 1 when the marker is unreadable (look from the start of the chain). */
  startSeq: number
}

/** Every open-session marker. */
export async function readSessionMarkers (db: AuditDb): Promise<SessionMarker[]> {
  const markers: SessionMarker[] = []
  try {
    for await (const [key, value] of db.iterator(MARKER_RANGE)) {
      const session = sessionFromMarkerKey(key)
      if (session !== null) markers.push({ session, startSeq: decodeMarker(value) ?? 1 })
    }
  } catch (err) {
    throw storageError(err, db.location, undefined, tablesOverlapping(db, MARKER_RANGE))
  }
  return markers
}
