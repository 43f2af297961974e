// Reading a recording kept in chunks in the store, in order and in constant memory.
import { AuditError } from './errors.js'
import type { AuditDb } from './level.js'
import { storageError, tablesOverlapping, unreadableDetail } from './storage-errors.js'
import { castKey, castRange, chunkIndexFromKey } from './keys.js'

/** One session's chunk texts in order, streamed in constant memory. Fails with PORTCULLIS_AUDIT_CORRUPT at a
 * missing chunk, since what follows a hole cannot be played. */
export async function * readCastChunks (db: AuditDb, sessionId: string): AsyncIterable<string> {
  let expected = 0
  try {
    for await (const [key, value] of db.iterator(castRange(sessionId))) {
      if (chunkIndexFromKey(key) !== expected) {
        // LevelDB passes over a block it cannot decode and says so only at the end of the walk: ask it.
        const unreadable = await unreadableDetail(db, castKey(sessionId, expected))
        if (unreadable !== null) throw new AuditError('PORTCULLIS_AUDIT_STORAGE', [db.location, `chunk ${expected} of the recording of session ${sessionId}`, '', unreadable, db.location])
        throw new AuditError('PORTCULLIS_AUDIT_CORRUPT', [key, `chunk ${expected} of the recording of session ${sessionId} is missing`])
      }
      expected++
      yield value
    }
  } catch (err) {
    throw storageError(err, db.location, undefined, tablesOverlapping(db, castRange(sessionId)))
  }
}
