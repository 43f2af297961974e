// Session recordings in asciinema's asciicast v2 format (https://docs.asciinema.org/manual/asciicast/v2/):
// newline-delimited JSON, a header object on the first line, then one `[seconds, code, data]` array per event.
// `o` is output, `i` is input, `r` is a resize ("COLSxROWS"), `m` a marker (written by asciinema, never by us).
// Kept free of SSH and storage so the bridge, replay and export all share one reading of the format.

import { performance } from 'node:perf_hooks'
import { StringDecoder } from 'node:string_decoder'
import { PortcullisError } from '../errors.js'

export type CastEventCode = 'o' | 'i' | 'r' | 'm'

/** What portcullis adds to the header under the `portcullis` key; asciinema ignores keys it does not know. */
interface CastSessionMetadata {
  user: string
  container: string
  project: string | null
  sessionId: string
}

export interface CastHeader {
  version: 2
  width: number
  height: number
  /** Unix time of the start, in whole seconds. */
  timestamp?: number
  duration?: number
  idle_time_limit?: number
  command?: string
  title?: string
  /** asciinema writes null for a captured variable that was not set. */
  env?: Record<string, string | null>
  portcullis?: CastSessionMetadata
  /** Header keys written by other tools (theme...) are kept as they are. */
  [key: string]: unknown
}

export interface CastEvent {
  /** Seconds since the start of the recording. */
  time: number
  code: CastEventCode
  data: string
}

export interface CastRecorderOptions {
  width: number
  height: number
  startedAt: Date
  command?: string
  title?: string
  env?: Record<string, string>
  user: string
  container: string
  project: string | null
  sessionId: string
}

/** The header portcullis writes for a session: its size, start and what ran, and who ran it where. */
export function castHeader (options: CastRecorderOptions): CastHeader {
  requireTerminalSize(options.width, options.height)
  const header: CastHeader = {
    version: 2,
    width: options.width,
    height: options.height,
    timestamp: Math.floor(options.startedAt.getTime() / 1000)
  }
  if (options.command !== undefined) header.command = options.command
  if (options.title !== undefined) header.title = options.title
  if (options.env !== undefined) header.env = { ...options.env }
  header.portcullis = {
    user: options.user,
    container: options.container,
    project: options.project,
    sessionId: options.sessionId
  }
  return header
}

/**
 * Turns the raw byte streams of one session into asciicast v2 lines, each event at a time given in microseconds
 * since the start. Lines pile up until `drain()`. What renders a stored recording (recordings.ts) and what
 * records one as text (CastRecorder) share it, so both give the same lines for the same bytes.
 */
export class CastRenderer {
  bytesOut = 0
  bytesIn = 0
  events = 0

  readonly #header: CastHeader
  // One decoder per byte stream: a character split across two chunks of one stream must come out whole, and
  // bytes of two streams must never be glued into one character.
  readonly #outputDecoder = new StringDecoder('utf8')
  readonly #errorOutputDecoder = new StringDecoder('utf8')
  readonly #inputDecoder = new StringDecoder('utf8')
  #pending: string[] = []
  #lastMicros = 0
  #finished = false

  constructor (header: CastHeader) {
    this.#header = header
  }

