// Audit records as RFC 5424 messages for the syslog outputs (plain and RELP), built on serve's main thread for every
// record: the same text formatSyslog gives, made from parts that do not change between records (the PRI of each
// severity, hostname, app name, pid; a kind's MSGID and escaped value) instead of being checked and escaped again
// each time. A batch's frames go out as one buffer, written straight, not one joined string (see text-lines.ts).

import type { StoredRecord } from '../audit/query.js'
import { escapeParamValue, formatSyslog, headerField, priority, SD_ID, type Facility, type Severity } from './syslog-format.js'

const SEVERITIES = new Set<string>(['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'])
/** What Date#toISOString writes: a time already in this form is written as it is. */
const ISO_TIME = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/
const BOM = '\uFEFF'

/** Alert records carry their alert's severity; a denial is notice; everything else info. */
export function recordSeverity (record: StoredRecord['record']): Severity {
  const alertSeverity = record.fields?.severity
  if (record.action?.startsWith('alert.') === true && typeof alertSeverity === 'string' && SEVERITIES.has(alertSeverity)) return alertSeverity as Severity
  return record.decision === 'deny' ? 'notice' : 'info'
}

export class RecordFrames {
  readonly #facility: Facility
  readonly #hostname: string
  readonly #procId: number
  /** ` HOSTNAME APP-NAME PROCID `, between the time and the MSGID. */
  readonly #middle: string
  readonly #pri = new Map<Severity, string>()
  /** Per kind: its MSGID and its escaped SD value. */
  readonly #kinds = new Map<string, { msgId: string, value: string }>()

  constructor (facility: Facility, hostname: string, procId: number = process.pid) {
    this.#facility = facility
    this.#hostname = hostname
    this.#procId = procId
    this.#middle = ` ${headerField(hostname, 255)} portcullis ${headerField(String(procId), 128)} `
  }

  /** One record's SYSLOG-MSG: MSG is the stored line; the structured data its seq, hash, prevHash, kind and decision. */
  message (row: StoredRecord): string {
    const { record } = row
    const severity = recordSeverity(record)
    if (typeof record.seq !== 'number' || typeof record.hash !== 'string' || typeof record.prevHash !== 'string' || typeof record.kind !== 'string' || !ISO_TIME.test(record.time)) {
      return this.#slow(row, severity)
    }
    const kind = this.#kind(record.kind)
    const decision = record.decision == null ? '' : ` decision="${escapeParamValue(String(record.decision))}"`
    return `${this.#priOf(severity)}${record.time}${this.#middle}${kind.msgId} [${SD_ID} seq="${record.seq}" hash="${escapeParamValue(record.hash)}" prevHash="${escapeParamValue(record.prevHash)}" kind="${kind.value}"${decision}]` +
      (row.text === '' ? '' : ` ${BOM}${row.text}`)
  }

  /** The rows' messages, each framed by octet counting (RFC 6587 §3.4.1: `MSG-LEN SP SYSLOG-MSG`), in one buffer. */
  frames (rows: readonly StoredRecord[]): Buffer {
    const messages: string[] = new Array(rows.length)
    const lengths: number[] = new Array(rows.length)
    let size = 0
    for (let i = 0; i < rows.length; i++) {
      const message = this.message(rows[i]!)
      const length = Buffer.byteLength(message)
      messages[i] = message
      lengths[i] = length
      size += String(length).length + 1 + length
    }
    const frames = Buffer.allocUnsafe(size)
    let at = 0
    for (let i = 0; i < rows.length; i++) {
      at += frames.write(`${lengths[i]!} `, at, 'latin1')
      at += frames.write(messages[i]!, at, 'utf8')
    }
    return frames
  }

  #priOf (severity: Severity): string {
    let pri = this.#pri.get(severity)
    if (pri === undefined) {
      pri = `<${priority(this.#facility, severity)}>1 `
      this.#pri.set(severity, pri)
    }
    return pri
  }

  #kind (kind: string): { msgId: string, value: string } {
    let known = this.#kinds.get(kind)
    if (known === undefined) {
      known = { msgId: headerField(kind, 32), value: escapeParamValue(kind) }
      // Kinds are a short fixed list; a store edited by hand could hold any, so the cache is bounded.
      if (this.#kinds.size < 64) this.#kinds.set(kind, known)
    }
    return known
  }

  /** A record not as portcullis writes them (a store edited by hand): the general formatter, checking every part. */
  #slow (row: StoredRecord, severity: Severity): string {
    const { record } = row
    return formatSyslog({
      facility: this.#facility,
      severity,
      time: new Date(record.time),
      hostname: this.#hostname,
      procId: this.#procId,
      msgId: record.kind,
      data: { seq: record.seq, hash: record.hash, prevHash: record.prevHash, kind: record.kind, decision: record.decision ?? undefined },
      message: row.text
    })
  }
}
