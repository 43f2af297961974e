// RFC 5424 syslog messages, built from parts: the header, one structured-data element and a UTF-8 message, and
// RFC 6587's octet-counting frame for stream transports. Pure: no I/O, so it is checked against the RFC's grammar alone.

/** RFC 5424 §6.2.1, table 1. */
const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  ntp: 12, security: 13, console: 14, solaris_cron: 15, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23
} as const
export type Facility = keyof typeof FACILITIES

/** RFC 5424 §6.2.1, table 2. */
const SEVERITIES = { emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const
export type Severity = keyof typeof SEVERITIES

/** portcullis's structured-data ID: an enterprise-style name at 32473, the PEN RFC 5612 sets aside for documentation. */
export const SD_ID = 'portcullis@32473'
const APP_NAME = 'portcullis'

const NILVALUE = '-'
/** UTF-8's byte order mark: RFC 5424 §6.4 marks a message as UTF-8 with it. */
const BOM = '\uFEFF'

export interface SyslogMessage {
  facility: Facility
  severity: Severity
  time: Date
  /** Null: NILVALUE. */
  hostname: string | null
  procId?: string | number | null
  msgId?: string | null
  /** Parameters of the one SD element (SD_ID); values are written as strings, undefined ones are left out. */
  data?: Readonly<Record<string, string | number | boolean | null | undefined>>
  /** Free text, sent as UTF-8 with its BOM. */
  message?: string
}

/** One RFC 5424 SYSLOG-MSG (no framing). */
export function formatSyslog (m: SyslogMessage): string {
  const pri = priority(m.facility, m.severity)
  const header = [
    `<${pri}>1`,
    m.time.toISOString(),
    headerField(m.hostname, 255),
    APP_NAME,
    headerField(m.procId === undefined || m.procId === null ? null : String(m.procId), 128),
    headerField(m.msgId ?? null, 32)
  ].join(' ')
  const text = m.message === undefined || m.message === '' ? '' : ` ${BOM}${m.message}`
  return `${header} ${structuredData(m.data)}${text}`
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, MSG-LEN in bytes. Safe for messages with line breaks. */
export function frameOctetCounted (message: string): Buffer {
  const body = Buffer.from(message, 'utf8')
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body])
}

/** PRI's number (RFC 5424 §6.2.1). */
export function priority (facility: Facility, severity: Severity): number {
  return FACILITIES[facility] * 8 + SEVERITIES[severity]
}

/** PRINTUSASCII (33-126) only, at most `max` characters; empty or null is NILVALUE. */
export function headerField (value: string | null, max: number): string {
  if (value === null) return NILVALUE
  const printable = value.replace(/[^\x21-\x7e]/g, '_').slice(0, max)
  return printable === '' ? NILVALUE : printable
}

/** One SD-ELEMENT with SD_ID, or NILVALUE when there are no parameters. */
function structuredData (data: SyslogMessage['data']): string {
  const params = Object.entries(data ?? {}).filter(([, v]) => v !== undefined)
  if (params.length === 0) return NILVALUE
  return `[${SD_ID}${params.map(([k, v]) => ` ${sdName(k)}="${escapeParamValue(v === null ? '' : String(v))}"`).join('')}]`
}

/** SD-NAME: 1 to 32 PRINTUSASCII except `=`, space, `]` and `"`. */
function sdName (name: string): string {
  const cleaned = name.replace(/[^\x21-\x7e]|[= \]"]/g, '_').slice(0, 32)
  return cleaned === '' ? '_' : cleaned
}

/** PARAM-VALUE (§6.3.3): `"`, `\` and `]` are escaped with a backslash; the rest is UTF-8 as it is. */
export function escapeParamValue (value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`)
}