  /** The header as one JSON line, without the newline. */
  header (): string {
    return JSON.stringify(this.#header)
  }

  outputAt (chunk: Uint8Array, micros: number): void {
    this.#assertOpen()
    this.bytesOut += chunk.length
    this.#emit('o', this.#outputDecoder.write(chunk as Buffer), micros)
  }

  errorOutputAt (chunk: Uint8Array, micros: number): void {
    this.#assertOpen()
    this.bytesOut += chunk.length
    this.#emit('o', this.#errorOutputDecoder.write(chunk as Buffer), micros)
  }

  inputAt (chunk: Uint8Array, micros: number): void {
    this.#assertOpen()
    this.bytesIn += chunk.length
    this.#emit('i', this.#inputDecoder.write(chunk as Buffer), micros)
  }

  resizeAt (cols: number, rows: number, micros: number): void {
    this.#assertOpen()
    requireTerminalSize(cols, rows)
    this.#emit('r', `${cols}x${rows}`, micros)
  }

  /** Ends the recording: a character left incomplete at the end of a stream is recorded as U+FFFD. */
  finishAt (micros: number): void {
    if (this.#finished) return
    this.#emit('o', this.#outputDecoder.end(), micros)
    this.#emit('o', this.#errorOutputDecoder.end(), micros)
    this.#emit('i', this.#inputDecoder.end(), micros)
    this.#finished = true
  }

  get finished (): boolean {
    return this.#finished
  }

  /** The event lines (without newlines) recorded since the previous call. */
  drain (): string[] {
    const lines = this.#pending
    this.#pending = []
    return lines
  }

  /** Seconds from the start to the latest event. */
  get elapsed (): number {
    return this.#lastMicros / 1e6
  }

  /** Microseconds from the start to the latest event. */
  get elapsedMicros (): number {
    return this.#lastMicros
  }

  #emit (code: CastEventCode, data: string, at: number): void {
    if (data === '') return
    // Whole microseconds, never going back: players expect times in order, and a clock read late by a caller must
    // not reorder what already happened.
    const micros = Math.max(this.#lastMicros, Math.round(at))
    this.#lastMicros = micros
    this.#pending.push(`[${formatSeconds(micros)}, ${JSON.stringify(code)}, ${JSON.stringify(data)}]`)
    this.events++
  }

  #assertOpen (): void {
    if (this.#finished) throw new Error('This session recording is finished; nothing more can be recorded.')
  }
}

/**
 * Turns the raw byte streams of one session into asciicast v2 lines as they happen: how recordings were stored
 * before they became raw frames (src/audit/recordings.ts renders those on export). Every `at` is milliseconds
 * since the recording started; left out, the recorder reads its own monotonic clock.
 */
export class CastRecorder extends CastRenderer {
  readonly #origin = performance.now()

  constructor (options: CastRecorderOptions) {
    super(castHeader(options))
  }

  /** Bytes the program wrote to the terminal (or to stdout, without a pty). */
  output (chunk: Buffer, at?: number): void {
    this.outputAt(chunk, this.#micros(at))
  }

  /** Bytes the program wrote to stderr, without a pty: played back as output, decoded apart from stdout. */
  errorOutput (chunk: Buffer, at?: number): void {
    this.errorOutputAt(chunk, this.#micros(at))
  }

  /** Bytes the user typed. */
  input (chunk: Buffer, at?: number): void {
    this.inputAt(chunk, this.#micros(at))
  }

  resize (cols: number, rows: number, at?: number): void {
    this.resizeAt(cols, rows, this.#micros(at))
  }

  /** Ends the recording: a character left incomplete at the end of a stream is recorded as U+FFFD. */
  finish (at?: number): void {
    if (this.finished) return
    this.finishAt(this.#micros(at))
  }

  #micros (at: number | undefined): number {
    return (at ?? performance.now() - this.#origin) * 1000
  }
}

/** Integer arithmetic, so 1.000001 is never printed as 1.0000009999. */
function formatSeconds (micros: number): string {
  const whole = Math.floor(micros / 1e6)
  const fraction = String(micros % 1e6).padStart(6, '0')
  return `${whole}.${fraction}`
}

function requireTerminalSize (cols: number, rows: number): void {
  if (!Number.isInteger(cols) || cols < 1 || !Number.isInteger(rows) || rows < 1) {
    throw new RangeError(`A terminal size must be whole positive numbers of columns and rows, got ${cols}x${rows}.`)
  }
}

/** A recording that does not follow asciicast v2; `line` is 1-based, as an editor shows it. */
export class CastFormatError extends PortcullisError {
  readonly line: number
  /** What is wrong with that line, as the message says it: kept apart so the line can be renumbered. */
  readonly problem: string

  constructor (line: number, problem: string) {
    super('PORTCULLIS_CAST_INVALID', String(line), problem)
    this.name = 'CastFormatError'
    this.line = line
    this.problem = problem
  }
}

/** Reads a whole `.cast` text. Blank lines (such as the final newline) are skipped. */
export function parseCast (text: string): { header: CastHeader, events: CastEvent[] } {
  const lines = text.split('\n')
  let header: CastHeader | undefined
  const events: CastEvent[] = []
  let lastTime = 0
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.replace(/\r$/, '')
    if (line.trim() === '') continue
    const lineNumber = index + 1
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (err) {
      throw new CastFormatError(lineNumber, `it is not JSON (${err instanceof Error ? err.message : String(err)})`)
    }
    if (header === undefined) {
      header = parseHeader(value, lineNumber)
      continue
    }
    const event = parseEvent(value, lineNumber)
    if (event.time < lastTime) {
      throw new CastFormatError(lineNumber, `its time ${event.time} is earlier than the event before it (${lastTime})`)
    }
    lastTime = event.time
    events.push(event)
  }
  if (header === undefined) throw new CastFormatError(1, 'the header line is missing (the recording is empty)')
  return { header, events }
}

function parseHeader (value: unknown, line: number): CastHeader {
  if (!isPlainObject(value)) throw new CastFormatError(line, 'the header must be a JSON object')
  if (value.version !== 2) throw new CastFormatError(line, `the header's version is ${JSON.stringify(value.version)}, expected 2`)
  for (const key of ['width', 'height']) {
    const size = value[key]
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) {
      throw new CastFormatError(line, `the header's ${key} must be a whole positive number`)
    }
  }
  for (const key of ['timestamp', 'duration', 'idle_time_limit']) {
    if (value[key] !== undefined && (typeof value[key] !== 'number' || !Number.isFinite(value[key]))) {
      throw new CastFormatError(line, `the header's ${key} must be a number`)
    }
  }
  for (const key of ['command', 'title']) {
    if (value[key] !== undefined && typeof value[key] !== 'string') {
      throw new CastFormatError(line, `the header's ${key} must be a string`)
    }
  }
  if (value.env !== undefined) {
    if (!isPlainObject(value.env) || !Object.values(value.env).every((v) => typeof v === 'string' || v === null)) {
      throw new CastFormatError(line, "the header's env must map names to strings")
    }
  }
  if (value.portcullis !== undefined) {
    const meta = value.portcullis
    if (!isPlainObject(meta) || typeof meta.user !== 'string' || typeof meta.container !== 'string' ||
        typeof meta.sessionId !== 'string' || (typeof meta.project !== 'string' && meta.project !== null)) {
      throw new CastFormatError(line, "the header's portcullis metadata needs user, container, project and sessionId")
    }
  }
  return value as CastHeader
}

function parseEvent (value: unknown, line: number): CastEvent {
  if (!Array.isArray(value) || value.length !== 3) {
    throw new CastFormatError(line, 'an event must be a JSON array of [time, code, data]')
  }
  const [time, code, data] = value as unknown[]
  if (typeof time !== 'number' || !Number.isFinite(time) || time < 0) {
    throw new CastFormatError(line, 'the event time must be a number of seconds, 0 or more')
  }
  if (code !== 'o' && code !== 'i' && code !== 'r' && code !== 'm') {
    throw new CastFormatError(line, `the event code ${JSON.stringify(code)} is not one of "o", "i", "r", "m"`)
  }
  if (typeof data !== 'string') throw new CastFormatError(line, 'the event data must be a string')
  if (code === 'r' && !/^[1-9]\d*x[1-9]\d*$/.test(data)) {
    throw new CastFormatError(line, `a resize event's data must be COLSxROWS, got ${JSON.stringify(data)}`)
  }
  return { time, code, data }
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
