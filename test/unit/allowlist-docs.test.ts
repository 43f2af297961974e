import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { allowlistMarkdown } from '../../src/docs/allowlist.js'

describe('docs/request-allowlist.md', () => {
  it('is current with the tables (run `npm run build && npm run docs` to refresh it)', () => {
    const doc = readFileSync(new URL('../../docs/request-allowlist.md', import.meta.url), 'utf8')
    expect(doc).toBe(allowlistMarkdown())
  })
})
