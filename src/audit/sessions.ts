// SSH bridge sessions as the audit trail tells them: a session.start record, a session.end record that names it,
// and the recording stored beside them. Lists are built from the records alone (newest first), so they work the
// same on a live store, over the admin socket, and on a stopped or copied one.

import type { Logger } from 'pino'
import { CastDigester, type CastSummary } from './cast-digest.js'
import { readCastStream } from './cast-stream.js'
import { readSessionMarkers, type SessionMarker } from './session-markers.js'
import { isRecordingSummary, recordingPath, scanRecordingFile, type RecordingSummary } from './recordings.js'
import { isFile, readSessionCast } from './session-cast.js'
import { messageOf } from './errors.js'
import type { RecordingReader } from './recording-store.js'
import { openAuditDb } from './level.js'
import { isSessionId } from './keys.js'
import type { AuditRecord } from './record.js'
import { readRecords, type AuditStore, type ReadOptions } from './store.js'

/** How a session ended, as session.end records it. */
type SessionEndedBy = 'exit' | 'client' | 'idle' | 'max-duration' | 'recording-failed' | 'shutdown' | 'grant-ended' | 'access-removed' | 'interrupted' | 'error'

/** `ended`: it has a session.end; `open`: no end yet and its recording is open; `interrupted`: no end, and nothing
 * is recording it any more (portcullis stopped, and has not yet recorded the end at its next start). */
type SessionState = 'ended' | 'open' | 'interrupted'

export interface SessionSummary {
  session: string
  state: SessionState
  user: string | null
  project: string | null
  /** The container's name, as the session reached it. */
  container: string | null
  containerId: string | null
  /** null for a login shell. */
  command: string[] | null
  tty: boolean
  client: string | null
  startedAt: string
  startSeq: number
  endedAt?: string
  endSeq?: number
  exitCode?: number | null
  signal?: string | null
  endedBy?: SessionEndedBy
  /** The session.end reason. */
  endReason?: string
  durationMs?: number
  bytesIn?: number
  bytesOut?: number
  bytesErr?: number
  /** The recording's summary, for a recording stored in LevelDB chunks (before frame files). */
  cast?: CastSummary
  /** The recording file's summary. */
  recording?: RecordingSummary
}

/** What sessions are read from: an open AuditStore, or a store opened with openSessionArchive. */
export interface SessionSource extends RecordingReader {
  read: (options?: ReadOptions) => AsyncIterable<AuditRecord>
  openSessionMarkers: () => Promise<SessionMarker[]>
}

export interface ListSessionsOptions {
  /** Most sessions returned. Default 50. */
  limit?: number
  /** Only sessions of this user. */
  user?: string
  /** Only sessions in this container: its name, or its ID or an ID prefix of 12 digits or more. */
  container?: string
  /** Only this session. */
  session?: string
  /** Sessions whose recording is open right now (a live store's markers): unended sessions among them are
   * `open`, the others `interrupted`. Leave it out for a store no daemon runs on. */
  openSessions?: ReadonlySet<string>
}

const DEFAULT_LIMIT = 50

/** Sessions, newest first, from one pass over the records backwards that stops once `limit` are found. */
export async function listSessions (source: Pick<SessionSource, 'read'>, options: ListSessionsOptions = {}): Promise<SessionSummary[]> {
  const limit = options.limit !== undefined && options.limit >= 0 ? Math.floor(options.limit) : DEFAULT_LIMIT
  const sessions: SessionSummary[] = []
  if (limit === 0) return sessions
  // Walking backwards, a session's end comes before its start: ends wait here for their start.
  const ends = new Map<string, AuditRecord>()
  for await (const record of source.read({ reverse: true })) {
    if (record.kind !== 'session') continue
    const session = record.fields?.session
    if (!isSessionId(session) || (options.session !== undefined && session !== options.session)) continue
    if (record.action === 'session.end') {
      if (!ends.has(session)) ends.set(session, record)
      continue
    }
    if (record.action !== 'session.start') continue
    const end = ends.get(session)
    ends.delete(session)
    const summary = summarize(record, end, options.openSessions)
    if (!matches(summary, options)) continue
    sessions.push(summary)
    if (sessions.length >= limit || options.session !== undefined) break
  }
  return sessions
}

