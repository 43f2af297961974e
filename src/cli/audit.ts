import { StringDecoder } from 'node:string_decoder'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import type http from 'node:http'
import { createInterface } from 'node:readline'
import type { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { readFile } from 'node:fs/promises'
import { adminJson, adminRequest } from '../admin/client.js'
import { openAuditReader } from '../audit/reader.js'
import { readCastStream, type CastItem } from '../audit/cast-stream.js'
import { isSessionId } from '../audit/keys.js'
import type { AuditRecord } from '../audit/record.js'
import { findSession, listSessions, openSessionArchive, type ListSessionsOptions, type SessionSummary } from '../audit/sessions.js'
import { verifyDir } from '../audit/verify.js'
import type { VerifyReport } from '../audit/verify.js'
import type { CastHeader } from '../bridge/asciicast.js'
import { PortcullisError, type ErrorCode } from '../errors.js'
import { formatVerifyReport, verifyPublicKeys } from './audit-checkpoints.js'
import { EXPORT_FILTER_HELP, exportFilterFromFlags, exportRecords } from './audit-export.js'
import { isExportFormat } from '../audit/export.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'
import { formatElapsed } from '../duration.js'
import { terminalSafeJson, visible } from '../audit/terminal-text.js'
import { ReplayFilter, removedSummary } from '../audit/replay-filter.js'
import { checkCheckpointCopies, readCheckpointCopies, readLoggedHeads, type CheckpointCopiesReport } from '../audit/checkpoint-copies.js'

const adminOption = { 'admin-socket': { type: 'string', default: DEFAULTS.adminSocket } } as const
const adminHelp = { '--admin-socket PATH': `the running daemon's admin socket (default ${DEFAULTS.adminSocket})` }
const dataHelp = { '--data DIR': 'read a store directly, when no daemon owns it (stopped daemon, copied store)' }

export const auditTailCommand = defineCommand({
  name: 'audit tail',
  summary: 'Show the latest audit records from the running daemon; --follow keeps printing new ones.',
  usage: 'audit tail [-n 20] [--follow] [--json] [--admin-socket PATH]',
  options: { ...adminOption, lines: { type: 'string', short: 'n', default: '20' }, follow: { type: 'boolean', short: 'f', default: false }, json: { type: 'boolean', default: false } },
  help: { ...adminHelp, '-n, --lines N': 'how many recent records (default 20)', '-f, --follow': 'keep printing new records', '--json': 'one JSON record per line' },
  async run (values) {
    if (!/^\d+$/.test(values.lines)) throw new PortcullisError('PORTCULLIS_USAGE', '-n takes a whole number', 'audit tail')
    const res = await adminRequest(values['admin-socket'], 'GET', `/v1/audit/tail?n=${values.lines}&follow=${values.follow}`)
    const lines = createInterface({ input: res, crlfDelay: Infinity })
    for await (const line of lines) {
      if (line === '') continue
      // The JSON stays the same JSON; only what a terminal would act on is spelled as an escape.
      process.stdout.write((values.json ? terminalSafeJson(line) : formatRecord(JSON.parse(line) as AuditRecord)) + '\n')
    }
    return 0
  }
})

export const auditExportCommand = defineCommand({
  name: 'audit export',
  summary: 'Stream audit records as JSON lines or CSV, filtered by time, user, project, container, action, decision or session (constant memory), or one session\'s recording as an asciicast file.',
  usage: 'audit export [--format jsonl|csv] [--since TIME] [--until TIME] [--user USER] [--project NAME] [--container NAME|ID]\n' +
    '       [--action GLOB] [--decision allow|deny] [--session ID] [--from-seq N] [--to-seq N] [--out FILE] [--admin-socket PATH | --data DIR]\n' +
    '       portcullis audit export --session ID [--format asciicast] [--out FILE] [--admin-socket PATH | --data DIR]',
  options: {
    ...adminOption,
    format: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    user: { type: 'string' },
    project: { type: 'string' },
    container: { type: 'string' },
    action: { type: 'string' },
    decision: { type: 'string' },
    'from-seq': { type: 'string' },
    'to-seq': { type: 'string' },
    out: { type: 'string' },
    session: { type: 'string' },
    data: { type: 'string' }
  },
  help: {
    ...adminHelp,
    ...dataHelp,
    '--format FORMAT': 'jsonl (records exactly as stored, one per line; the default), csv (for spreadsheets) or asciicast (a session\'s recording; the default when --session is the only option that selects)',
    ...EXPORT_FILTER_HELP,
    '--session ID': 'with jsonl or csv, only the records of this SSH session; with asciicast, its recording exactly as stored (asciinema play/cat/upload take it); IDs from `portcullis audit sessions`',
    '--out FILE': 'write to FILE instead of stdout'
  },
  async run (values) {
    const usage = (problem: string): PortcullisError => new PortcullisError('PORTCULLIS_USAGE', problem, 'audit export')
    const selectors = (['since', 'until', 'user', 'project', 'container', 'action', 'decision', 'from-seq', 'to-seq'] as const).filter((flag) => values[flag] !== undefined)
    const format = values.format ?? (values.session !== undefined && selectors.length === 0 ? 'asciicast' : 'jsonl')
    if (format === 'asciicast') {
      if (values.session === undefined) throw usage('--format asciicast exports one session\'s recording: add --session ID (`portcullis audit sessions` lists them)')
      if (selectors.length > 0) throw usage(`--${selectors[0]!} selects records, not a recording: add --format jsonl or --format csv to export the session's records`)
      await exportCast(values, requireSessionId(values.session), values.out)
      return 0
    }
    if (!isExportFormat(format)) throw usage(`unknown --format ${format}; use jsonl, csv or asciicast`)
    await exportRecords({ format, filter: exportFilterFromFlags(values), adminSocket: values['admin-socket'], data: values.data, out: values.out })
    return 0
  }
})

export const auditVerifyCommand = defineCommand({
  name: 'audit verify',
  summary: 'Check the audit hash chain and its signed checkpoints, name the first record that was changed, removed or inserted, and the checkpoint the verdict rests on. Exit 0 when intact, 1 when not.',
  usage: 'audit verify [--admin-socket PATH] [--data DIR [--public-key FILE | --keys DIR]] [--checkpoints FILE] [--json]',
  options: { ...adminOption, data: { type: 'string' }, 'public-key': { type: 'string' }, keys: { type: 'string' }, checkpoints: { type: 'string' }, json: { type: 'boolean', default: false } },
  help: {
    ...adminHelp,
    '--data DIR': 'verify a store directly, when no daemon owns it (stopped daemon, copied store)',
    '--public-key FILE': 'check checkpoint signatures with this audit_ed25519.pub (the one published for the host)',
    '--keys DIR': `with --data: the keys directory holding audit_ed25519.pub (default ${DEFAULTS.keys}, when it has one)`,
    '--checkpoints FILE': 'also check the checkpoint copies in FILE (the daemon\'s log, or checkpoints as JSON lines): they still hold when the store\'s own were deleted',
    '--json': 'print the report as JSON'
  },
  async run (values) {
    if (values.data === undefined && values.keys !== undefined) {
      throw new PortcullisError('PORTCULLIS_USAGE', '--keys goes with --data: the running daemon checks with its own key', 'audit verify')
    }
    if (values.data === undefined && values['public-key'] !== undefined && values.checkpoints === undefined) {
      throw new PortcullisError('PORTCULLIS_USAGE', '--public-key goes with --data or --checkpoints: the running daemon checks its own checkpoints with its own key', 'audit verify')
    }
    const report: VerifyReport & { checkpointCopies?: CheckpointCopiesReport } = values.data !== undefined
      ? await verifyDir(values.data, { publicKeys: verifyPublicKeys(values) })
      : (await adminJson<VerifyReport>(values['admin-socket'], 'GET', '/v1/audit/verify')).body
    if (values.checkpoints !== undefined) {
      const copies = await checkCopiesFor(values.checkpoints, values, report)
      report.checkpointCopies = copies
      if (report.ok && copies.firstBad !== undefined) {
        report.ok = false
        report.firstBad = copies.firstBad
      }
    }
    process.stdout.write(values.json ? terminalSafeJson(JSON.stringify(report, null, 2)) + '\n' : formatVerifyReport(report) + formatCopies(report.checkpointCopies))
    return report.ok ? 0 : 1
  }
})

/** Checks the checkpoint copies in `file` against the store the report is about, through the same door. */
async function checkCopiesFor (file: string, values: { data?: string, 'admin-socket': string, 'public-key'?: string, keys?: string }, report: VerifyReport): Promise<CheckpointCopiesReport> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_INPUT', file, (err as Error).message)
  }
  const copies = readCheckpointCopies(text)
  const keys = values.data !== undefined ? verifyPublicKeys(values) : values['public-key'] !== undefined ? verifyPublicKeys({ 'public-key': values['public-key'] }) : undefined
  const options = { ...(keys !== undefined ? { keys } : {}), expiredUpTo: report.base?.seq ?? 0, headSeq: report.head.seq, heads: readLoggedHeads(text) }
  if (values.data !== undefined) {
    const reader = await openAuditReader(values.data)
    try {
      return await checkCheckpointCopies(copies, async (seq) => {
        for await (const record of reader.read({ fromSeq: seq, toSeq: seq })) return record.hash
        return null
      }, options)
    } finally {
      await reader.close()
    }
  }
  return await checkCheckpointCopies(copies, async (seq) => {
    const res = await adminRequest(values['admin-socket'], 'GET', `/v1/audit/export?fromSeq=${seq}&toSeq=${seq}`)
    let body = ''
    for await (const chunk of res) body += String(chunk)
    const line = body.split('\n').find((l) => l !== '')
    return line === undefined ? null : (JSON.parse(line) as AuditRecord).hash
  }, options)
}

