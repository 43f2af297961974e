// Reading an asciicast recording given in pieces of any size (stored chunks, a recording file's frames rendered, an
// HTTP body), checked line by line as parseCast checks a whole one, holding at most a batch of lines at a time.
import { StringDecoder } from 'node:string_decoder'
import { CastFormatError, parseCast, type CastEvent, type CastHeader } from './asciicast.js'

/** Either the header or one event of a recording read by readCastStream. */
export type CastItem = { header: CastHeader } | { event: CastEvent }

const PARSE_BATCH_CHARS = 256 * 1024

/**
 * Reads a recording given in pieces of any size (stored chunks, or an HTTP body), checking it as parseCast does
 * but holding at most a batch of lines at a time: the header first, then the events in order. Line numbers in
 * errors count from the start of the whole recording.
 */
export async function * readCastStream (pieces: AsyncIterable<string | Buffer>): AsyncIterable<CastItem> {
  const decoder = new StringDecoder('utf8')
  let carry = ''
  let headerLine: string | null = null
  let linesBefore = 0
  let lastTime = 0

  // parseCast needs the header in front of the events, so each batch is parsed as header + its lines.
  function * parseBatch (text: string): Iterable<CastItem> {
    if (headerLine === null) {
      // Blank lines before the header are skipped, as parseCast does; they still count for line numbers.
      let end = text.indexOf('\n')
      while (end >= 0 && text.slice(0, end).replace(/\r$/, '').trim() === '') {
        linesBefore++
        text = text.slice(end + 1)
        end = text.indexOf('\n')
      }
      const first = end < 0 ? text : text.slice(0, end)
      if (first.trim() === '') return
      const { header } = renumbered(() => parseCast(first), linesBefore)
      headerLine = first
      yield { header }
      linesBefore++
      text = end < 0 ? '' : text.slice(end + 1)
      if (text === '') return
    }
    const { events } = renumbered(() => parseCast(headerLine + '\n' + text), linesBefore - 1)
    yield * checked(events, linesBefore, text)
    linesBefore += countNewlines(text)
  }

  // Order across batches: parseCast checks it within one.
  function * checked (events: CastEvent[], firstLine: number, text: string): Iterable<CastItem> {
    const first = events[0]
    if (first !== undefined && first.time < lastTime) {
      throw new CastFormatError(firstLine + lineOfFirstEvent(text), `its time ${first.time} is earlier than the event before it (${lastTime})`)
    }
    for (const event of events) yield { event }
    if (events.length > 0) lastTime = events[events.length - 1]!.time
  }

  let batch = ''
  for await (const piece of pieces) {
    const text = carry + (typeof piece === 'string' ? piece : decoder.write(piece))
    const end = text.lastIndexOf('\n')
    if (end < 0) {
      carry = text
      continue
    }
    carry = text.slice(end + 1)
    batch += text.slice(0, end + 1)
    if (batch.length >= PARSE_BATCH_CHARS) {
      yield * parseBatch(batch)
      batch = ''
    }
  }
  batch += carry + decoder.end()
  if (batch !== '') yield * parseBatch(batch)
  if (headerLine === null) throw new CastFormatError(1, 'the header line is missing (the recording is empty)')
}

function countNewlines (text: string): number {
  let count = 0
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) count++
  return count
}

/** 1-based line, within `text`, of its first non-blank line. */
function lineOfFirstEvent (text: string): number {
  const lines = text.split('\n')
  const index = lines.findIndex((line) => line.replace(/\r$/, '').trim() !== '')
  return index < 0 ? 1 : index + 1
}

/** Runs a parse of text that starts `offset` lines into the recording, and moves the line an error names. */
function renumbered<T> (parse: () => T, offset: number): T {
  try {
    return parse()
  } catch (err) {
    if (!(err instanceof CastFormatError) || offset === 0) throw err
    throw new CastFormatError(err.line + offset, err.problem)
  }
}
