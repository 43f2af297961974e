// npm run docs: regenerate the README's reference sections from the code (after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs'
import { renderGeneratedSections } from '../dist/docs/reference.js'

const path = new URL('../README.md', import.meta.url)
const before = readFileSync(path, 'utf8')
const after = renderGeneratedSections(before)
if (after !== before) writeFileSync(path, after)
console.log(after === before ? 'README.md is current' : 'README.md reference sections regenerated')
