// A session's recording as asciicast text, whichever way it was stored: rendered from its frame file
// (recordings.ts), or, for a recording made before recordings became frame files, read from its chunks in
// LevelDB (casts.ts). Replay, export, bundles and the admin socket all read recordings through this.

import { lstat } from 'node:fs/promises'
import { readCastChunks } from './casts.js'
import type { AuditDb } from './level.js'
import { recordingPath, renderRecordingFile } from './recordings.js'

export async function * readSessionCast (db: AuditDb, storeDir: string, sessionId: string): AsyncIterable<string> {
  const path = recordingPath(storeDir, sessionId)
  if (await isFile(path)) yield * renderRecordingFile(path)
  else yield * readCastChunks(db, sessionId)
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
