import { adminJson } from '../admin/client.js'
import { terminalSafeJson } from '../audit/terminal-text.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'

export const statusCommand = defineCommand({
  name: 'status',
  summary: 'Show the running daemon: version, policy digest and load time, audit head and group-commit counters, the SSH bridge and its live sessions.',
  usage: 'status [--admin-socket PATH]',
  options: { 'admin-socket': { type: 'string', default: DEFAULTS.adminSocket } },
  help: { '--admin-socket PATH': `the daemon's admin socket (default ${DEFAULTS.adminSocket})` },
  async run (values) {
    const { body } = await adminJson<unknown>(values['admin-socket'], 'GET', '/v1/status')
    // The answer quotes the policy path and bridge errors: C1 and bidi characters become \u escapes.
    process.stdout.write(terminalSafeJson(JSON.stringify(body, null, 2)) + '\n')
    return 0
  }
})
