// Which command argv names: a command, a group of them (`policy`, `audit`), or nothing we know, with the closest
// name for a typo. The top-level and group help texts list the commands with their summaries.

import { PortcullisError } from '../errors.js'
import { closest } from '../policy/did-you-mean.js'
import type { CommandEntry } from './commands.js'

export type Route =
  | { kind: 'command', entry: CommandEntry, rest: string[] }
  | { kind: 'group', group: string, help: boolean }

/** The command argv names; a group's name alone (or with --help) is the group; anything else throws with a suggestion. */
export function route (commands: readonly CommandEntry[], argv: string[]): Route {
  const [first = '', second] = argv
  const twoWords = commands.find((c) => c.name === `${first} ${second ?? ''}`)
  if (twoWords !== undefined) return { kind: 'command', entry: twoWords, rest: argv.slice(2) }
  const oneWord = commands.find((c) => c.name === first)
  if (oneWord !== undefined) return { kind: 'command', entry: oneWord, rest: argv.slice(1) }
  const groups = groupNames(commands)
  if (groups.includes(first)) {
    if (second === undefined || second === '--help' || second === '-h' || second === 'help') return { kind: 'group', group: first, help: second !== undefined }
    const names = commands.filter((c) => c.name.startsWith(`${first} `)).map((c) => c.name)
    const near = closest(`${first} ${second}`, names)
    throw new PortcullisError('PORTCULLIS_UNKNOWN_COMMAND', `${first} ${second}`, suggestion(near), ` ${first}`)
  }
  const near = closest(first, [...commands.map((c) => c.name.split(' ')[0]!), '--help', '--version'])
  throw new PortcullisError('PORTCULLIS_UNKNOWN_COMMAND', first, suggestion(near), '')
}

export function groupNames (commands: readonly CommandEntry[]): string[] {
  return [...new Set(commands.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0]!))]
}

function suggestion (near: string | undefined): string {
  return near === undefined ? '' : ` (did you mean \`portcullis ${near}\`?)`
}

/** `  name   First sentence of the summary`, one line per command. */
export async function commandList (entries: readonly CommandEntry[], prefix = ''): Promise<string[]> {
  const commands = await Promise.all(entries.map(async (entry) => await entry.load()))
  const names = commands.map((c) => c.name.slice(prefix.length))
  const width = Math.max(...names.map((n) => n.length)) + 2
  return commands.map((c, i) => `  ${names[i]!.padEnd(width)}${c.summary.split('. ')[0]!.replace(/\.$/, '')}`)
}

export async function groupUsage (commands: readonly CommandEntry[], group: string): Promise<string> {
  const members = commands.filter((c) => c.name.startsWith(`${group} `))
  return [
    `Usage: portcullis ${group} COMMAND [options]`,
    '',
    'Commands:',
    ...await commandList(members, `${group} `),
    '',
    `Run \`portcullis ${group} COMMAND --help\` for its options.`
  ].join('\n') + '\n'
}
