// Record texts handed on as bytes (the shipper's INSERT, the sealed files): exactly the UTF-8 of the texts, a line each.
import { describe, expect, it } from 'vitest'
import { textLines } from '../../src/audit/text-lines.js'

const rows = (...texts: string[]): Array<{ text: string }> => texts.map((text) => ({ text }))

describe('textLines', () => {
  it('is the UTF-8 of the texts joined by line breaks, for any characters', () => {
    const texts = ['{"a":1}', '{"user":"ü 漢字 😀"}', '{"q":"\\"quoted\\""}', '']
    expect(textLines(rows(...texts), false).toString('utf8')).toBe(texts.join('\n'))
    expect(textLines(rows(...texts), true).toString('utf8')).toBe(texts.join('\n') + '\n')
  })

  it('makes one line of one text, and nothing of none', () => {
    expect(textLines(rows('{"a":1}'), false).toString()).toBe('{"a":1}')
    expect(textLines(rows('{"a":1}'), true).toString()).toBe('{"a":1}\n')
    expect(textLines([], false)).toHaveLength(0)
    expect(textLines([], true)).toHaveLength(0)
  })

  it('holds a batch far past the size a single string is slow at, byte for byte', () => {
    const texts = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ seq: i, reason: `ü${'x'.repeat(600)}` }))
    expect(textLines(rows(...texts), false).equals(Buffer.from(texts.join('\n'), 'utf8'))).toBe(true)
  })
})