function formatCopies (copies: CheckpointCopiesReport | undefined): string {
  if (copies === undefined) return ''
  const lines = [`checkpoint copies from the log: ${copies.found} found, ${copies.checked} hold` + (copies.heads > 0 ? `; ${copies.heads} logged heads` : '') +
    (copies.expired > 0 ? `, ${copies.expired} for expired records` : '') +
    (copies.last !== undefined ? `; the newest that holds signs record ${copies.last.seq} (${copies.last.time})` : '')]
  if (copies.firstBad !== undefined) lines.push(`a logged checkpoint does NOT hold: ${copies.firstBad.detail}`)
  if (!copies.signaturesChecked) lines.push('their signatures were NOT checked: pass --public-key FILE')
  return lines.map(visible).join('\n') + '\n'
}

export const auditSessionsCommand = defineCommand({
  name: 'audit sessions',
  summary: 'List recorded SSH sessions, newest first: who, where, what ran, how long, how it ended.',
  usage: 'audit sessions [-n 50] [--user USER] [--container NAME] [--json] [--admin-socket PATH | --data DIR]',
  options: { ...adminOption, data: { type: 'string' }, lines: { type: 'string', short: 'n', default: '50' }, user: { type: 'string' }, container: { type: 'string' }, json: { type: 'boolean', default: false } },
  help: {
    ...adminHelp,
    ...dataHelp,
    '-n, --lines N': 'how many sessions (default 50)',
    '--user USER': 'only this user\'s sessions',
    '--container NAME': 'only sessions in this container (its name, or an ID of 12 digits or more)',
    '--json': 'print the sessions as a JSON array'
  },
  async run (values) {
    if (!/^\d+$/.test(values.lines)) throw new PortcullisError('PORTCULLIS_USAGE', '-n takes a whole number', 'audit sessions')
    const options: ListSessionsOptions = { limit: Number(values.lines) }
    if (values.user !== undefined) options.user = values.user
    if (values.container !== undefined) options.container = values.container
    const access = await openSessions(values)
    let sessions: SessionSummary[]
    try {
      sessions = await access.list(options)
    } finally {
      await access.close()
    }
    if (values.json) process.stdout.write(terminalSafeJson(JSON.stringify(sessions, null, 2)) + '\n')
    else process.stdout.write(sessions.length === 0 ? 'No sessions recorded' + (values.user !== undefined || values.container !== undefined ? ' that match.\n' : '.\n') : formatSessionTable(sessions))
    return 0
  }
})

