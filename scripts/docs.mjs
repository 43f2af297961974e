// npm run docs: regenerate the reference sections of the docs/ pages and docs/request-allowlist.md from the code (after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs'
import { GENERATED_PAGES, renderGeneratedSections } from '../dist/docs/reference.js'
import { allowlistMarkdown } from '../dist/docs/allowlist.js'

for (const page of Object.keys(GENERATED_PAGES)) {
  const path = new URL(`../${page}`, import.meta.url)
  const before = readFileSync(path, 'utf8')
  const after = renderGeneratedSections(before)
  if (after !== before) writeFileSync(path, after)
  console.log(after === before ? `${page} is current` : `${page} reference sections regenerated`)
}

const allowlistPath = new URL('../docs/request-allowlist.md', import.meta.url)
let allowlistBefore = ''
try { allowlistBefore = readFileSync(allowlistPath, 'utf8') } catch {}
const allowlistAfter = allowlistMarkdown()
if (allowlistAfter !== allowlistBefore) writeFileSync(allowlistPath, allowlistAfter)
console.log(allowlistAfter === allowlistBefore ? 'docs/request-allowlist.md is current' : 'docs/request-allowlist.md regenerated')
