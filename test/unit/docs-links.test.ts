// Every relative link in README.md and docs/*.md leads somewhere: the file exists, and a `#anchor` names a heading
// of the page it points into, slugged as GitHub slugs headings. External links are not fetched.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = new URL('../../', import.meta.url).pathname
const PAGES = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]

/** The text outside fenced code blocks and inline code, line by line (links and headings in code are not links). */
function proseLines (markdown: string): string[] {
  let fence: string | null = null
  return markdown.split('\n').map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1]
    if (marker !== undefined && (fence === null || marker.startsWith(fence))) {
      fence = fence === null ? marker : null
      return ''
    }
    return fence === null ? line.replace(/(`+)[^`]*?\1/g, '') : ''
  })
}

/** GitHub's heading anchor: lowercase, punctuation dropped, spaces to `-`; a repeated slug gets `-1`, `-2`, … */
function githubSlug (heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
    .replace(/ /g, '-')
}

function anchorsOf (file: string): Set<string> {
  const markdown = readFileSync(file, 'utf8')
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  let fence: string | null = null
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1]
    if (marker !== undefined && (fence === null || marker.startsWith(fence))) { fence = fence === null ? marker : null; continue }
    if (fence !== null) continue
    for (const m of line.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(m[1]!)
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1]
    if (heading === undefined) continue
    const slug = githubSlug(heading)
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    anchors.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return anchors
}

interface Link { page: string, line: number, target: string }

function relativeLinks (page: string): Link[] {
  const links: Link[] = []
  proseLines(readFileSync(path.join(ROOT, page), 'utf8')).forEach((text, index) => {
    for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1]!
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // http:, https:, mailto:
      links.push({ page, line: index + 1, target })
    }
  })
  return links
}

function brokenReason ({ page, target }: Link): string | null {
  const [file, anchor] = target.split('#', 2) as [string, string | undefined]
  const resolved = file === '' ? path.join(ROOT, page) : path.resolve(path.dirname(path.join(ROOT, page)), decodeURIComponent(file))
  if (!existsSync(resolved)) return `no file ${path.relative(ROOT, resolved)}`
  if (anchor === undefined || anchor === '') return null
  if (!resolved.endsWith('.md')) return null
  return anchorsOf(resolved).has(decodeURIComponent(anchor)) ? null : `no heading #${anchor} in ${path.relative(ROOT, resolved)}`
}

describe('links in README.md and docs/', () => {
  it('the slug rule: lowercase, spaces to -, punctuation dropped', () => {
    expect(githubSlug('Startup order (tested)')).toBe('startup-order-tested')
    expect(githubSlug('`portcullis check`')).toBe('portcullis-check')
    expect(githubSlug('A fleet: every host\'s audit in PostgreSQL')).toBe('a-fleet-every-hosts-audit-in-postgresql')
    expect(githubSlug('Run it under systemd (`make install`)')).toBe('run-it-under-systemd-make-install')
  })

  for (const page of PAGES) {
    it(`every relative link in ${page} resolves`, () => {
      const broken = relativeLinks(page).map((link) => ({ link, reason: brokenReason(link) }))
        .filter(({ reason }) => reason !== null)
        .map(({ link, reason }) => `${link.page}:${link.line} (${link.target}): ${reason!}`)
      expect(broken).toEqual([])
    })
  }

})
