// How commands that list or show things print them: `-o table` (the default, for people: aligned columns, every
// cell made visible so a stored string cannot act on the terminal) or `-o json` (for scripts: what `--json`
// printed before, which stays as its alias). `--format` keeps its meaning of a file format where a command has it.
import { visible } from '../audit/terminal-text.js'
import { PortcullisError } from '../errors.js'

export type OutputFormat = 'json' | 'table'

export const OUTPUT_OPTION = {
  output: { type: 'string', short: 'o' },
  json: { type: 'boolean', default: false }
} as const

/** The help lines for -o; `json` says what the JSON is for this command. */
export function outputHelp (json: string): Record<string, string> {
  return { '-o, --output json|table': `table for people (default), or json: ${json}`, '--json': 'the same as -o json' }
}

/** The format asked for: -o wins, --json means json, else table. */
export function outputFormat (values: { output?: string | undefined, json?: boolean | undefined }, command: string): OutputFormat {
  const asked = values.output
  if (asked === undefined) return values.json === true ? 'json' : 'table'
  if (asked !== 'json' && asked !== 'table') throw new PortcullisError('PORTCULLIS_USAGE', `-o takes json or table, not ${visible(asked)}`, command)
  if (asked === 'table' && values.json === true) throw new PortcullisError('PORTCULLIS_USAGE', '--json and -o table ask for different things: give one', command)
  return asked
}

/** Aligned columns under a header; every cell shown with visible(), the last column not padded. */
export function renderTable (columns: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const shown = rows.map((row) => row.map((cell) => visible(cell)))
  const widths = columns.map((title, i) => Math.max(title.length, ...shown.map((row) => row[i]?.length ?? 0)))
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(columns), ...shown.map(line)].join('\n') + '\n'
}

/** `label: value` lines with the labels aligned, for one thing shown (status). */
export function renderFields (fields: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 2
  return fields.map(([label, value]) => `${(label + ':').padEnd(width)}${visible(value)}`).join('\n') + '\n'
}

/** outputFormat(…) === 'json', for commands whose table view is their existing text. */
export function wantsJson (values: { output?: string | undefined, json?: boolean | undefined }, command: string): boolean {
  return outputFormat(values, command) === 'json'
}
