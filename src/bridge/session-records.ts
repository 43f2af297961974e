// The two records that frame a bridge session in the audit chain: session.start (durable before the exec exists) and
// session.end (exit status, byte counts, how it ended, and the recording's summary, so the chain covers the file).
import type { AuditInput } from '../audit/record.js'
import type { RecordedExecOptions } from './recorded-exec.js'

export type EndReason = 'exit' | 'client' | 'idle' | 'max-duration' | 'recording-failed' | 'shutdown' | 'grant-ended' | 'access-removed' | 'error'

/** What session.end carries after the session ID: the session.start it closes, the exit status, how it ended, and more. */
export type SessionEndFields = { startSeq: number, exitCode: number | null, endedBy: string } & Record<string, unknown>

type SessionFacts = Pick<RecordedExecOptions, 'sessionId' | 'user' | 'key' | 'client' | 'container' | 'role' | 'grant' | 'body' | 'command' | 'originalCommand' | 'pty'>

export function sessionStartRecord (o: SessionFacts): AuditInput {
  return {
    kind: 'session',
    user: o.user,
    authMethod: 'ssh',
    action: 'session.start',
    project: o.container.project,
    role: o.role,
    resource: o.container.name,
    decision: 'allow',
    reason: `${o.user} opened ${o.command === null ? 'a shell' : 'a command'} in ${o.container.name} over SSH`,
    fields: {
      session: o.sessionId,
      containerId: o.container.id,
      command: o.command === null ? null : [o.command],
      ...(o.originalCommand !== undefined ? { originalCommand: o.originalCommand } : {}),
      exec: o.body.Cmd,
      tty: o.pty !== null,
      ...(o.pty !== null ? { term: o.pty.term, width: o.pty.cols, height: o.pty.rows } : {}),
      client: o.client,
      key: o.key,
      ...(o.grant !== undefined ? { grant: o.grant } : {})
    }
  }
}

/** A session's session.end record: who, where, and `fields` after the session ID (signal is always null). */
export function sessionEndRecord (o: SessionFacts, reason: string, fields: SessionEndFields): AuditInput {
  const { startSeq, exitCode, ...rest } = fields
  return {
    kind: 'session',
    user: o.user,
    authMethod: 'ssh',
    action: 'session.end',
    project: o.container.project,
    role: o.role,
    resource: o.container.name,
    decision: null,
    reason,
    fields: { session: o.sessionId, startSeq, exitCode, signal: null, ...rest }
  }
}

/** The session.end reason for how the session ended. */
export function describeEnd (endedBy: EndReason, status: number, message: string | null): string {
  switch (endedBy) {
    case 'exit': return `the command exited with status ${status}`
    case 'client': return `the client disconnected; the process was stopped (status ${status})`
    case 'error': return `the exec could not run: ${message ?? 'unknown error'}`
    default: return `${message ?? endedBy} (status ${status})`
  }
}
