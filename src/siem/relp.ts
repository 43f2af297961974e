// RELP, the Reliable Event Logging Protocol (librelp's doc/relp.md; rsyslog's imrelp is its usual receiver): frames,
// the reader that cuts a byte stream into frames, and the pieces of a session's data (offers, `rsp` answers). Pure:
// no I/O, so each rule is checked with bytes alone. The session that uses them is relp-session.ts.
//
//   RELP-FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] LF
//   TXNR = 1*9DIGIT (0: a hint from the server, e.g. serverclose), COMMAND = 1*32ALPHA, DATALEN = 1*9DIGIT
//   rsp DATA = STATUS SP HUMAN-TEXT [LF CMDDATA]   (200 OK; anything else is an error)
//
// What the receiver sends is untrusted: a header that cannot be one, a length beyond the bound or a missing trailer
// is a RelpFrameError, never a crash or a guess.

/** TXNRs count 1..999,999,999 in a session and then start at 1 again; 0 is the server's hints. */
export const RELP_MAX_TXNR = 999_999_999
/** The largest answer a receiver may send (an open's offers, an error text): far above any real one. */
const RELP_MAX_ANSWER_BYTES = 64 * 1024
const MAX_HEADER_BYTES = 9 + 1 + 32 + 1 + 9 + 1

export interface RelpFrame {
  txnr: number
  command: string
  data: Buffer
}

/** An `rsp` frame's data: `200 OK`, and for an `open` the offers after the first LF. */
export interface RelpAnswer {
  status: number
  text: string
  body: string
}

/** A frame or an answer that breaks the protocol; the session turns it into PORTCULLIS_RELP_PROTOCOL. */
export class RelpFrameError extends Error {}

export function nextTxnr (txnr: number): number {
  return txnr >= RELP_MAX_TXNR ? 1 : txnr + 1
}

export function encodeRelpFrame (txnr: number, command: string, data: Buffer | string = ''): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  const header = Buffer.from(body.length === 0 ? `${txnr} ${command} 0` : `${txnr} ${command} ${body.length} `, 'ascii')
  return Buffer.concat([header, body, LF])
}

const LF = Buffer.from('\n', 'ascii')
const HEADER = /^(\d{1,9}) ([A-Za-z]{1,32}) (\d{1,9})([ \n])/
/** What the start of a header may look like before the rest of it has come. */
const HEADER_SO_FAR = /^(\d{0,9}|\d{1,9} [A-Za-z]{0,32}|\d{1,9} [A-Za-z]{1,32} \d{0,9})$/

/** Cuts what the server sends into frames, across and within chunks. After it threw once, the stream is not to be
 * read further (the session is dropped). */
export class RelpFrameReader {
  readonly #maxDataBytes: number
  #pending: Buffer = Buffer.alloc(0)

  constructor (maxDataBytes = RELP_MAX_ANSWER_BYTES) {
    this.#maxDataBytes = maxDataBytes
  }

  /** The frames `chunk` completes, in order; what is left of a frame waits for the next chunk. */
  push (chunk: Buffer): RelpFrame[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    const frames: RelpFrame[] = []
    for (;;) {
      const frame = this.#next()
      if (frame === null) return frames
      frames.push(frame)
    }
  }

  #next (): RelpFrame | null {
    const pending = this.#pending
    if (pending.length === 0) return null
    const start = pending.subarray(0, MAX_HEADER_BYTES).toString('latin1')
    const header = HEADER.exec(start)
    if (header === null) {
      if (pending.length < MAX_HEADER_BYTES && HEADER_SO_FAR.test(start)) return null
      throw new RelpFrameError(`a frame does not start with TXNR COMMAND DATALEN: ${JSON.stringify(start.slice(0, 40))}`)
    }
    const [matched, txnrText, command, lengthText, separator] = header as unknown as [string, string, string, string, string]
    const length = Number(lengthText)
    if (length > this.#maxDataBytes) throw new RelpFrameError(`a ${command} frame announces ${length} bytes of data, more than the ${this.#maxDataBytes} an answer may have`)
    if (separator === '\n') {
      if (length !== 0) throw new RelpFrameError(`a ${command} frame announces ${length} bytes of data and has none`)
      this.#pending = pending.subarray(matched.length)
      return { txnr: Number(txnrText), command, data: Buffer.alloc(0) }
    }
    const dataStart = matched.length
    const end = dataStart + length
    if (pending.length <= end) return null
    if (pending[end] !== 0x0a) throw new RelpFrameError(`a ${command} frame of ${length} bytes does not end with LF where its length says (the length is wrong, or this is not RELP)`)
    this.#pending = pending.subarray(end + 1)
    return { txnr: Number(txnrText), command, data: Buffer.from(pending.subarray(dataStart, end)) }
  }
}

/** An `rsp` frame's data; empty data (librelp answers a `close` so) is status 200 with no text. */
export function parseRelpAnswer (data: Buffer): RelpAnswer {
  if (data.length === 0) return { status: 200, text: '', body: '' }
  const text = data.toString('utf8')
  const lf = text.indexOf('\n')
  const line = lf === -1 ? text : text.slice(0, lf)
  const status = /^(\d{3})(?: (.*))?$/.exec(line)
  if (status === null) throw new RelpFrameError(`an answer does not start with a 3-digit status: ${JSON.stringify(line.slice(0, 80))}`)
  return { status: Number(status[1]), text: status[2] ?? '', body: lf === -1 ? '' : text.slice(lf + 1) }
}

/** The offers an `open` makes: RELP version 0 (what librelp speaks), who we are, and the one command we use. */
export function openOffers (software: string, version: string): string {
  return `relp_version=0\nrelp_software=${software},${version}\ncommands=syslog`
}

/** The offers of an answer to `open`, by name (`commands=syslog` → commands: ['syslog']). */
export function parseOffers (body: string): Map<string, string[]> {
  const offers = new Map<string, string[]>()
  for (const line of body.split('\n')) {
    if (line.trim() === '') continue
    const eq = line.indexOf('=')
    offers.set(eq === -1 ? line : line.slice(0, eq), eq === -1 ? [] : line.slice(eq + 1).split(','))
  }
  return offers
}
