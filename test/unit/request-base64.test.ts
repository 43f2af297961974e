import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { isStrictBase64 } from '../../src/request/base64.js'

/** The rule as it was written before the table: the check must accept exactly what this accepts. */
const REFERENCE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

const EDGES = [
  '', 'QQ==', 'QUI=', 'QUJD', 'QUJDRA==', '=', '==', '===', '====', 'A===', 'AB==', 'ABC=', 'A=B=', 'AB=C', '=ABC',
  'QQ=', 'QQ', 'Q', 'QUJ', 'QQ==QQ==', 'QUJD\n', '\nQUJD', 'QU JD', 'QUJD ', ' QUJD', 'QU\tJ', 'QUJD\r\n',
  'a-b_', 'ab-_', 'QUJD-w==', 'QUJD_w==', 'QUJDé===', 'QUJDÀ', '\u{1F600}AB', 'AB\u{1F600}', 'QUJD\u0000', '\u0000\u0000\u0000\u0000',
  'QUJD'.repeat(1000), 'QUJD'.repeat(1000) + '=', '+/+/', '////', '++==', '+++='
]

const CHARS = 'ABCabcxyzXYZ0189+/=-_ \n\té\u0000\u{1F600}'

function randomText (): string {
  const length = Math.floor(Math.random() * 14)
  let text = ''
  for (let i = 0; i < length; i++) text += [...CHARS][Math.floor(Math.random() * [...CHARS].length)]
  return text
}

describe('a forwarded body is base64 exactly as Go writes it', () => {
  it('accepts and refuses the edge cases exactly as the regex did (padding, whitespace, URL-safe letters, non-ASCII)', () => {
    for (const text of EDGES) expect([text, isStrictBase64(text)]).toEqual([text, REFERENCE.test(text)])
  })

  it('agrees with the regex on 100,000 random strings of base64-like characters', () => {
    for (let i = 0; i < 100_000; i++) {
      const text = randomText()
      if (isStrictBase64(text) !== REFERENCE.test(text)) expect([text, isStrictBase64(text)]).toEqual([text, REFERENCE.test(text)])
    }
  })

  it('accepts what Buffer encodes, of every length, and refuses it with one character changed to a non-alphabet one', () => {
    for (let n = 0; n < 64; n++) {
      const text = randomBytes(n).toString('base64')
      expect(isStrictBase64(text)).toBe(true)
      if (text.length === 0) continue
      const at = Math.floor(Math.random() * text.length)
      for (const bad of ['-', '_', ' ', '\n', '.', 'é']) {
        const changed = text.slice(0, at) + bad + text.slice(at + 1)
        expect(isStrictBase64(changed)).toBe(REFERENCE.test(changed))
      }
    }
  })
})
