import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { GENERATED_SECTIONS, renderGeneratedSections } from '../../src/docs/reference.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

describe('README', () => {
  it('carries every generated reference section', () => {
    for (const name of Object.keys(GENERATED_SECTIONS)) expect(readme).toContain(`<!-- ${name}:start -->`)
  })

  it('is current with the code (run `npm run build && npm run docs` to refresh it)', () => {
    expect(renderGeneratedSections(readme)).toBe(readme)
  })

  it('gives the two commands that work on a fresh machine', () => {
    expect(readme).toContain('make demo')
    expect(readme).toContain('make test')
  })
})
