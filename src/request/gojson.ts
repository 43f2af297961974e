// A JSON parser that reads bytes the way Go's encoding/json (Go 1.19/1.20, as in dockerd 20.10) does,
// but keeps every object entry, duplicates included and in order, so that a later decoding step can
// replay Go's "apply every key in order" rules instead of JavaScript's "last key wins".
//
// Differences from JSON.parse that matter here:
// - invalid UTF-8 inside strings becomes U+FFFD, one per bad byte (Go's utf8.DecodeRune), instead of
//   WHATWG's one-per-maximal-subpart; lone surrogate escapes (\ud800) become U+FFFD as in Go;
// - numbers keep their source text (Go parses them per target type);
// - the body must be exactly one value: trailing non-space is rejected (Go's Decoder would ignore it,
//   and we would rather deny than judge half a body);
// - nesting depth is bounded.

/** A JSON number, kept as written. */
export class JsonNumber {
  constructor (readonly text: string) {}
}

export interface JsonEntry {
  key: string
  value: JsonValue
}

/** A JSON object with all its entries, duplicate keys included, in source order. */
export class JsonObject {
  constructor (readonly entries: JsonEntry[]) {}
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject

export type GoJsonErrorCode = 'syntax' | 'too-deep' | 'trailing-data' | 'type-mismatch'

/** Why a body could not be read as the daemon would read it. */
export class GoJsonError extends Error {
  constructor (readonly code: GoJsonErrorCode, message: string) {
    super(message)
    this.name = 'GoJsonError'
  }
}

/** Far deeper than any Docker request body (those nest < 10 levels); Go's own limit is 10000. */
export const MAX_DEPTH = 128

const SPACE = 0x20
const TAB = 0x09
const LF = 0x0a
const CR = 0x0d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/** Parses exactly one JSON value from `bytes` (surrounding whitespace allowed). */
export function parseGoJson (bytes: Uint8Array): JsonValue {
  const parser = new Parser(bytes)
  parser.skipSpace()
  const value = parser.value(0)
  parser.skipSpace()
  if (parser.pos < bytes.length) {
    throw new GoJsonError('trailing-data', `unexpected data after the JSON value at byte ${parser.pos}`)
  }
  return value
}

class Parser {
  pos = 0
  readonly bytes: Buffer
  constructor (bytes: Uint8Array) {
    this.bytes = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  skipSpace (): void {
    const b = this.bytes
    while (this.pos < b.length) {
      const c = b[this.pos]
      if (c !== SPACE && c !== TAB && c !== LF && c !== CR) break
      this.pos++
    }
  }

  fail (what: string): never {
    if (this.pos >= this.bytes.length) throw new GoJsonError('syntax', `unexpected end of JSON input (${what})`)
    const c = this.bytes[this.pos] as number
    const shown = c >= 0x21 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`
    throw new GoJsonError('syntax', `invalid character ${shown} at byte ${this.pos} (${what})`)
  }

  value (depth: number): JsonValue {
    const c = this.bytes[this.pos]
    switch (c) {
      case 0x7b: return this.object(depth + 1) // {
      case 0x5b: return this.array(depth + 1) // [
      case QUOTE: return this.string()
      case 0x74: return this.literal('true', true)
      case 0x66: return this.literal('false', false)
      case 0x6e: return this.literal('null', null)
      default:
        if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return this.number()
        return this.fail('looking for beginning of value')
    }
  }

  object (depth: number): JsonObject {
    if (depth > MAX_DEPTH) throw new GoJsonError('too-deep', `JSON nests deeper than ${MAX_DEPTH} levels`)
    this.pos++ // {
    const entries: JsonEntry[] = []
    this.skipSpace()
    if (this.bytes[this.pos] === 0x7d) {
      this.pos++
      return new JsonObject(entries)
    }
    for (;;) {
      if (this.bytes[this.pos] !== QUOTE) this.fail('looking for beginning of object key string')
      const key = this.string()
      this.skipSpace()
      if (this.bytes[this.pos] !== 0x3a) this.fail('after object key')
      this.pos++
      this.skipSpace()
      entries.push({ key, value: this.value(depth) })
      this.skipSpace()
      const c = this.bytes[this.pos]
      if (c === 0x2c) {
        this.pos++
        this.skipSpace()
        continue
      }
      if (c === 0x7d) {
        this.pos++
        return new JsonObject(entries)
      }
      this.fail('after object key:value pair')
    }
  }

  array (depth: number): JsonValue[] {
    if (depth > MAX_DEPTH) throw new GoJsonError('too-deep', `JSON nests deeper than ${MAX_DEPTH} levels`)
    this.pos++ // [
    const items: JsonValue[] = []
    this.skipSpace()
    if (this.bytes[this.pos] === 0x5d) {
      this.pos++
      return items
    }
    for (;;) {
      items.push(this.value(depth))
      this.skipSpace()
      const c = this.bytes[this.pos]
      if (c === 0x2c) {
        this.pos++
        this.skipSpace()
        continue
      }
      if (c === 0x5d) {
        this.pos++
        return items
      }
      this.fail('after array element')
    }
  }

  literal<T extends boolean | null> (word: string, result: T): T {
    for (let i = 0; i < word.length; i++) {
      if (this.bytes[this.pos] !== word.charCodeAt(i)) this.fail(`in literal ${word}`)
      this.pos++
    }
    return result
  }

  number (): JsonNumber {
    const b = this.bytes
    const start = this.pos
    if (b[this.pos] === 0x2d) this.pos++
    if (b[this.pos] === 0x30) {
      this.pos++
    } else if (isDigit(b[this.pos])) {
      while (isDigit(b[this.pos])) this.pos++
    } else {
      this.fail('in numeric literal')
    }
    if (b[this.pos] === 0x2e) {
      this.pos++
      if (!isDigit(b[this.pos])) this.fail('after decimal point in numeric literal')
      while (isDigit(b[this.pos])) this.pos++
    }
    if (b[this.pos] === 0x65 || b[this.pos] === 0x45) {
      this.pos++
      if (b[this.pos] === 0x2b || b[this.pos] === 0x2d) this.pos++
      if (!isDigit(b[this.pos])) this.fail('in exponent of numeric literal')
      while (isDigit(b[this.pos])) this.pos++
    }
    return new JsonNumber(latin1(b, start, this.pos))
  }

  string (): string {
    const b = this.bytes
    this.pos++ // opening quote
    const start = this.pos
    // Fast path: plain ASCII without escapes, which is nearly every string in a Docker body.
    while (this.pos < b.length) {
      const c = b[this.pos] as number
      if (c === QUOTE) {
        const s = latin1(b, start, this.pos)
        this.pos++
        return s
      }
      if (c === BACKSLASH || c < 0x20 || c >= 0x80) break
      this.pos++
    }
    return this.slowString(latin1(b, start, this.pos))
  }

  slowString (prefix: string): string {
    const b = this.bytes
    let out = prefix
    while (this.pos < b.length) {
      const c = b[this.pos] as number
      if (c === QUOTE) {
        this.pos++
        return out
      }
      if (c < 0x20) this.fail('in string literal')
      if (c === BACKSLASH) {
        out += this.escape()
        continue
      }
      if (c < 0x80) {
        out += String.fromCharCode(c)
        this.pos++
        continue
      }
      const [rune, size] = decodeRune(b, this.pos)
      out += String.fromCodePoint(rune)
      this.pos += size
    }
    return this.fail('in string literal')
  }

  escape (): string {
    const b = this.bytes
    this.pos++ // backslash
    const c = b[this.pos]
    this.pos++
    switch (c) {
      case QUOTE: return '"'
      case BACKSLASH: return '\\'
      case 0x2f: return '/'
      case 0x62: return '\b'
      case 0x66: return '\f'
      case 0x6e: return '\n'
      case 0x72: return '\r'
      case 0x74: return '\t'
      case 0x75: { // u
        const unit = this.hex4()
        if (unit < 0xd800 || unit >= 0xe000) return String.fromCharCode(unit)
        // Go (unquote): a surrogate is only kept as half of a valid \uXXXX\uXXXX pair; else U+FFFD.
        if (unit < 0xdc00 && b[this.pos] === BACKSLASH && b[this.pos + 1] === 0x75) {
          const save = this.pos
          this.pos += 2
          const low = this.hex4()
          if (low >= 0xdc00 && low < 0xe000) return String.fromCharCode(unit, low)
          this.pos = save // not a pair: the second escape is read again on its own
        }
        return '\ufffd'
      }
      default:
        this.pos--
        return this.fail('in string escape code')
    }
  }

  hex4 (): number {
    let n = 0
    for (let i = 0; i < 4; i++) {
      const c = this.bytes[this.pos]
      let d: number
      if (c !== undefined && c >= 0x30 && c <= 0x39) d = c - 0x30
      else if (c !== undefined && c >= 0x61 && c <= 0x66) d = c - 0x57
      else if (c !== undefined && c >= 0x41 && c <= 0x46) d = c - 0x37
      else return this.fail('in \\u hexadecimal character escape')
      n = n * 16 + d
      this.pos++
    }
    return n
  }
}

function isDigit (c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39
}

/** Only called on ASCII runs (string fast path, number text), where latin1 decoding is exact. */
function latin1 (b: Buffer, start: number, end: number): string {
  if (end - start < 16) {
    let s = ''
    for (let i = start; i < end; i++) s += String.fromCharCode(b[i] as number)
    return s
  }
  return b.toString('latin1', start, end)
}

/**
 * Go's utf8.DecodeRune for a non-ASCII lead byte: returns [rune, size], or [U+FFFD, 1] when the
 * sequence is invalid (bad lead byte, bad continuation, overlong, surrogate or beyond U+10FFFF).
 */
function decodeRune (b: Uint8Array, i: number): [number, number] {
  const c0 = b[i] as number
  const bad: [number, number] = [0xfffd, 1]
  let size: number
  let lo = 0x80
  let hi = 0xbf
  if (c0 >= 0xc2 && c0 <= 0xdf) size = 2
  else if (c0 >= 0xe0 && c0 <= 0xef) {
    size = 3
    if (c0 === 0xe0) lo = 0xa0
    else if (c0 === 0xed) hi = 0x9f
  } else if (c0 >= 0xf0 && c0 <= 0xf4) {
    size = 4
    if (c0 === 0xf0) lo = 0x90
    else if (c0 === 0xf4) hi = 0x8f
  } else return bad
  if (i + size > b.length) return bad
  const c1 = b[i + 1] as number
  if (c1 < lo || c1 > hi) return bad
  if (size === 2) return [((c0 & 0x1f) << 6) | (c1 & 0x3f), 2]
  const c2 = b[i + 2] as number
  if (c2 < 0x80 || c2 > 0xbf) return bad
  if (size === 3) return [((c0 & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f), 3]
  const c3 = b[i + 3] as number
  if (c3 < 0x80 || c3 > 0xbf) return bad
  return [((c0 & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f), 4]
}
