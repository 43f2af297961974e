// Recordings kept as frame files in a directory with no database behind them: what a test needs to record a session
// (through the real frame writer) and read it back, without opening an audit store. `opened` lists the sessions.
import { AuditError } from '../../src/audit/errors.js'
import type { CastHeader } from '../../src/audit/asciicast.js'
import type { RecordingStore, RecordingWriter } from '../../src/audit/recording-store.js'
import { createRecordingFile, readRecordingChunks, recordingPath, renderRecordingFile, RecordingSink, type RecordingSinkOptions } from '../../src/audit/recordings.js'
import { isFile } from '../../src/audit/session-cast.js'

export class FileRecordings implements RecordingStore {
  readonly opened: string[] = []
  /** Sessions whose writer was released (their session.end is durable). */
  readonly released = new Set<string>()
  readonly #storage = {
    release: async (sessionId: string) => { this.released.add(sessionId) },
    settled: () => {}
  }

  constructor (readonly dir: string) {}

  async openRecording (sessionId: string, startSeq: number, header: CastHeader, options?: RecordingSinkOptions): Promise<RecordingWriter> {
    if (this.opened.includes(sessionId)) throw new AuditError('PORTCULLIS_AUDIT_INVALID_INPUT', [`session ${sessionId} was recorded already`])
    const sink = new RecordingSink(this.#storage, sessionId, startSeq, await createRecordingFile(this.dir, sessionId, header), options)
    this.opened.push(sessionId)
    return sink
  }

  async * readCast (sessionId: string): AsyncIterable<string> {
    if (await isFile(recordingPath(this.dir, sessionId))) yield * renderRecordingFile(recordingPath(this.dir, sessionId))
  }

  async readRecordingFile (sessionId: string): Promise<AsyncIterable<Buffer> | null> {
    return await isFile(recordingPath(this.dir, sessionId)) ? readRecordingChunks(recordingPath(this.dir, sessionId)) : null
  }
}
