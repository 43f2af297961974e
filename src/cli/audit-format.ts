// How the audit commands show records and sessions on a terminal: one line per record, a table of sessions, every
// string made visible first so a record cannot end a line early or act on the terminal.
import type { AuditRecord } from '../audit/record.js'
import type { SessionSummary } from '../audit/sessions.js'
import { visible } from '../audit/terminal-text.js'
import { formatElapsed } from '../core/duration.js'
import { renderTable } from './output.js'

const SESSION_COLUMNS = ['ID', 'START (UTC)', 'USER', 'PROJECT', 'CONTAINER', 'COMMAND', 'DURATION', 'EXIT', 'ENDED BY'] as const
const COMMAND_WIDTH = 40

export function formatSessionTable (sessions: SessionSummary[]): string {
  const rows = sessions.map((s) => [
    s.session,
    formatTime(s.startedAt),
    s.user ?? '-',
    s.project ?? '-',
    s.container ?? '-',
    truncate(s.command === null ? 'shell' : s.command.join(' '), COMMAND_WIDTH),
    s.durationMs !== undefined ? formatElapsed(s.durationMs) : '-',
    s.exitCode != null ? String(s.exitCode) : s.signal ?? '-',
    s.endedBy ?? s.state
  ])
  return renderTable(SESSION_COLUMNS, rows)
}

/** `2026-11-23 15:00:00` from an ISO time, in UTC like the records. */
export function formatTime (iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '')
}

function truncate (text: string, width: number): string {
  // Escaped first, so the cut never splits an escape and the width counts what is shown.
  const oneLine = visible(text.replace(/[ \t\r\n]+/g, ' '))
  return oneLine.length <= width ? oneLine : oneLine.slice(0, width - 1) + '…'
}

/** One record, one line: every string in it went through visible(), so nothing in it can end the line early. */
export function formatRecord (r: AuditRecord): string {
  return visible(recordLine(r))
}

function recordLine (r: AuditRecord): string {
  if (r.kind === 'response') return `${r.seq} ${r.time} response  to #${r.reqSeq ?? '?'} status ${r.status ?? '?'} ${r.method ?? ''} ${r.uri ?? ''}`
  if (r.kind === 'system') return `${r.seq} ${r.time} system    ${r.action ?? ''} ${r.reason ?? ''}`
  if (r.kind === 'session') {
    const session = typeof r.fields?.session === 'string' ? ` ${r.fields.session}` : ''
    const where = r.resource !== null ? ` in ${r.resource}` : ''
    return `${r.seq} ${r.time} session   ${r.user ?? 'unknown'} ${r.action ?? '?'}${session}${where} — ${r.reason ?? ''}`
  }
  if (r.kind === 'elevation') {
    const request = typeof r.fields?.request === 'string' ? ` ${r.fields.request}` : ''
    const role = typeof r.fields?.role === 'string' ? ` ${r.fields.role}` : ''
    return `${r.seq} ${r.time} elevation ${r.user ?? 'unknown'} ${r.action ?? '?'}${request}${role} [${r.project ?? ''}] — ${r.reason ?? ''}`
  }
  const who = r.user ?? 'anonymous'
  const where = r.project !== null && r.project !== undefined ? ` [${r.project}]` : ''
  return `${r.seq} ${r.time} ${(r.decision ?? '').toUpperCase().padEnd(5)} ${who} ${r.action ?? '?'}${where} ${r.method ?? ''} ${r.uri ?? ''} — ${r.reason ?? ''}`
}