export const auditReplayCommand = defineCommand({
  name: 'audit replay',
  summary: 'Play a recorded SSH session in this terminal at the speed it happened (what the user saw; keystrokes are not shown). Sequences that act beyond the screen (clipboard, title, terminal queries) are removed unless --raw.',
  usage: 'audit replay ID [--speed 1] [--idle-limit SECONDS] [--raw] [--admin-socket PATH | --data DIR]',
  options: { ...adminOption, data: { type: 'string' }, speed: { type: 'string', default: '1' }, 'idle-limit': { type: 'string' }, raw: { type: 'boolean', default: false } },
  help: {
    ...adminHelp,
    ...dataHelp,
    '--speed N': 'play N times as fast (default 1; 0.5 is half speed)',
    '--idle-limit SECONDS': 'cut every pause to at most this long (default: the recording\'s idle_time_limit, else none)',
    '--raw': 'play the recorded bytes as they are, including what writes your clipboard or title or makes your terminal answer (only for recordings you trust)'
  },
  async run (values, positionals) {
    const usage = (problem: string): PortcullisError => new PortcullisError('PORTCULLIS_USAGE', problem, 'audit replay')
    if (positionals.length !== 1) throw usage('give one session ID (`portcullis audit sessions` lists them)')
    const id = requireSessionId(positionals[0]!)
    const speed = positiveNumber(values.speed)
    if (speed === null) throw usage('--speed takes a number above 0')
    const idleLimit = values['idle-limit'] === undefined ? undefined : positiveNumber(values['idle-limit'])
    if (idleLimit === null) throw usage('--idle-limit takes a number of seconds above 0')

    const access = await openSessions(values)
    try {
      const session = await access.find(id)
      const cast = await access.cast(id)
      process.stderr.write(replayBanner(session, speed) + '\n')
      if (values.raw) process.stderr.write('portcullis: --raw: the recording\'s own bytes reach this terminal; a hostile one can set your clipboard or title, or make the terminal type into your shell.\n')
      // The user's programs wrote this: by default only what draws the screen reaches the auditor's terminal.
      const filter = values.raw ? null : new ReplayFilter()
      const played = await playCast(readCastStream(cast), filter === null ? writeOut : async (text) => { await writeOut(filter.write(text)) }, {
        speed,
        ...(idleLimit !== undefined ? { idleLimit } : {}),
        clock: { now: () => performance.now(), sleep: async (ms) => { await sleep(ms) } }
      })
      if (filter !== null) await writeOut(filter.finish())
      process.stderr.write('\n' + replaySummary(session, played) + '\n')
      const removed = filter === null ? null : removedSummary(filter.removed())
      if (removed !== null) process.stderr.write(`portcullis: ${removed}.\n`)
    } finally {
      await access.close()
    }
    return 0
  }
})

