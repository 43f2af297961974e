// The reference sections generated from the code (npm run docs) are in the docs/ pages GENERATED_PAGES names, and
// those pages are current with the code.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { GENERATED_PAGES, GENERATED_SECTIONS, renderGeneratedSections } from '../../src/docs/reference.js'

const read = (page: string): string => readFileSync(new URL(`../../${page}`, import.meta.url), 'utf8')

describe('generated reference sections', () => {
  it('each section is placed in exactly one page', () => {
    const placed = Object.values(GENERATED_PAGES).flat()
    expect([...placed].sort()).toEqual(Object.keys(GENERATED_SECTIONS).sort())
  })

  for (const [page, sections] of Object.entries(GENERATED_PAGES)) {
    it(`${page} carries its sections: ${sections.join(', ')}`, () => {
      const text = read(page)
      for (const name of sections) {
        expect(text).toContain(`<!-- ${name}:start -->`)
        expect(text).toContain(`<!-- ${name}:end -->`)
      }
    })

    it(`${page} is current with the code (run \`npm run build && npm run docs\` to refresh it)`, () => {
      const text = read(page)
      expect(renderGeneratedSections(text)).toBe(text)
    })
  }

  it('README.md carries none of them (it is the guide; the reference is in docs/)', () => {
    const readme = read('README.md')
    for (const name of Object.keys(GENERATED_SECTIONS)) expect(readme).not.toContain(`<!-- ${name}:start -->`)
  })

  it('README.md gives the two commands that work on a fresh machine', () => {
    const readme = read('README.md')
    expect(readme).toContain('make demo')
    expect(readme).toContain('make test')
  })
})
