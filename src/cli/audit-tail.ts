// `portcullis audit tail`: the latest records from the running daemon, and with --follow the new ones as they come.
import { createInterface } from 'node:readline'
import { adminRequest, answerError } from '../admin/client.js'
import type { AuditRecord } from '../audit/record.js'
import { tailFilterToParams, type TailFilter } from '../audit/tail-filter.js'
import { terminalSafeJson } from '../audit/terminal-text.js'
import { PortcullisError } from '../errors.js'
import { ADMIN_HELP, ADMIN_OPTION, AUDIT_REMEMBERS, auditEndpoint } from './audit-options.js'
import { formatRecord } from './audit-format.js'
import { defineCommand } from './command.js'
import { OUTPUT_OPTION, outputFormat, outputHelp } from './output.js'

export const auditTailCommand = defineCommand({
  name: 'audit tail',
  summary: 'Show the latest audit records from the running daemon; --follow keeps printing new ones. The plugin\'s own look-ups, the bridge\'s housekeeping calls and system.ping are hidden unless --all; the filters are applied by the daemon.',
  usage: 'audit tail [-n 20] [--follow] [--user NAME] [--decision allow|deny] [--action GLOB] [--all] [-o table|json] [--admin-socket PATH | --url URL [--token-file FILE]]',
  remembers: AUDIT_REMEMBERS,
  options: {
    ...ADMIN_OPTION,
    ...OUTPUT_OPTION,
    lines: { type: 'string', short: 'n', default: '20' },
    follow: { type: 'boolean', short: 'f', default: false },
    user: { type: 'string' },
    decision: { type: 'string' },
    action: { type: 'string' },
    all: { type: 'boolean', default: false }
  },
  help: {
    ...ADMIN_HELP,
    '-n, --lines N': 'how many recent records (default 20), counted after the filters',
    '-f, --follow': 'keep printing new records',
    '--user NAME': 'only records of this user',
    '--decision allow|deny': 'only allowed, or only denied, calls',
    '--action GLOB': 'only these actions; * matches any run of characters (\'container.*\')',
    '--all': 'also show the plugin\'s own look-ups (authMethod internal), the bridge\'s housekeeping and system.ping',
    ...outputHelp('one JSON record per line')
  },
  async run (values) {
    const format = outputFormat(values, 'audit tail')
    if (!/^\d+$/.test(values.lines)) throw new PortcullisError('PORTCULLIS_USAGE', '-n takes a whole number', 'audit tail')
    const decision = values.decision
    if (decision !== undefined && decision !== 'allow' && decision !== 'deny') throw new PortcullisError('PORTCULLIS_USAGE', '--decision takes allow or deny', 'audit tail')
    const filter: TailFilter = {
      ...(values.user !== undefined ? { user: values.user } : {}),
      ...(decision !== undefined ? { decision } : {}),
      ...(values.action !== undefined ? { action: values.action } : {}),
      all: values.all
    }
    const query = tailFilterToParams(filter)
    query.set('n', values.lines)
    query.set('follow', String(values.follow))
    const res = await adminRequest(auditEndpoint(values), 'GET', `/v1/audit/tail?${query.toString()}`)
    // A refusal (no peer, not an auditor, the store failing) is a coded error, never printed as if it were a record.
    if (res.statusCode !== 200) throw await answerError(res)
    const hidden = Number(res.headers['x-portcullis-hidden'] ?? 0)
    const lines = createInterface({ input: res, crlfDelay: Infinity })
    for await (const line of lines) {
      if (line === '') continue
      // The JSON stays the same JSON; only what a terminal would act on is spelled as an escape.
      process.stdout.write((format === 'json' ? terminalSafeJson(line) : formatRecord(JSON.parse(line) as AuditRecord)) + '\n')
    }
    // For a person: what was left out, and how to see it (the daemon counted it among the records it read back).
    if (process.stdout.isTTY && format === 'table' && hidden > 0) process.stdout.write(`(${hidden} own look-up, housekeeping or ping record(s) hidden among these; --all shows them)\n`)
    return 0
  }
})