/** Where a command reads sessions from: the daemon's admin socket, or a store directory with --data. */
interface SessionAccess {
  list: (options: ListSessionsOptions) => Promise<SessionSummary[]>
  /** Throws PORTCULLIS_SESSION_NOT_FOUND. */
  find: (id: string) => Promise<SessionSummary>
  /** The recording as stored; throws PORTCULLIS_SESSION_NOT_FOUND or PORTCULLIS_SESSION_NO_RECORDING before
   * yielding anything. */
  cast: (id: string) => Promise<AsyncIterable<string | Buffer>>
  close: () => Promise<void>
}

async function openSessions (values: { 'admin-socket': string, data?: string | undefined }): Promise<SessionAccess> {
  if (values.data !== undefined) return await archiveAccess(values.data)
  const socket = values['admin-socket']
  return {
    async list (options) {
      const query = new URLSearchParams({ limit: String(options.limit ?? 50) })
      if (options.user !== undefined) query.set('user', options.user)
      if (options.container !== undefined) query.set('container', options.container)
      return (await adminJson<SessionSummary[]>(socket, 'GET', `/v1/audit/sessions?${query.toString()}`)).body
    },
    async find (id) {
      const { status, body } = await adminJson<SessionSummary>(socket, 'GET', `/v1/audit/sessions/${id}`, [200, 404])
      if (status === 404) throw new PortcullisError('PORTCULLIS_SESSION_NOT_FOUND', id)
      return body
    },
    async cast (id) {
      const res = await adminRequest(socket, 'GET', `/v1/audit/sessions/${id}/cast`)
      if (res.statusCode !== 200) throw await refusal(res, id)
      return res
    },
    async close () {}
  }
}

