// A syslog receiver's address as the policy writes it (alerts.syslog.address, outputs.syslog.address): checked when
// the policy is loaded, so a bad one is a policy problem rather than a sink that never connects.

import { hasPortcullisCode, PortcullisError } from '../errors.js'
import type { PolicyProblem } from './compile.js'

export type SyslogAddress = { transport: 'tcp', host: string, port: number } | { transport: 'unix', path: string }
/** What outputs.syslog.address may also be: a RELP receiver (rsyslog's imrelp), which acknowledges every message. */
export type OutputAddress = SyslogAddress | { transport: 'relp', host: string, port: number }

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/

/** `tcp:HOST:PORT` (HOST may be `[v6]`) or `unix:/absolute/path`; throws PORTCULLIS_SYSLOG_ADDRESS otherwise
 * (PORTCULLIS_SYSLOG_ADDRESS_RELP for a `relp:` one: only the SIEM output speaks RELP). */
export function parseSyslogAddress (text: string): SyslogAddress {
  if (text.startsWith('unix:/')) return { transport: 'unix', path: text.slice('unix:'.length) }
  if (text.startsWith('tcp:')) {
    const hostPort = parseHostPort(text.slice('tcp:'.length))
    if (hostPort !== null) return { transport: 'tcp', ...hostPort }
  }
  if (text.startsWith('relp:') && parseHostPort(text.slice('relp:'.length)) !== null) throw new PortcullisError('PORTCULLIS_SYSLOG_ADDRESS_RELP', text)
  throw new PortcullisError('PORTCULLIS_SYSLOG_ADDRESS', text)
}

/** outputs.syslog.address: what parseSyslogAddress reads, or `relp:HOST:PORT` (TCP only). */
export function parseOutputAddress (text: string): OutputAddress {
  if (!text.startsWith('relp:')) return parseSyslogAddress(text)
  const hostPort = parseHostPort(text.slice('relp:'.length))
  if (hostPort === null) throw new PortcullisError('PORTCULLIS_SYSLOG_ADDRESS', text)
  return { transport: 'relp', ...hostPort }
}

function parseHostPort (text: string): { host: string, port: number } | null {
  const match = HOST_PORT.exec(text)
  if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65535) return null
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) }
}

/** A policy problem at `path` when `address` is not one `parse` reads (parseSyslogAddress for alerts.syslog,
 * parseOutputAddress for outputs.syslog). */
export function checkSyslogAddress (address: string | undefined, path: string, problems: PolicyProblem[], parse: (text: string) => unknown = parseSyslogAddress): void {
  if (address === undefined) return
  try {
    parse(address)
  } catch (err) {
    if (!hasPortcullisCode(err)) throw err
    problems.push({ path, message: err.message })
  }
}
