// What report.html shows, gathered in one pass over the bundled records: counts and time series for the charts,
// and the first rows of each table (a range can hold millions of records; the tables are capped and the page
// points to records.csv for the rest). Responses are folded into the decision they answer, and portcullis's own
// look-ups and pings are counted apart, so neither buries what people did.

import type { AuditRecord } from '../record.js'
import { isSessionId } from '../keys.js'
import { addElevationStep, type ElevationStory } from './elevations.js'

/** Most rows any one table of the report holds. */
const REPORT_TABLE_ROWS = 5000

/** Deny codes that mean someone asked for more than their role allows on the host or on portcullis itself. */
const UNSAFE_CODES: ReadonlySet<string> = new Set(['UNSAFE_REQUIRED', 'SELF_PROTECTION'])

/** Role names taken as elevated. The record holds the role's name only, not whether the policy made it unsafe;
 * these are the names the examples and most policies give such roles. */
const ELEVATED_ROLE = /admin|unsafe|root/i

export interface AllowDeny {
  allow: number
  deny: number
}

/** A session as the records in the range tell it (its start or end may lie outside the range). */
export interface ReportSession {
  session: string
  user: string | null
  project: string | null
  container: string | null
  command: string[] | null
  startedAt: string | null
  startSeq: number | null
  endedAt: string | null
  endSeq: number | null
  durationMs: number | null
  exitCode: number | null
  signal: string | null
  endedBy: string | null
  /** The session was refused before it started (session.denied). */
  denied: boolean
  /** Whether it had a pty (its session.start says); null when its start is outside the range. */
  tty: boolean | null
  reason: string | null
}

/** portcullis's own look-ups (made while it judges a call), the SSH bridge's look-ups of its own execs, and pings:
 * recorded, but not what people did. */
export function isHousekeeping (record: AuditRecord): boolean {
  return isOwnLookup(record) || record.action === 'system.ping'
}

function isOwnLookup (record: AuditRecord): boolean {
  return record.authMethod === 'internal' || record.authMethod === 'bridge-housekeeping'
}

export class ReportCollector {
  records = 0
  firstTime: string | null = null
  lastTime: string | null = null
  readonly byKind = new Map<string, number>()
  readonly decisions: AllowDeny = { allow: 0, deny: 0 }
  /** Decisions that are portcullis's own look-ups, and pings (not its own): left out of the charts. */
  ownLookups = 0
  pings = 0
  /** Per UTC hour (`2026-11-23T15`); this and the three below leave out own look-ups and pings. */
  readonly byHour = new Map<string, AllowDeny>()
  readonly byUser = new Map<string, AllowDeny>()
  readonly byProject = new Map<string, AllowDeny>()
  readonly byAction = new Map<string, AllowDeny>()
  readonly denied: AuditRecord[] = []
  deniedTotal = 0
  readonly elevated: AuditRecord[] = []
  elevatedTotal = 0
  /** The records table: every kind but responses, first come; a response whose decision is not in it is a row. */
  readonly tableRows: AuditRecord[] = []
  /** The status each table decision was answered with, by the decision's seq (null: no response recorded). */
  readonly responses = new Map<number, number | null>()
  foldedResponses = 0
  readonly sessions = new Map<string, ReportSession>()
  readonly elevations = new Map<string, ElevationStory>()

  add (record: AuditRecord): void {
    this.records++
    this.firstTime ??= record.time
    this.lastTime = record.time
    this.byKind.set(record.kind, (this.byKind.get(record.kind) ?? 0) + 1)
    this.#addToTable(record)
    if (record.decision === 'allow' || record.decision === 'deny') this.#countDecision(record, record.decision)
    if (record.decision === 'deny') {
      this.deniedTotal++
      if (this.denied.length < REPORT_TABLE_ROWS) this.denied.push(record)
    }
    if (isElevated(record)) {
      this.elevatedTotal++
      if (this.elevated.length < REPORT_TABLE_ROWS) this.elevated.push(record)
    }
    if (record.kind === 'elevation') addElevationStep(this.elevations, record)
    const session = record.fields?.session
    if (isSessionId(session)) this.#addToSession(session, record)
  }

