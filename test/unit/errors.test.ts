import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ERRORS, PortcullisError } from '../../src/errors.js'
import { DENY_CODES } from '../../src/core/decision.js'

function sources (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : []
  })
}

describe('error codes', () => {
  const src = new URL('../../src', import.meta.url).pathname
  const used = new Set(sources(src).flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/'(PORTCULLIS_[A-Z_]+)'/g)].map((m) => m[1]!)))

  it('every code raised in src/ is declared in the registry', () => {
    const undeclared = [...used].filter((code) => !(code in ERRORS))
    expect(undeclared).toEqual([])
  })

  it('every declared code is used somewhere', () => {
    const unused = Object.keys(ERRORS).filter((code) => !used.has(code) && !readFileSync(join(src, 'errors.ts'), 'utf8').includes(`${code}: `) )
    expect(unused).toEqual([])
  })

  it('fills the message in order and keeps the code', () => {
    const err = new PortcullisError('PORTCULLIS_KEYS_MISSING', '/k/token.pub', '/k')
    expect(err.code).toBe('PORTCULLIS_KEYS_MISSING')
    expect(err.message).toBe('No token key at /k/token.pub. Run `portcullis keys init --keys /k` first.')
  })

  it('every deny code has a description', () => {
    for (const [code, text] of Object.entries(DENY_CODES)) expect(text, code).toMatch(/\w/)
  })
})
