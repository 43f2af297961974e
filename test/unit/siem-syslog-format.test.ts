// RFC 5424 messages as the grammar of its section 6 has them, and RFC 6587's octet counting: what a syslog
// receiver (rsyslog, syslog-ng, a SIEM) parses without guessing.
import { describe, expect, it } from 'vitest'
import { escapeParamValue, formatSyslog, frameOctetCounted, SD_ID, type SyslogMessage } from '../../src/siem/syslog-format.js'

const base: SyslogMessage = { facility: 'local0', severity: 'crit', time: new Date('2026-12-06T10:28:11.123Z'), hostname: 'host-1', procId: 4242, msgId: 'alert.disk-low' }

// RFC 5424 §6: HEADER SP STRUCTURED-DATA [SP MSG], each header field PRINTUSASCII (33-126) within its length.
const PRINT = '[\\x21-\\x7e]'
const SD_NAME = '[\\x21-\\x3c\\x3e-\\x5c\\x5e-\\x7e]{1,32}' // PRINTUSASCII except '=', ']', '"' (and SP, outside the range)
const PARAM_VALUE = '(?:[^"\\\\\\]]|\\\\["\\\\\\]])*'
const SD_ELEMENT = `\\[${SD_NAME}(?: ${SD_NAME}="${PARAM_VALUE}")*\\]`
const SYSLOG_MSG = new RegExp(
  `^<(\\d{1,3})>1 (\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,6})?(?:Z|[+-]\\d{2}:\\d{2})) (-|${PRINT}{1,255}) (-|${PRINT}{1,48}) (-|${PRINT}{1,128}) (-|${PRINT}{1,32}) (-|(?:${SD_ELEMENT})+)(?: (\\uFEFF[\\s\\S]*))?$`
)

/** The params of the SD element, unescaped the way a receiver does (RFC 5424 §6.3.3). */
function params (message: string): Record<string, string> {
  const sd = SYSLOG_MSG.exec(message)![7]!
  const out: Record<string, string> = {}
  for (const match of sd.matchAll(new RegExp(` (${SD_NAME})="(${PARAM_VALUE})"`, 'g'))) out[match[1]!] = match[2]!.replace(/\\(["\\\]])/g, '$1')
  return out
}

describe('the RFC 5424 formatter', () => {
  it('writes PRI from facility and severity, VERSION 1, an RFC 3339 time with milliseconds, and the header fields', () => {
    const message = formatSyslog({ ...base, message: 'free space is low' })
    const match = SYSLOG_MSG.exec(message)
    expect(match, message).not.toBeNull()
    expect(match!.slice(1, 7)).toEqual([String(16 * 8 + 2), '2026-12-06T10:28:11.123Z', 'host-1', 'portcullis', '4242', 'alert.disk-low'])
    expect(formatSyslog({ ...base, facility: 'kern', severity: 'emerg' })).toMatch(/^<0>1 /)
    expect(formatSyslog({ ...base, facility: 'local7', severity: 'debug' })).toMatch(/^<191>1 /)
  })

  it('writes NILVALUE for a missing hostname, PROCID, MSGID and structured data, and no MSG part without a message', () => {
    const message = formatSyslog({ ...base, hostname: null, procId: null, msgId: null })
    expect(message).toBe('<130>1 2026-12-06T10:28:11.123Z - portcullis - - -')
    expect(SYSLOG_MSG.test(message)).toBe(true)
  })

  it('keeps header fields to PRINTUSASCII and their lengths: spaces and control or non-ASCII characters become _', () => {
    const message = formatSyslog({ ...base, hostname: `a b\u00e9${'h'.repeat(300)}`, procId: 'p\tq', msgId: 'm'.repeat(40) })
    const match = SYSLOG_MSG.exec(message)!
    expect(match[3]).toHaveLength(255)
    expect(match[3]!.startsWith('a_b_h')).toBe(true)
    expect(match[5]).toBe('p_q')
    expect(match[6]).toHaveLength(32)
  })

  it('escapes ", \\ and ] in parameter values, so a value cannot close the element or forge another', () => {
    expect(escapeParamValue('a"b\\c]d')).toBe('a\\"b\\\\c\\]d')
    const hostile = 'x"] [forged@1 admin="yes'
    const message = formatSyslog({ ...base, data: { detail: hostile, back: 'C:\\path\\', n: 3, ok: false, none: null, skipped: undefined } })
    expect(SYSLOG_MSG.test(message), message).toBe(true)
    expect(message).toContain(`[${SD_ID} `)
    // One element: the forged one is text inside a value.
    expect(new RegExp(`^${SD_ELEMENT}$`).test(SYSLOG_MSG.exec(message)![7]!)).toBe(true)
    expect(params(message)).toEqual({ detail: hostile, back: 'C:\\path\\', n: '3', ok: 'false', none: '' })
  })

  it('makes parameter names SD-NAMEs: no =, space, ] or ", at most 32 characters', () => {
    const message = formatSyslog({ ...base, data: { 'a=b c]d"e': 1, ['k'.repeat(40)]: 2 } })
    expect(SYSLOG_MSG.test(message), message).toBe(true)
    expect(Object.keys(params(message))).toEqual(['a_b_c_d_e', 'k'.repeat(32)])
  })

  it('sends MSG as UTF-8 with the BOM, line breaks and all', () => {
    const message = formatSyslog({ ...base, message: 'zwei Zeilen\nüber 東京' })
    expect(SYSLOG_MSG.exec(message)![8]).toBe('\uFEFFzwei Zeilen\nüber 東京')
    expect(Buffer.from(message, 'utf8').includes(Buffer.from([0xef, 0xbb, 0xbf]))).toBe(true)
  })
})

describe('octet-counting framing (RFC 6587 §3.4.1)', () => {
  it('prefixes the length in bytes, not characters, and a space', () => {
    const message = formatSyslog({ ...base, message: 'über\n東京' })
    const frame = frameOctetCounted(message)
    const space = frame.indexOf(0x20)
    const length = Number(frame.subarray(0, space).toString('ascii'))
    expect(length).toBe(Buffer.byteLength(message, 'utf8'))
    expect(length).toBeGreaterThan(message.length)
    expect(frame.subarray(space + 1).toString('utf8')).toBe(message)
  })

  it('frames back to back are split by their lengths alone', () => {
    const messages = ['a\nb', formatSyslog(base), 'ü']
    const stream = Buffer.concat(messages.map(frameOctetCounted))
    const out: string[] = []
    let at = 0
    while (at < stream.length) {
      const space = stream.indexOf(0x20, at)
      const length = Number(stream.subarray(at, space).toString('ascii'))
      out.push(stream.subarray(space + 1, space + 1 + length).toString('utf8'))
      at = space + 1 + length
    }
    expect(out).toEqual(messages)
  })
})
