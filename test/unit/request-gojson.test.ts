import { describe, expect, it } from 'vitest'
import { GoJsonError, JsonNumber, JsonObject, MAX_DEPTH, parseGoJson, type JsonValue } from '../../src/request/gojson.js'

const parse = (text: string): JsonValue => parseGoJson(Buffer.from(text, 'utf8'))
const parseBytes = (bytes: number[]): JsonValue => parseGoJson(Uint8Array.from(bytes))
const quoted = (inner: number[]): number[] => [0x22, ...inner, 0x22]

function errorCode (fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    if (err instanceof GoJsonError) return err.code
    throw err
  }
  return undefined
}

describe('parseGoJson', () => {
  it('keeps duplicate keys in source order', () => {
    const value = parse('{"a":1,"b":true,"a":"x"}')
    expect(value).toBeInstanceOf(JsonObject)
    const entries = (value as JsonObject).entries
    expect(entries.map((e) => e.key)).toEqual(['a', 'b', 'a'])
    expect(entries[0]?.value).toEqual(new JsonNumber('1'))
    expect(entries[2]?.value).toBe('x')
  })

  it('reads scalars, arrays and surrounding whitespace', () => {
    expect(parse(' \t\r\n[null, true, false, "s", -0.5e+3, 0] \n')).toEqual([
      null, true, false, 's', new JsonNumber('-0.5e+3'), new JsonNumber('0')
    ])
    expect(parse('{}')).toEqual(new JsonObject([]))
    expect(parse('[]')).toEqual([])
  })

  it('unescapes strings like Go', () => {
    expect(parse('"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"')).toBe('a"b\\c/d\b\f\n\r\t')
    expect(parse('"\\u0041\\u017f\\u212a"')).toBe('A\u017f\u212a')
    expect(parse('"\\ud83d\\ude00"')).toBe('😀')
  })

  it('turns lone surrogate escapes into U+FFFD', () => {
    expect(parse('"\\ud800x"')).toBe('\ufffdx')
    expect(parse('"\\udc00"')).toBe('\ufffd')
    // A high surrogate followed by a non-low escape: U+FFFD, then the second escape on its own.
    expect(parse('"\\ud800\\u0041"')).toBe('\ufffdA')
  })

  it('replaces each invalid UTF-8 byte with U+FFFD, as Go does', () => {
    // Truncated 3-byte sequence: Go emits one U+FFFD per byte (WHATWG would emit one for both).
    expect(parseBytes(quoted([0xe2, 0x82, 0x41]))).toBe('\ufffd\ufffdA')
    // Overlong encoding of '/' and an encoded surrogate.
    expect(parseBytes(quoted([0xc0, 0xaf]))).toBe('\ufffd\ufffd')
    expect(parseBytes(quoted([0xed, 0xa0, 0x80]))).toBe('\ufffd\ufffd\ufffd')
    expect(parseBytes(quoted([0xff]))).toBe('\ufffd')
    // Valid multi-byte text stays as is.
    expect(parse('"\u017f\u212aé😀"')).toBe('\u017f\u212aé😀')
  })

  it('applies UTF-8 replacement to keys too', () => {
    const value = parseBytes([0x7b, ...quoted([0x4b, 0xff]), 0x3a, 0x31, 0x7d]) as JsonObject
    expect(value.entries[0]?.key).toBe('K\ufffd')
  })

  it('rejects trailing data after the value', () => {
    expect(errorCode(() => parse('{"a":1} {"b":2}'))).toBe('trailing-data')
    expect(errorCode(() => parse('{"a":1}x'))).toBe('trailing-data')
  })

  it('rejects what Go rejects', () => {
    for (const text of [
      '', '   ', '{', '{"a"}', '{"a":}', '{"a":1,}', '[1,]', '[1 2]', '{a:1}', "{'a':1}",
      '1.', '.5', '-', '1e', '+1', 'tru', 'nul', 'NaN', 'Infinity',
      '"\\x"', '"\\\'"', '"\\u12"', '"\t"', '"abc', '\ufeff{}'
    ]) {
      expect(errorCode(() => parse(text)), text).toBe('syntax')
    }
    expect(errorCode(() => parseBytes(quoted([0x0a])))).toBe('syntax')
    // Go's Decoder would stop after the 0; we reject the rest.
    expect(errorCode(() => parse('01'))).toBe('trailing-data')
  })

  it('bounds nesting depth', () => {
    expect(errorCode(() => parse('['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1)))).toBe('too-deep')
    expect(errorCode(() => parse('{"a":'.repeat(MAX_DEPTH + 1) + '1' + '}'.repeat(MAX_DEPTH + 1)))).toBe('too-deep')
    expect(() => parse('['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH))).not.toThrow()
  })
})
