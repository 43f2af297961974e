// `portcullis request …`: ask for a role for a while, list requests, and decide them. Users reach the elevation
// API with their token; root on the host may use the admin socket and act for --as USER.

import { PortcullisError } from '../errors.js'
import { callElevation, dockerConfigPath, findToken, type ElevationEndpoint } from '../elevation/client.js'
import { DEFAULT_ELEVATION_LISTEN } from '../elevation/http-api.js'
import type { RequestView } from '../elevation/routes.js'
import { durationText } from '../core/duration.js'
import { terminalSafeJson, visible } from '../audit/terminal-text.js'
import { defineCommand, required } from './command.js'
import { DEFAULTS } from './defaults.js'
import { LocationResolver, type LocationOption } from './locations.js'
import { readTokenFile } from './token-file.js'
import { OUTPUT_OPTION, outputHelp, wantsJson } from './output.js'

const DEFAULT_URL = `http://${DEFAULT_ELEVATION_LISTEN}`

const CONNECTION = {
  url: { type: 'string', default: DEFAULT_URL },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'admin-socket': { type: 'string' },
  as: { type: 'string' },
  ...OUTPUT_OPTION
} as const

const CONNECTION_HELP = {
  '--url URL': `the elevation API of \`portcullis serve\` (default: $PORTCULLIS_URL, else the profile's url, else ${DEFAULT_URL})`,
  '--token TOKEN': 'your portcullis token (default: --token-file, $PORTCULLIS_TOKEN, else the X-Portcullis-Token in your docker CLI config: $DOCKER_CONFIG or the profile\'s dockerConfig, else ~/.docker)',
  '--token-file FILE': 'read your token from FILE (default: $PORTCULLIS_TOKEN_FILE, else the profile\'s tokenFile)',
  '--admin-socket PATH': `root on the host: go through the admin socket instead (with --as alone: $PORTCULLIS_ADMIN_SOCKET, the profile's adminSocket, else ${DEFAULTS.adminSocket})`,
  '--as USER': 'with the admin socket: act for this user (recorded as such)',
  ...outputHelp('print the answer as JSON')
}

/** A remembered URL and token file apply to every request command; a remembered admin socket never switches one to
 * the admin socket (that takes --admin-socket or --as on the command line). */
const REMEMBERS: readonly LocationOption[] = ['url', 'token-file']

interface ConnectionValues {
  url?: string
  token?: string
  'token-file'?: string
  'admin-socket'?: string
  as?: string
}

function endpointOf (values: ConnectionValues, resolver = new LocationResolver()): ElevationEndpoint {
  if (values['admin-socket'] !== undefined || values.as !== undefined) {
    return { kind: 'admin', socketPath: resolver.resolveWithDefault('admin-socket', values['admin-socket']).value!, as: values.as ?? null }
  }
  const env = { ...process.env, DOCKER_CONFIG: resolver.resolveWithDefault('docker-config', undefined).value }
  const token = findToken(values.token ?? (values['token-file'] !== undefined ? readTokenFile(values['token-file']) : undefined), env)
  if (token === null) throw new PortcullisError('PORTCULLIS_ELEVATION_NO_TOKEN', dockerConfigPath(env))
  return { kind: 'http', url: values.url ?? DEFAULT_URL, token }
}

export const requestCreateCommand = defineCommand({
  name: 'request create',
  summary: 'Ask for a role in a project for a while. An approver decides, unless the policy approves it at once.',
  usage: 'request create --project NAME --role ROLE --ttl DURATION --reason TEXT [--url URL] [--token TOKEN | --token-file FILE] [-o table|json]',
  options: {
    project: { type: 'string' },
    role: { type: 'string' },
    ttl: { type: 'string' },
    reason: { type: 'string' },
    ...CONNECTION
  },
  remembers: REMEMBERS,
  help: {
    '--project NAME': 'the project (required)',
    '--role ROLE': 'the role you need there (required); a refused docker command names the one to ask for',
    '--ttl DURATION': 'how long you need it once approved: 30m, 2h (required; the policy caps it)',
    '--reason TEXT': 'why: approvers and the audit trail read it (required)',
    ...CONNECTION_HELP
  },
  async run (values) {
    const name = 'request create'
    const input = {
      project: required(values.project, '--project', name),
      role: required(values.role, '--role', name),
      ttl: required(values.ttl, '--ttl', name),
      reason: required(values.reason, '--reason', name)
    }
    const { body } = await callElevation(endpointOf(values), 'POST', '/requests', input)
    const request = shownRequest(body as RequestView)
    if (wantsJson(values, 'request create')) return printJson(body)
    if (request.state === 'approved' && request.grant !== undefined) {
      process.stdout.write(`Granted at once: ${request.user} is ${request.role} in ${request.project} until ${iso(request.grant.expiresAt)} ` +
        `(grant ${request.grant.id}, request ${request.id}).\nYour docker commands use it now; \`portcullis request revoke ${request.id}\` ends it early.\n`)
    } else {
      process.stdout.write(`Request ${request.id} is pending: ${request.role} in ${request.project} for ${durationText(request.ttlMs)}.\n` +
        `An approver of ${request.project} decides it (\`portcullis request approve ${request.id}\`); unless someone does, it expires at ${iso(request.pendingUntil)}.\n` +
        `See where it stands: portcullis request list\n`)
    }
    return 0
  }
})

