#!/usr/bin/env node
// portcullis: one binary, a few commands. Each command parses its own options and has its own --help.

import { hasPortcullisCode } from './errors.js'
import { visibleLines } from './audit/terminal-text.js'
import { runCommand } from './cli/command.js'
import { COMMANDS } from './cli/commands.js'
import { VERSION } from './version.js'

async function usage (): Promise<string> {
  const commands = await Promise.all(COMMANDS.map(async (entry) => await entry.load()))
  const width = Math.max(...commands.map((c) => c.name.length)) + 2
  return [
    `portcullis ${VERSION}: Docker authorization by project role, with a tamper-evident audit trail.`,
    '',
    'Usage: portcullis COMMAND [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary.split('. ')[0]!.replace(/\.$/, '')}`),
    '',
    'Run `portcullis COMMAND --help` for its options.'
  ].join('\n') + '\n'
}

async function main (argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(await usage())
    return 0
  }
  if (argv[0] === '--version' || argv[0] === 'version') {
    process.stdout.write(VERSION + '\n')
    return 0
  }
  // Two-word commands ("audit tail") first, then one-word ones.
  const entry = COMMANDS.find((c) => c.name === `${argv[0]} ${argv[1] ?? ''}`) ?? COMMANDS.find((c) => c.name === argv[0])
  if (entry === undefined) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `))
    process.stderr.write(group.length > 0
      ? `portcullis ${argv[0]}: say which one: ${group.map((c) => c.name).join(', ')}\n`
      : `portcullis: unknown command "${argv[0]}". Run \`portcullis --help\` for the list.\n`)
    return 2
  }
  return await runCommand(await entry.load(), argv.slice(entry.name.split(' ').length))
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
  if (hasPortcullisCode(err)) {
    // Messages quote what users and servers sent (names, reasons, answers): nothing in them may drive the terminal.
    process.stderr.write(`portcullis: ${visibleLines(err.message)} [${err.code}]\n`)
  } else {
    process.stderr.write(`portcullis: unexpected error: ${visibleLines(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`)
  }
  process.exitCode = 2
})
