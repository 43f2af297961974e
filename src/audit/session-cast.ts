// A session's recording as asciicast text, whichever way it was stored: rendered from its frame file
// (recordings.ts), or, for a recording made before recordings became frame files, read from its chunks in
// LevelDB (casts.ts). Replay, export, bundles and the admin socket all read recordings through this.

import { lstat } from 'node:fs/promises'
import { readCastChunks } from './cast-chunks.js'
import { AuditError } from './errors.js'
import { castRange } from './keys.js'
import type { AuditDb } from './level.js'
import { recordingPath, renderRecordingFile } from './recordings.js'

export async function * readSessionCast (db: AuditDb, storeDir: string, sessionId: string): AsyncIterable<string> {
  const path = recordingPath(storeDir, sessionId)
  if (await isFile(path)) {
    // A session recorded in chunks never has a file as well: one beside its chunks was added, and must not be
    // played in their place.
    for await (const _ of db.keys({ ...castRange(sessionId), limit: 1 })) {
      throw new AuditError('PORTCULLIS_AUDIT_RECORDING_INVALID', [path, '0', `session ${sessionId} was recorded in chunks in the store, so no file of it is portcullis's: it was added`])
    }
    yield * renderRecordingFile(path)
  } else yield * readCastChunks(db, sessionId)
}

/** Whether `path` is a regular file; false when nothing is there. A link is not followed: the read then fails. */
export async function isFile (path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return false
    throw err
  }
}
