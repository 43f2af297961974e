// `portcullis audit sessions`: the recorded SSH sessions, newest first.
import type { ListSessionsOptions } from '../audit/sessions.js'
import { terminalSafeJson } from '../audit/terminal-text.js'
import { PortcullisError } from '../errors.js'
import { formatSessionTable } from './audit-format.js'
import { withAuditAccess } from './audit-access.js'
import { ADMIN_HELP, ADMIN_OPTION, AUDIT_REMEMBERS, DATA_HELP } from './audit-options.js'
import { defineCommand } from './command.js'
import { OUTPUT_OPTION, outputHelp, wantsJson } from './output.js'

export const auditSessionsCommand = defineCommand({
  name: 'audit sessions',
  summary: 'List recorded SSH sessions, newest first: who, where, what ran, how long, how it ended.',
  usage: 'audit sessions [-n 50] [--user USER] [--container NAME] [-o table|json] [--admin-socket PATH | --url URL [--token-file FILE] | --data DIR]',
  remembers: AUDIT_REMEMBERS,
  options: { ...ADMIN_OPTION, data: { type: 'string' }, lines: { type: 'string', short: 'n', default: '50' }, user: { type: 'string' }, container: { type: 'string' }, ...OUTPUT_OPTION },
  help: {
    ...ADMIN_HELP,
    ...DATA_HELP,
    '-n, --lines N': 'how many sessions (default 50)',
    '--user USER': 'only this user\'s sessions',
    '--container NAME': 'only sessions in this container (its name, or an ID of 12 digits or more)',
    ...outputHelp('print the sessions as a JSON array')
  },
  async run (values) {
    if (!/^\d+$/.test(values.lines)) throw new PortcullisError('PORTCULLIS_USAGE', '-n takes a whole number', 'audit sessions')
    const options: ListSessionsOptions = { limit: Number(values.lines) }
    if (values.user !== undefined) options.user = values.user
    if (values.container !== undefined) options.container = values.container
    const sessions = await withAuditAccess(values, async (access) => await access.sessions(options))
    if (wantsJson(values, 'audit sessions')) process.stdout.write(terminalSafeJson(JSON.stringify(sessions, null, 2)) + '\n')
    else process.stdout.write(sessions.length === 0 ? 'No sessions recorded' + (values.user !== undefined || values.container !== undefined ? ' that match.\n' : '.\n') : formatSessionTable(sessions))
    return 0
  }
})