/** One session, or null when the records hold no session.start for it. */
export async function findSession (source: Pick<SessionSource, 'read'>, sessionId: string, openSessions?: ReadonlySet<string>): Promise<SessionSummary | null> {
  if (!isSessionId(sessionId)) return null
  const [found] = await listSessions(source, { session: sessionId, limit: 1, ...(openSessions !== undefined ? { openSessions } : {}) })
  return found ?? null
}

/** The IDs of sessions being recorded right now, for `openSessions`. */
export async function openSessionIds (source: Pick<SessionSource, 'openSessionMarkers'>): Promise<Set<string>> {
  return new Set((await source.openSessionMarkers()).map((marker) => marker.session))
}

function summarize (start: AuditRecord, end: AuditRecord | undefined, openSessions: ReadonlySet<string> | undefined): SessionSummary {
  const fields = start.fields ?? {}
  const session = fields.session as string
  const summary: SessionSummary = {
    session,
    state: end !== undefined ? 'ended' : openSessions?.has(session) === true ? 'open' : 'interrupted',
    user: start.user,
    project: start.project,
    container: start.resource,
    containerId: typeof fields.containerId === 'string' ? fields.containerId : null,
    command: Array.isArray(fields.command) ? fields.command.map(String) : null,
    tty: fields.tty === true,
    client: typeof fields.client === 'string' ? fields.client : null,
    startedAt: start.time,
    startSeq: start.seq
  }
  if (end === undefined) return summary
  const ended = end.fields ?? {}
  summary.endedAt = end.time
  summary.endSeq = end.seq
  summary.exitCode = typeof ended.exitCode === 'number' ? ended.exitCode : null
  summary.signal = typeof ended.signal === 'string' ? ended.signal : null
  if (typeof ended.endedBy === 'string') summary.endedBy = ended.endedBy as SessionEndedBy
  if (end.reason !== null) summary.endReason = end.reason
  for (const key of ['durationMs', 'bytesIn', 'bytesOut', 'bytesErr'] as const) {
    if (typeof ended[key] === 'number') summary[key] = ended[key]
  }
  if (ended.cast !== undefined) summary.cast = ended.cast as CastSummary
  if (isRecordingSummary(ended.recording)) summary.recording = ended.recording
  return summary
}

function matches (summary: SessionSummary, options: ListSessionsOptions): boolean {
  if (options.user !== undefined && summary.user !== options.user) return false
  const container = options.container
  if (container !== undefined && summary.container !== container) {
    const idPrefix = /^[0-9a-f]{12,64}$/.test(container) && summary.containerId?.startsWith(container) === true
    if (!idPrefix) return false
  }
  return true
}

export const INTERRUPTED_REASON = 'portcullis stopped before the session ended; the recording holds what was written until then'

/**
 * Records the end of every session a previous run died in: for each open-session marker whose session has no
 * session.end, appends one (endedBy 'interrupted', exit code unknown, the recording's summary recomputed from the
 * stored chunks), then removes the marker. Call it at start-up, before the bridge opens new sessions: every marker
 * it finds is taken as stale. Resolves with the sessions it ended.
 */
export async function recoverInterruptedSessions (store: AuditStore, logger: Logger): Promise<string[]> {
  const markers = await store.openSessionMarkers()
  if (markers.length === 0) return []
  const wanted = new Set(markers.map((marker) => marker.session))
  const starts = new Map<string, AuditRecord>()
  const ended = new Set<string>()
  // One pass from the oldest marker's start covers every marker's start and end.
  const fromSeq = Math.min(...markers.map((marker) => marker.startSeq))
  for await (const record of store.read({ fromSeq })) {
    if (record.kind !== 'session') continue
    const session = record.fields?.session
    if (typeof session !== 'string' || !wanted.has(session)) continue
    if (record.action === 'session.start' && !starts.has(session)) starts.set(session, record)
    else if (record.action === 'session.end') ended.add(session)
  }

  const recovered: string[] = []
  for (const { session, startSeq } of markers) {
    if (!ended.has(session)) {
      const start = starts.get(session)
      if (start === undefined) logger.warn({ session, startSeq }, 'an interrupted session has no session.start record; recording its end with what the recording holds')
      const recording = await measureRecording(store, session, logger)
      await store.append({
        kind: 'session',
        user: start?.user ?? null,
        authMethod: 'ssh',
        action: 'session.end',
        project: start?.project ?? null,
        resource: start?.resource ?? null,
        decision: null,
        reason: INTERRUPTED_REASON,
        fields: {
          session,
          startSeq: start?.seq ?? startSeq,
          exitCode: null,
          signal: null,
          endedBy: 'interrupted',
          durationMs: recording.durationMs,
          bytesIn: recording.bytesIn,
          bytesOut: recording.bytesOut,
          bytesErr: recording.bytesErr,
          ...('recording' in recording ? { recording: recording.recording } : { cast: recording.cast })
        }
      })
      logger.warn({ session, user: start?.user, container: start?.resource, recording: 'recording' in recording ? recording.recording : recording.cast }, 'recorded the end of a session portcullis stopped in')
      recovered.push(session)
    }
    await store.deleteSessionMarker(session)
  }
  return recovered
}

