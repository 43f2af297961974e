#!/usr/bin/env node
// portcullis: one binary, a few commands. Each command parses its own options and has its own --help.

import { hasPortcullisCode } from './errors.js'
import { visibleLines } from './audit/terminal-text.js'
import { runCommand, type Command, type Options } from './cli/command.js'
import { serveCommand } from './cli/serve.js'
import { checkCommand } from './cli/check.js'
import { keysInitCommand } from './cli/keys.js'
import { tokenIssueCommand } from './cli/token.js'
import { auditExportCommand } from './cli/audit-export-command.js'
import { auditReplayCommand } from './cli/audit-replay.js'
import { auditSessionsCommand } from './cli/audit-sessions.js'
import { auditTailCommand } from './cli/audit-tail.js'
import { auditVerifyCommand } from './cli/audit-verify.js'
import { auditCheckpointCommand, auditExpireCommand } from './cli/audit-checkpoints.js'
import { auditBundleCommand, auditVerifyBundleCommand } from './cli/audit-bundle.js'
import { policyKeygenCommand, policyPublishCommand, policyReloadCommand, policySchemaCommand, policyValidateCommand } from './cli/policy.js'
import { statusCommand } from './cli/status.js'
import { actionsCommand } from './cli/actions.js'
import { requestApproveCommand, requestCreateCommand, requestDenyCommand, requestListCommand, requestRevokeCommand } from './cli/request.js'
import { fleetExportCommand, fleetInitDbCommand, fleetStatusCommand, fleetVerifyCommand } from './cli/fleet.js'
import { fleetBundleCommand } from './cli/fleet-bundle.js'
import { VERSION } from './version.js'

const COMMANDS: Array<Command<Options>> = [
  serveCommand, checkCommand, keysInitCommand, tokenIssueCommand,
  auditTailCommand, auditExportCommand, auditVerifyCommand, auditSessionsCommand, auditReplayCommand,
  auditCheckpointCommand, auditExpireCommand,
  auditBundleCommand, auditVerifyBundleCommand,
  policyValidateCommand, policySchemaCommand, policyReloadCommand, policyKeygenCommand, policyPublishCommand, actionsCommand, statusCommand,
  requestCreateCommand, requestListCommand, requestApproveCommand, requestDenyCommand, requestRevokeCommand,
  fleetInitDbCommand, fleetStatusCommand, fleetVerifyCommand, fleetExportCommand, fleetBundleCommand
] as unknown as Array<Command<Options>>

function usage (): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2
  return [
    `portcullis ${VERSION}: Docker authorization by project role, with a tamper-evident audit trail.`,
    '',
    'Usage: portcullis COMMAND [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary.split('. ')[0]!.replace(/\.$/, '')}`),
    '',
    'Run `portcullis COMMAND --help` for its options.'
  ].join('\n') + '\n'
}

async function main (argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(usage())
    return 0
  }
  if (argv[0] === '--version' || argv[0] === 'version') {
    process.stdout.write(VERSION + '\n')
    return 0
  }
  // Two-word commands ("audit tail") first, then one-word ones.
  const command = COMMANDS.find((c) => c.name === `${argv[0]} ${argv[1] ?? ''}`) ?? COMMANDS.find((c) => c.name === argv[0])
  if (command === undefined) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `))
    process.stderr.write(group.length > 0
      ? `portcullis ${argv[0]}: say which one: ${group.map((c) => c.name).join(', ')}\n`
      : `portcullis: unknown command "${argv[0]}". Run \`portcullis --help\` for the list.\n`)
    return 2
  }
  return await runCommand(command, argv.slice(command.name.split(' ').length))
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