export const requestListCommand = defineCommand({
  name: 'request list',
  summary: 'List your elevation requests, and those you may decide (pending) or revoke (active) in projects you approve.',
  usage: 'request list [--url URL] [--token TOKEN | --token-file FILE] [-o table|json]',
  options: { ...CONNECTION },
  remembers: REMEMBERS,
  help: { ...CONNECTION_HELP },
  async run (values) {
    const { body } = await callElevation(endpointOf(values), 'GET', '/requests')
    const requests = (body as { requests: RequestView[] }).requests
    if (wantsJson(values, 'request list')) return printJson(requests)
    process.stdout.write(formatRequestTable(requests))
    return 0
  }
})

export const requestApproveCommand = defineCommand({
  name: 'request approve',
  summary: 'Approve a pending request in a project you approve; the grant starts now. Your own requests need another approver.',
  usage: 'request approve ID [--reason TEXT] [--url URL] [--token TOKEN | --token-file FILE] [-o table|json]',
  options: { reason: { type: 'string' }, ...CONNECTION },
  remembers: REMEMBERS,
  help: { '--reason TEXT': 'a note for the requester and the audit trail', ...CONNECTION_HELP },
  async run (values, positionals) {
    const id = required(positionals[0], 'the request ID', 'request approve')
    const { body } = await callElevation(endpointOf(values), 'POST', `/requests/${encodeURIComponent(id)}/approve`, reasonBody(values.reason))
    const request = shownRequest(body as RequestView)
    if (wantsJson(values, 'request approve')) return printJson(body)
    process.stdout.write(`Approved ${request.id}: ${request.user} is ${request.role} in ${request.project} until ${iso(request.grant!.expiresAt)} (grant ${request.grant!.id}).\n`)
    return 0
  }
})

export const requestDenyCommand = defineCommand({
  name: 'request deny',
  summary: 'Deny a pending request in a project you approve, saying why.',
  usage: 'request deny ID --reason TEXT [--url URL] [--token TOKEN | --token-file FILE] [-o table|json]',
  options: { reason: { type: 'string' }, ...CONNECTION },
  remembers: REMEMBERS,
  help: { '--reason TEXT': 'why (required): the requester reads it', ...CONNECTION_HELP },
  async run (values, positionals) {
    const id = required(positionals[0], 'the request ID', 'request deny')
    const reason = required(values.reason, '--reason', 'request deny')
    const { body } = await callElevation(endpointOf(values), 'POST', `/requests/${encodeURIComponent(id)}/deny`, { reason })
    const request = shownRequest(body as RequestView)
    if (wantsJson(values, 'request deny')) return printJson(body)
    process.stdout.write(`Denied ${request.id} (${request.role} in ${request.project} for ${request.user}).\n`)
    return 0
  }
})

export const requestRevokeCommand = defineCommand({
  name: 'request revoke',
  summary: 'Withdraw a pending request, or end a grant early: your own, or any in a project you approve.',
  usage: 'request revoke ID [--reason TEXT] [--url URL] [--token TOKEN | --token-file FILE] [-o table|json]',
  options: { reason: { type: 'string' }, ...CONNECTION },
  remembers: REMEMBERS,
  help: { '--reason TEXT': 'a note for the audit trail', ...CONNECTION_HELP },
  async run (values, positionals) {
    const id = required(positionals[0], 'the request ID', 'request revoke')
    const { body } = await callElevation(endpointOf(values), 'POST', `/requests/${encodeURIComponent(id)}/revoke`, reasonBody(values.reason))
    const request = shownRequest(body as RequestView)
    if (wantsJson(values, 'request revoke')) return printJson(body)
    process.stdout.write(request.grant !== undefined
      ? `Revoked grant ${request.grant.id}: ${request.user} is no longer ${request.role} in ${request.project} by this request.\n`
      : `Withdrew ${request.id} (${request.role} in ${request.project}) before it was decided.\n`)
    return 0
  }
})

/** What `request list` prints: one line per request, newest first. */
export function formatRequestTable (requests: readonly RequestView[]): string {
  if (requests.length === 0) return 'No elevation requests. Ask for a role with: portcullis request create --project P --role R --ttl 2h --reason "…"\n'
  const rows = requests.map(shownRequest).map((r) => [
    r.id,
    stateText(r),
    r.user,
    r.project,
    r.role,
    durationText(r.ttlMs),
    r.state === 'pending' ? iso(r.pendingUntil) : r.active && r.grant !== undefined ? iso(r.grant.expiresAt) : '-',
    r.reason
  ])
  const header = ['ID', 'STATE', 'USER', 'PROJECT', 'ROLE', 'TTL', 'UNTIL', 'REASON']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]): string => cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

/** `active` and `ended` say more than `approved` about a grant. */
function stateText (request: RequestView): string {
  if (request.state !== 'approved') return request.state
  return request.active ? 'active' : 'ended'
}

function reasonBody (reason: string | undefined): { reason?: string } {
  return reason !== undefined ? { reason } : {}
}

/** The request with every string a user chose (their name, the reason) escaped for a terminal line. */
function shownRequest (request: RequestView): RequestView {
  const text = (value: string | undefined): string | undefined => value === undefined ? undefined : visible(value.replace(/[ \t\r\n]+/g, ' '))
  return {
    ...request,
    id: visible(request.id),
    user: text(request.user)!,
    project: text(request.project)!,
    role: text(request.role)!,
    reason: text(request.reason)!,
    ...(request.decidedBy !== undefined ? { decidedBy: text(request.decidedBy)! } : {}),
    ...(request.grant !== undefined ? { grant: { ...request.grant, id: visible(request.grant.id) } } : {})
  }
}

function printJson (value: unknown): number {
  process.stdout.write(terminalSafeJson(JSON.stringify(value, null, 2)) + '\n')
  return 0
}

function iso (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}