type RecordingMeasure = ({ cast: CastSummary } | { recording: RecordingSummary }) & {
  bytesErr: number
  /** The time of the last recorded event: the session lasted at least this long. */
  durationMs: number
  /** UTF-8 bytes of the recorded input and output (stdout and stderr are not told apart in a recording). */
  bytesIn: number
  bytesOut: number
}

/** The summary of what is stored, and what the recording tells about the session. Two passes, so a line the
 * reader refuses does not cut the digest short; a hole in the chunks (only tampering makes one) stops the
 * summary there, and verify then reports the chunks after it. */
async function measureRecording (store: AuditStore, session: string, logger: Logger): Promise<RecordingMeasure> {
  const path = recordingPath(store.dir, session)
  if (await isFile(path)) {
    // What is on disk, a frame the crash cut included: the digest covers every byte of the file, the counts the
    // whole frames (`tornBytes` says how much of the file follows the last of them).
    const scan = await scanRecordingFile(path)
    if (scan.invalid !== null) logger.error({ session, path, ...scan.invalid }, 'the recording of an interrupted session is not frames all the way; its summary covers the file as it is')
    else if (scan.summary.tornBytes !== undefined) logger.warn({ session, path, tornBytes: scan.summary.tornBytes }, 'the recording of an interrupted session ends in a frame the crash cut; replay and export stop at the last whole frame')
    return { recording: scan.summary, durationMs: Math.round(scan.lastMicros / 1000), bytesIn: scan.bytesIn, bytesOut: scan.bytesOut, bytesErr: scan.bytesErr }
  }
  const digester = new CastDigester()
  try {
    for await (const chunk of store.readCast(session)) digester.add(chunk)
  } catch (err) {
    logger.error({ err, session }, 'the recording of an interrupted session has a hole; its summary stops there')
  }
  const measure = { durationMs: 0, bytesIn: 0, bytesOut: 0, bytesErr: 0 }
  if (digester.summary().chunks === 0) return { ...measure, cast: digester.summary() }
  try {
    for await (const item of readCastStream(store.readCast(session))) {
      if (!('event' in item)) continue
      const { time, code, data } = item.event
      measure.durationMs = Math.round(time * 1000)
      if (code === 'o') measure.bytesOut += Buffer.byteLength(data)
      else if (code === 'i') measure.bytesIn += Buffer.byteLength(data)
    }
  } catch (err) {
    logger.warn({ err, session }, `the recording of an interrupted session cannot be read to its end: ${messageOf(err)}`)
  }
  return { ...measure, cast: digester.summary() }
}

/** A store opened for reading only, when no daemon owns it (stopped daemon, copied store). */
export interface SessionArchive extends SessionSource {
  readonly dir: string
  close: () => Promise<void>
}

/** Opens a store directory for reading sessions; PORTCULLIS_AUDIT_LOCKED when a daemon owns it,
 * PORTCULLIS_AUDIT_NOT_FOUND when there is no store there. Never creates anything. */
export async function openSessionArchive (dir: string): Promise<SessionArchive> {
  const db = await openAuditDb(dir, { create: false })
  return {
    dir,
    read: (options?: ReadOptions) => readRecords(db, options),
    readCast: (sessionId: string) => readSessionCast(db, dir, sessionId),
    openSessionMarkers: () => readSessionMarkers(db),
    close: () => db.close()
  }
}
