// Every hint the product prints must work as printed: each `portcullis …` command line quoted in src/ names a command
// (or a group) that exists, and its flags are that command's flags. The hints are found by scanning the sources, so
// a new hint is checked without being listed here; only prose that starts with the product's name is skipped.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseCommandLine } from '../../src/cli/command.js'
import { COMMANDS } from '../../src/cli/commands.js'
import { LocationResolver } from '../../src/cli/locations.js'
import { route } from '../../src/cli/router.js'

function sources (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** Backquoted text that starts with `portcullis ` but is a sentence or a template, not a command line. */
const PROSE = [/^portcullis (could|does|stopped|—)/, /^portcullis \$\{(VERSION|version|group|near)\}/, /^portcullis <version>/, /^portcullis (COMMAND|%s) --help/,
  /^portcullis --help$/, /^portcullis audit report:/, /^portcullis actions: no action/]

const COMMAND_WORDS = new Set(COMMANDS.map((c) => c.name.split(' ')[0]!))

/** The quoted command lines in src/, with the file each is in. */
function hints (): Array<{ file: string, line: string }> {
  const src = new URL('../../src', import.meta.url).pathname
  const found = new Map<string, string>()
  for (const file of sources(src)) {
    const text = readFileSync(file, 'utf8')
    // Quoted in backticks or <code>, or given after a colon up to the end of the line ("check it with: portcullis …").
    // Unquoted, it is a command only when a command's name follows ("portcullis takes calls again" is prose).
    const afterColon = [...text.matchAll(/: (portcullis ([a-z]+)[^\n'`]*?)(?:\\n|'|`|$)/gm)].filter((m) => COMMAND_WORDS.has(m[2]!))
    const quoted = [...text.matchAll(/`(portcullis [^`]*?)\\?`/g), ...text.matchAll(/<code>(portcullis [^<]*)<\/code>/g), ...afterColon]
    for (const match of quoted) {
      const line = match[1]!.trim()
      if (!PROSE.some((re) => re.test(line))) found.set(line, file.slice(src.length + 1))
    }
  }
  return [...found].map(([line, file]) => ({ file, line }))
}

/** argv for a hint: placeholders (%s, ${…}) become a value, `a|b` alternatives become one argv each. */
function argvsOf (line: string): string[][] {
  const words = line.replace(/\$\{[^}]*\}/g, 'x').replace(/%s/g, 'x').split(/\s+/).slice(1).filter((w) => w !== '…')
  const alternatives = words.findIndex((w) => w.includes('|') && !w.startsWith('-'))
  if (alternatives === -1) return [words]
  return words[alternatives]!.split('|').map((choice) => words.slice(0, alternatives).concat(choice, words.slice(alternatives + 1)))
}

describe('every `portcullis …` hint in src/ parses as printed', () => {
  const cases = hints().flatMap(({ file, line }) => argvsOf(line).map((argv) => ({ file, line, argv })))

  it('finds the hints (the scan works)', () => {
    expect(cases.length).toBeGreaterThan(40)
    const lines = cases.map((c) => c.line)
    expect(lines).toContain('portcullis policy validate --config %s')
    expect(lines).toContain('portcullis audit verify-bundle')
    expect(lines).toContain('portcullis request list')
  })

  it.each(cases)('$file: $line', async ({ argv }) => {
    const found = route(COMMANDS, argv)
    if (found.kind === 'group') return
    // Parsed only: no command runs, and no environment or profile of this machine is read.
    const resolver = new LocationResolver({ XDG_CONFIG_HOME: '/nonexistent' })
    const command = await found.entry.load()
    // A flag named in prose (`serve --data`) without its value: the flag must exist; give it one.
    const last = found.rest.at(-1)
    const rest = last?.startsWith('--') === true && command.options[last.slice(2)]?.type === 'string' ? [...found.rest, 'x'] : found.rest
    expect(() => parseCommandLine(command, rest, resolver)).not.toThrow()
  })
})
