#!/usr/bin/env node
// portcullis: one binary, a few commands. Each command parses its own options and has its own --help.

import { hasPortcullisCode } from './errors.js'
import { visibleLines } from './audit/terminal-text.js'
import { runCommand } from './cli/command.js'
import { COMMANDS } from './cli/commands.js'
import { commandList, groupUsage, route } from './cli/router.js'
import { VERSION } from './version.js'

async function usage (): Promise<string> {
  return [
    `portcullis ${VERSION}: Docker authorization by project role, with a tamper-evident audit trail.`,
    '',
    'Usage: portcullis COMMAND [options]',
    '',
    'Commands:',
    ...await commandList(COMMANDS),
    '',
    'Run `portcullis COMMAND --help` for its options.'
  ].join('\n') + '\n'
}

async function main (argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || (argv[0] === 'help' && argv.length === 1)) {
    process.stdout.write(await usage())
    return 0
  }
  if (argv[0] === '--version' || argv[0] === 'version') {
    process.stdout.write(VERSION + '\n')
    return 0
  }
  const found = route(COMMANDS, argv[0] === 'help' ? argv.slice(1).concat('--help') : argv)
  if (found.kind === 'group') {
    // Like git: asked for, the group's commands on stdout and 0; a group named alone is a usage error (2).
    const text = await groupUsage(COMMANDS, found.group)
    ;(found.help ? process.stdout : process.stderr).write(text)
    return found.help ? 0 : 2
  }
  return await runCommand(await found.entry.load(), found.rest)
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
