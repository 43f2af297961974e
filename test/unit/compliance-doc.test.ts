// docs/compliance.md names, for every requirement, the test that proves it. A reviewer follows those names, so a
// renamed or removed test must fail here rather than leave the mapping pointing at nothing.

import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const root = new URL('../../', import.meta.url)
const doc = readFileSync(new URL('docs/compliance.md', root), 'utf8')

/** `test/e2e/x.test.ts`: "the start of a test's name" */
const REFERENCE = /`(test\/[\w./-]+\.test\.ts)`: "([^"]+)"/g

function references (): Array<{ file: string, name: string }> {
  return [...doc.matchAll(REFERENCE)].map((match) => ({ file: match[1]!, name: match[2]! }))
}

/** A test's name as written in its file: the text of every it('…') / it(`…`), with \' unescaped. */
function testNames (file: string): string[] {
  const source = readFileSync(new URL(file, root), 'utf8')
  return [...source.matchAll(/\bit\(\s*(['`])((?:\\.|(?!\1).)*)\1/g)].map((match) => match[2]!.replace(/\\(['`\\])/g, '$1'))
}

describe('docs/compliance.md', () => {
  it('names tests for every requirement it maps', () => {
    expect(references().length).toBeGreaterThan(40)
    for (const row of doc.split('\n').filter((line) => /^\| \*\*/.test(line))) {
      expect(row, 'a requirement row without a test').toMatch(REFERENCE)
    }
  })

  it('every test it names exists under that name', () => {
    const missing: string[] = []
    for (const { file, name } of references()) {
      if (!existsSync(new URL(file, root))) missing.push(`${file} (no such file)`)
      else if (!testNames(file).some((test) => test.startsWith(name))) missing.push(`${file}: "${name}"`)
    }
    expect(missing).toEqual([])
  })
})