  #addToTable (record: AuditRecord): void {
    if (record.kind === 'response' && record.reqSeq !== undefined && this.responses.has(record.reqSeq)) {
      this.responses.set(record.reqSeq, record.status ?? null)
      this.foldedResponses++
      return
    }
    if (this.tableRows.length >= REPORT_TABLE_ROWS) return
    this.tableRows.push(record)
    if (record.kind === 'decision' && record.decision === 'allow') this.responses.set(record.seq, null)
  }

  #countDecision (record: AuditRecord, decision: 'allow' | 'deny'): void {
    this.decisions[decision]++
    if (isOwnLookup(record)) {
      this.ownLookups++
      return
    }
    if (record.action === 'system.ping') {
      this.pings++
      return
    }
    bump(this.byHour, record.time.slice(0, 13), decision)
    bump(this.byUser, record.user ?? '(anonymous)', decision)
    bump(this.byProject, record.project ?? '(no project)', decision)
    bump(this.byAction, record.action ?? '(unknown route)', decision)
  }

  #addToSession (id: string, record: AuditRecord): void {
    let session = this.sessions.get(id)
    if (session === undefined) {
      session = {
        session: id,
        user: record.user,
        project: record.project,
        container: record.kind === 'session' ? record.resource : null,
        command: null,
        startedAt: null,
        startSeq: null,
        endedAt: null,
        endSeq: null,
        durationMs: null,
        exitCode: null,
        signal: null,
        endedBy: null,
        denied: false,
        tty: null,
        reason: null
      }
      this.sessions.set(id, session)
    }
    if (record.kind !== 'session') return
    const fields = record.fields ?? {}
    if (record.resource !== null) session.container = record.resource
    if (record.user !== null) session.user = record.user
    if (record.project !== null) session.project = record.project
    if (record.action === 'session.start' || record.action === 'session.denied') {
      session.startedAt = record.time
      session.startSeq = record.seq
      if (Array.isArray(fields.command)) session.command = fields.command.map(String)
      if (typeof fields.tty === 'boolean') session.tty = fields.tty
      if (record.action === 'session.denied') {
        session.denied = true
        session.reason = record.reason
      }
    } else if (record.action === 'session.end') {
      session.endedAt = record.time
      session.endSeq = record.seq
      session.durationMs = typeof fields.durationMs === 'number' ? fields.durationMs : null
      session.exitCode = typeof fields.exitCode === 'number' ? fields.exitCode : null
      session.signal = typeof fields.signal === 'string' ? fields.signal : null
      session.endedBy = typeof fields.endedBy === 'string' ? fields.endedBy : null
      session.reason = record.reason
    }
  }

  /** Users, projects and sessions named by the records (decisions and sessions). */
  counts (): { users: number, projects: number, sessions: number } {
    return { users: this.byUser.size, projects: this.byProject.size, sessions: this.sessions.size }
  }
}

/** Whether a record shows a setting that reaches the host, a refusal for asking for one, an elevated role, or a
 * call or session allowed by a just-in-time grant (and every step of granting one). */
function isElevated (record: AuditRecord): boolean {
  const escapes = record.fields?.escapes
  if (Array.isArray(escapes) && escapes.length > 0) return true
  if (record.code !== undefined && UNSAFE_CODES.has(record.code)) return true
  if (typeof record.fields?.grant === 'string' || record.kind === 'elevation') return true
  return record.role !== undefined && ELEVATED_ROLE.test(record.role)
}

/** The escapes a record names, as `setting: detail` texts. */
export function escapesOf (record: AuditRecord): string[] {
  const escapes = record.fields?.escapes
  if (!Array.isArray(escapes)) return []
  return escapes.map((escape: unknown) => {
    if (escape === null || typeof escape !== 'object') return String(escape)
    const { setting, detail } = escape as { setting?: unknown, detail?: unknown }
    return `${String(setting ?? '?')}: ${String(detail ?? '')}`
  })
}

function bump (map: Map<string, AllowDeny>, key: string, decision: 'allow' | 'deny'): void {
  let counts = map.get(key)
  if (counts === undefined) {
    counts = { allow: 0, deny: 0 }
    map.set(key, counts)
  }
  counts[decision]++
}
