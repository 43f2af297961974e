// The shape every CLI command has: its own options, its own --help, and one run function.

import { parseArgs, type ParseArgsConfig } from 'node:util'
import { PortcullisError } from '../errors.js'
import { closest } from '../policy/did-you-mean.js'
import { isLocationOption, LOCATIONS, LocationResolver, type LocationOption } from './locations.js'

export type Options = NonNullable<ParseArgsConfig['options']>

export interface Command<O extends Options = Options> {
  name: string
  summary: string
  usage: string
  options: O
  /** One line per option, shown by --help. */
  help: Record<string, string>
  /** The options that take a remembered value ($PORTCULLIS_…, then the profile) when their flag is not given
   * (src/cli/locations.ts). Unset: every option named in LOCATIONS that has a default; an option without one, whose
   * absence chooses another mode, is listed only where a remembered value should choose it. */
  remembers?: readonly LocationOption[]
  run: (values: ParsedValues<O>, positionals: string[]) => Promise<number>
}

type ParsedValues<O extends Options> = ReturnType<typeof parseArgs<{ options: O, allowPositionals: true, strict: true }>>['values']

export function defineCommand<O extends Options> (command: Command<O>): Command<O> {
  return command
}

export async function runCommand<O extends Options> (command: Command<O>, argv: string[], resolver = new LocationResolver()): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText(command))
    return 0
  }
  const values = parseCommandLine(command, argv, resolver)
  return await command.run(values.values as ParsedValues<O>, values.positionals)
}

/** Parses argv against the command's options, then fills remembered locations the command line left out. */
export function parseCommandLine (command: Command<Options>, argv: string[], resolver = new LocationResolver()): { values: Record<string, unknown>, positionals: string[] } {
  const remembered = rememberedOptions(command)
  // Without their defaults, so a flag given can be told from one left out.
  const options: Options = { ...command.options }
  for (const name of remembered) options[name] = { ...options[name]!, default: undefined }
  let parsed
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_USAGE', usageMessage(err as Error & { code?: string }, command), command.name)
  }
  const values: Record<string, unknown> = { ...parsed.values }
  for (const name of remembered) {
    const flag = values[name]
    const resolved = resolver.resolve(name, typeof flag === 'string' ? flag : undefined, command.options[name]!.default as string | undefined)
    if (resolved.value !== undefined) values[name] = resolved.value
  }
  return { values, positionals: parsed.positionals }
}

function rememberedOptions (command: Command<Options>): LocationOption[] {
  const names = Object.keys(command.options).filter(isLocationOption)
  return command.remembers === undefined ? names.filter((name) => command.options[name]!.default !== undefined) : names.filter((name) => command.remembers!.includes(name))
}

/** node:util's message, or for an unknown option one that names the closest known flag. */
function usageMessage (err: Error & { code?: string }, command: Command<Options>): string {
  const unknown = /^Unknown option '(-{1,2}[^'=]+)/.exec(err.message)
  if (err.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || unknown === null) return err.message
  // Long flags only: every one-letter flag is one edit from every other.
  const near = unknown[1]!.startsWith('--') ? closest(unknown[1]!, [...Object.keys(command.options).map((name) => `--${name}`), '--help']) : undefined
  return `unknown option ${unknown[1]!}${near === undefined ? '' : ` (did you mean ${near}?)`}`
}

function helpText (command: Command<Options>): string {
  const width = Math.max(...Object.keys(command.help).map((k) => k.length), 4) + 4
  const lines = [`Usage: portcullis ${command.usage}`, '', command.summary, '', 'Options:']
  for (const [flag, text] of Object.entries(command.help)) lines.push(`  ${flag.padEnd(width)}${text}`)
  lines.push(`  ${'--help'.padEnd(width)}show this help`)
  const remembered = rememberedOptions(command)
  if (remembered.length > 0) {
    lines.push('', 'Not given, ' + remembered.map((name) => `--${name} comes from $${LOCATIONS[name].env}, else the profile's ${LOCATIONS[name].profileKey}`).join('; ') +
      ', else the default. `portcullis config` shows which is used (docs/cli.md).')
  }
  return lines.join('\n') + '\n'
}

export function required (value: string | undefined, flag: string, command: string): string {
  if (value === undefined || value === '') throw new PortcullisError('PORTCULLIS_USAGE', `${flag} is required`, command)
  return value
}