async function archiveAccess (dir: string): Promise<SessionAccess> {
  const archive = await openSessionArchive(dir)
  const find = async (id: string): Promise<SessionSummary> => {
    const session = await findSession(archive, id)
    if (session === null) throw new PortcullisError('PORTCULLIS_SESSION_NOT_FOUND', id)
    return session
  }
  return {
    list: async (options) => await listSessions(archive, options),
    find,
    async cast (id) {
      const chunks = archive.readCast(id)[Symbol.asyncIterator]()
      const first = await chunks.next()
      if (first.done === true) {
        await find(id)
        throw new PortcullisError('PORTCULLIS_SESSION_NO_RECORDING', id)
      }
      return (async function * () {
        yield first.value
        for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) yield next.value
      })()
    },
    close: async () => { await archive.close() }
  }
}

/** The error an admin answer other than 200 stands for: ours when the daemon named one, else the raw answer. */
async function refusal (res: http.IncomingMessage, id: string): Promise<PortcullisError> {
  const parts: Buffer[] = []
  for await (const part of res) parts.push(part as Buffer)
  const text = Buffer.concat(parts).toString('utf8')
  let code: unknown
  try {
    code = (JSON.parse(text) as { code?: unknown }).code
  } catch {}
  if (code === 'PORTCULLIS_SESSION_NOT_FOUND' || code === 'PORTCULLIS_SESSION_NO_RECORDING' || code === 'PORTCULLIS_SESSION_ID_INVALID') {
    return new PortcullisError(code as ErrorCode, id)
  }
  return new PortcullisError('PORTCULLIS_ADMIN_REQUEST', String(res.statusCode), text)
}

function requireSessionId (value: string): string {
  if (!isSessionId(value)) throw new PortcullisError('PORTCULLIS_SESSION_ID_INVALID', JSON.stringify(value))
  return value
}

function positiveNumber (text: string): number | null {
  const value = Number(text)
  return text.trim() !== '' && Number.isFinite(value) && value > 0 ? value : null
}

/** Copies the recording, byte for byte as stored, to --out or stdout. */
async function exportCast (values: { 'admin-socket': string, data?: string | undefined }, id: string, outPath: string | undefined): Promise<void> {
  const access = await openSessions(values)
  try {
    const cast = await access.cast(id)
    const out: Writable = outPath === undefined ? process.stdout : createWriteStream(outPath)
    // On a terminal, the C1 controls JSON leaves as they are (U+0080 to U+009F: 8-bit CSI, OSC, DCS, which some
    // terminals obey in UTF-8 too) are written as \u escapes: the same JSON, but the user's programs cannot reach
    // the auditor's terminal through it. A file (--out, or a pipe) gets the recording exactly as stored.
    const terminal = outPath === undefined && process.stdout.isTTY === true ? new StringDecoder('utf8') : null
    for await (const piece of cast) {
      const text = terminal === null ? piece : escapeC1(typeof piece === 'string' ? piece : terminal.write(piece))
      if (!out.write(text)) await once(out, 'drain')
    }
    if (terminal !== null) out.write(escapeC1(terminal.end()))
    if (outPath !== undefined) await new Promise((resolve) => out.end(resolve))
  } finally {
    await access.close()
  }
}

