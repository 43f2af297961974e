// The CLI's commands in the order `portcullis --help` lists them, each loaded only when it runs. A run needs one
// command, and loading every command's module (serve's above all) would cost each run, `audit tail` as much as
// `serve`, most of its start-up time.
import type { Command, Options } from './command.js'

export interface CommandEntry {
  readonly name: string
  readonly load: () => Promise<Command<Options>>
}

function entry<O extends Options> (name: string, load: () => Promise<Command<O>>): CommandEntry {
  return { name, load: load as unknown as () => Promise<Command<Options>> }
}

export const COMMANDS: readonly CommandEntry[] = [
  entry('serve', async () => (await import('./serve.js')).serveCommand),
  entry('check', async () => (await import('./check.js')).checkCommand),
  entry('keys init', async () => (await import('./keys.js')).keysInitCommand),
  entry('token issue', async () => (await import('./token.js')).tokenIssueCommand),
  entry('whoami', async () => (await import('./whoami.js')).whoamiCommand),
  entry('audit tail', async () => (await import('./audit-tail.js')).auditTailCommand),
  entry('audit export', async () => (await import('./audit-export-command.js')).auditExportCommand),
  entry('audit verify', async () => (await import('./audit-verify.js')).auditVerifyCommand),
  entry('audit sessions', async () => (await import('./audit-sessions.js')).auditSessionsCommand),
  entry('audit replay', async () => (await import('./audit-replay.js')).auditReplayCommand),
  entry('audit checkpoint', async () => (await import('./audit-checkpoints.js')).auditCheckpointCommand),
  entry('audit expire', async () => (await import('./audit-checkpoints.js')).auditExpireCommand),
  entry('audit bundle', async () => (await import('./audit-bundle.js')).auditBundleCommand),
  entry('audit verify-bundle', async () => (await import('./audit-bundle.js')).auditVerifyBundleCommand),
  entry('audit verify-files', async () => (await import('./audit-verify-files.js')).auditVerifyFilesCommand),
  entry('policy validate', async () => (await import('./policy.js')).policyValidateCommand),
  entry('policy schema', async () => (await import('./policy.js')).policySchemaCommand),
  entry('policy diff', async () => (await import('./policy.js')).policyDiffCommand),
  entry('policy reload', async () => (await import('./policy.js')).policyReloadCommand),
  entry('policy keygen', async () => (await import('./policy.js')).policyKeygenCommand),
  entry('policy publish', async () => (await import('./policy.js')).policyPublishCommand),
  entry('actions', async () => (await import('./actions.js')).actionsCommand),
  entry('status', async () => (await import('./status.js')).statusCommand),
  entry('config', async () => (await import('./config.js')).configCommand),
  entry('request create', async () => (await import('./request.js')).requestCreateCommand),
  entry('request list', async () => (await import('./request.js')).requestListCommand),
  entry('request approve', async () => (await import('./request.js')).requestApproveCommand),
  entry('request deny', async () => (await import('./request.js')).requestDenyCommand),
  entry('request revoke', async () => (await import('./request.js')).requestRevokeCommand),
  entry('fleet init-db', async () => (await import('./fleet.js')).fleetInitDbCommand),
  entry('fleet status', async () => (await import('./fleet.js')).fleetStatusCommand),
  entry('fleet verify', async () => (await import('./fleet.js')).fleetVerifyCommand),
  entry('fleet export', async () => (await import('./fleet.js')).fleetExportCommand),
  entry('fleet bundle', async () => (await import('./fleet-bundle.js')).fleetBundleCommand)
]
