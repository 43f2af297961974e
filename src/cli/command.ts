// The shape every CLI command has: its own options, its own --help, and one run function.

import { parseArgs, type ParseArgsConfig } from 'node:util'
import { PortcullisError } from '../errors.js'

export type Options = NonNullable<ParseArgsConfig['options']>

export interface Command<O extends Options = Options> {
  name: string
  summary: string
  usage: string
  options: O
  /** One line per option, shown by --help. */
  help: Record<string, string>
  run: (values: ParsedValues<O>, positionals: string[]) => Promise<number>
}

type ParsedValues<O extends Options> = ReturnType<typeof parseArgs<{ options: O, allowPositionals: true, strict: true }>>['values']

export function defineCommand<O extends Options> (command: Command<O>): Command<O> {
  return command
}

export async function runCommand<O extends Options> (command: Command<O>, argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText(command))
    return 0
  }
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: command.options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_USAGE', (err as Error).message, command.name)
  }
  return await command.run(parsed.values as ParsedValues<O>, parsed.positionals)
}

function helpText (command: Command<Options>): string {
  const width = Math.max(...Object.keys(command.help).map((k) => k.length), 4) + 4
  const lines = [`Usage: portcullis ${command.usage}`, '', command.summary, '', 'Options:']
  for (const [flag, text] of Object.entries(command.help)) lines.push(`  ${flag.padEnd(width)}${text}`)
  lines.push(`  ${'--help'.padEnd(width)}show this help`)
  return lines.join('\n') + '\n'
}

export function required (value: string | undefined, flag: string, command: string): string {
  if (value === undefined || value === '') throw new PortcullisError('PORTCULLIS_USAGE', `${flag} is required`, command)
  return value
}