/** JSON text with every C1 control written as a \u escape (C1 controls can stand only inside JSON strings). */
export function escapeC1 (json: string): string {
  return json.replace(/[\u0080-\u009f]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
}

async function writeOut (text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain')
}

export interface ReplayClock {
  /** Milliseconds, from any origin. */
  now: () => number
  sleep: (ms: number) => Promise<void>
}

export interface ReplayOptions {
  /** 2 plays twice as fast. */
  speed: number
  /** Longest pause, in recorded seconds; the header's idle_time_limit when left out. */
  idleLimit?: number
  clock: ReplayClock
}

export interface ReplayResult {
  header: CastHeader
  /** Output events played. */
  outputEvents: number
  /** Seconds from the start of the recording to its last event. */
  recordedSeconds: number
  /** How long playing took. */
  playedMs: number
}

/**
 * When each event plays: milliseconds after the start of playback, for events given in recorded order. Every
 * gap between two events (of any kind: typing and resizes take time too) is cut to `idleLimit` seconds, then
 * the whole is scaled by `speed`.
 */
export class ReplayTimeline {
  readonly #speed: number
  readonly #idleLimit: number
  #lastTime = 0
  #position = 0

  constructor (speed: number, idleLimit: number = Infinity) {
    this.#speed = speed
    this.#idleLimit = idleLimit
  }

  at (time: number): number {
    this.#position += Math.min(Math.max(0, time - this.#lastTime), this.#idleLimit)
    this.#lastTime = Math.max(this.#lastTime, time)
    return this.#position * 1000 / this.#speed
  }
}

/** Plays a recording's output through `write`, waiting on `clock` between events. Input and marker events are
 * not shown; resizes cannot be applied to the viewer's terminal. */
export async function playCast (items: AsyncIterable<CastItem>, write: (text: string) => void | Promise<void>, options: ReplayOptions): Promise<ReplayResult> {
  const { clock } = options
  let header: CastHeader | undefined
  let timeline: ReplayTimeline | undefined
  let outputEvents = 0
  let recordedSeconds = 0
  const start = clock.now()
  for await (const item of items) {
    if ('header' in item) {
      header = item.header
      timeline = new ReplayTimeline(options.speed, options.idleLimit ?? header.idle_time_limit ?? Infinity)
      continue
    }
    const { time, code, data } = item.event
    recordedSeconds = time
    const due = timeline!.at(time)
    if (code !== 'o') continue
    const wait = due - (clock.now() - start)
    if (wait > 0) await clock.sleep(wait)
    await write(data)
    outputEvents++
  }
  return { header: header!, outputEvents, recordedSeconds, playedMs: clock.now() - start }
}

/** One line, whatever the user's name, container or command hold. */
function replayBanner (s: SessionSummary, speed: number): string {
  const where = `${s.container ?? '?'}${s.project !== null ? ` (project ${s.project})` : ''}`
  const what = s.command === null ? 'a login shell' : `\`${s.command.join(' ')}\``
  return visible(`portcullis: replaying ${s.session}: ${s.user ?? 'unknown user'} ran ${what} in ${where}, ${formatTime(s.startedAt)}` +
    `${speed !== 1 ? `, at ${speed}x` : ''}. Ctrl-C stops.`)
}

function replaySummary (s: SessionSummary, played: ReplayResult): string {
  const ending = s.state === 'open'
    ? 'the session is still open; this is what was recorded so far'
    : s.state === 'interrupted' ? 'portcullis stopped before the session ended' : (s.endReason ?? `ended by ${s.endedBy ?? '?'}`)
  return visible(`portcullis: end of ${s.session}: ${formatElapsed(played.recordedSeconds * 1000)} recorded, played in ${formatElapsed(played.playedMs)}; ${ending}.`)
}

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
  ].map(visible))
  const widths = SESSION_COLUMNS.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: readonly string[]): string => cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)).join('  ')
  return [line(SESSION_COLUMNS), ...rows.map(line)].join('\n') + '\n'
}

/** `2026-11-23 15:00:00` from an ISO time, in UTC like the records. */
function formatTime (iso: string): string {
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
