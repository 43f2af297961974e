// The seam between what records sessions (the SSH bridge) or reads their recordings back (replay, export, evidence
// bundles) and where the recordings are kept. AuditStore keeps them as frame files beside its database
// (recordings.ts) and implements both sides; a reader of a store no daemon owns (reader.ts) implements the reading
// side; tests record into a directory of files with no database (test/fakes/recordings.ts).

import type { CastHeader } from './asciicast.js'
import type { RecordingSinkOptions, RecordingSummary } from './recordings.js'

/** The writer of one session's recording (RecordingSink is the one AuditStore hands out). */
export interface RecordingWriter {
  /** Bytes the program wrote to the terminal (or stdout). False: pause the source until 'drain'. */
  output (chunk: Buffer): boolean
  /** Bytes the program wrote to stderr, without a pty. */
  errorOutput (chunk: Buffer): boolean
  /** Bytes the user typed. */
  input (chunk: Buffer): boolean
  resize (cols: number, rows: number): boolean
  /** Writes what is pending and resolves with the summary session.end carries; rejects when a write failed. */
  finish (): Promise<RecordingSummary>
  /** The durable part so far. */
  summary (): RecordingSummary
  /** What the kept recording holds now, read back (after a failed write, part of it may be there). */
  summaryOnDisk (): Promise<RecordingSummary>
  /** The session is over and its session.end durable: the recording is no longer open. */
  release (): Promise<void>
  /** Once, when a write failed: the writer takes nothing more and the session must end. */
  on (event: 'error', listener: (err: Error) => void): unknown
  /** After a write returned false, once the pending bytes fell below the high-water mark. */
  on (event: 'drain', listener: () => void): unknown
}

/** What replay, export and bundles read a recording through. */
export interface RecordingReader {
  /** A session's recording as asciicast text, in pieces of whole lines; empty when it has none. */
  readCast: (sessionId: string) => AsyncIterable<string>
}

export interface RecordingStore extends RecordingReader {
  /** Opens the recording of the session whose session.start is record `startSeq`, durably, before anything runs;
   * rejects (with a coded AuditError) when it cannot be kept, and then the session must not start. */
  openRecording: (sessionId: string, startSeq: number, header: CastHeader, options?: RecordingSinkOptions) => Promise<RecordingWriter>
  /** The kept bytes of a session's recording, in pieces (what bundles copy), or null when it has none as a file. */
  readRecordingFile: (sessionId: string) => Promise<AsyncIterable<Buffer> | null>
}
