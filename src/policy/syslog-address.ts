// A syslog receiver's address as the policy writes it (alerts.syslog.address, outputs.syslog.address): checked when
// the policy is loaded, so a bad one is a policy problem rather than a sink that never connects.

import { hasPortcullisCode, PortcullisError } from '../errors.js'
import type { PolicyProblem } from './compile.js'

export type SyslogAddress = { transport: 'tcp', host: string, port: number } | { transport: 'unix', path: string }

/** `tcp:HOST:PORT` (HOST may be `[v6]`) or `unix:/absolute/path`; throws PORTCULLIS_SYSLOG_ADDRESS otherwise. */
export function parseSyslogAddress (text: string): SyslogAddress {
  if (text.startsWith('unix:/')) return { transport: 'unix', path: text.slice('unix:'.length) }
  const tcp = /^tcp:(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(text)
  if (tcp !== null && Number(tcp[2]) > 0 && Number(tcp[2]) < 65536) return { transport: 'tcp', host: tcp[1]!.replace(/^\[|\]$/g, ''), port: Number(tcp[2]) }
  throw new PortcullisError('PORTCULLIS_SYSLOG_ADDRESS', text)
}

/** A policy problem at `path` when `address` is not one parseSyslogAddress reads (alerts.syslog, outputs.syslog). */
export function checkSyslogAddress (address: string | undefined, path: string, problems: PolicyProblem[]): void {
  if (address === undefined) return
  try {
    parseSyslogAddress(address)
  } catch (err) {
    if (!hasPortcullisCode(err)) throw err
    problems.push({ path, message: err.message })
  }
}
