import { existsSync } from 'node:fs'
import { hostname, userInfo } from 'node:os'
import { adminJson } from '../admin/client.js'
import { hasPortcullisCode, PortcullisError } from '../errors.js'
import { readKey, readTokenSettings } from '../identity/keys.js'
import { issueToken } from '../identity/tokens.js'
import { durationText, parseDuration } from '../core/duration.js'
import { loadPolicyFile } from '../policy/source.js'
import { compileTokens } from '../policy/tokens.js'
import { defineCommand, required } from './command.js'
import { DEFAULTS } from './defaults.js'

export const tokenIssueCommand = defineCommand({
  name: 'token issue',
  summary: 'Print a signed token for a user. They put it in their docker CLI config as the X-Portcullis-Token header.',
  usage: 'token issue --user NAME [--ttl 8h] [--keys DIR] [--config FILE | --admin-socket PATH]',
  options: {
    user: { type: 'string' },
    ttl: { type: 'string', default: '8h' },
    keys: { type: 'string', default: DEFAULTS.keys },
    config: { type: 'string' },
    'admin-socket': { type: 'string' }
  },
  help: {
    '--user NAME': 'who the token names (required)',
    '--ttl DURATION': 'how long it is valid: 30m, 8h, 7d (default 8h; at most the policy\'s tokens.maxLifetime, 90d unless set)',
    '--keys DIR': `the keys made by \`portcullis keys init\` (default ${DEFAULTS.keys})`,
    '--config FILE': `the policy whose tokens.maxLifetime applies (default ${DEFAULTS.config} when it exists)`,
    '--admin-socket PATH': 'issue through the running daemon instead (its keys, its policy\'s cap), which records `token.issue` (user, token ID, expiry); without it the token is made offline from the key file and no record is written'
  },
  async run (values) {
    const user = required(values.user, '--user', 'token issue')
    const ttlMs = parseDuration(values.ttl)
    if (ttlMs === null || ttlMs <= 0) throw new PortcullisError('PORTCULLIS_TOKEN_TTL', JSON.stringify(values.ttl))
    const ttlSeconds = ttlMs / 1000
    const socket = values['admin-socket']
    if (socket !== undefined) {
      if (values.config !== undefined) throw new PortcullisError('PORTCULLIS_TOKEN_DAEMON_CONFIG', '--config')
      const query = new URLSearchParams({ user, ttl: String(Math.ceil(ttlSeconds)), requestedBy: requester() })
      const { body } = await adminJson<{ token: string }>(socket, 'POST', `/v1/tokens?${query.toString()}`)
      printToken(body.token)
      return 0
    }
    // The daemon refuses tokens valid for longer than the cap: issuing one would only hand out a dud.
    const { maxLifetimeMs, source } = tokenCap(values.config)
    if (ttlMs > maxLifetimeMs) throw new PortcullisError('PORTCULLIS_TOKEN_TTL_TOO_LONG', durationText(maxLifetimeMs), source, durationText(maxLifetimeMs))
    printToken(issueToken(readKey(values.keys, 'privateKey'), readTokenSettings(values.keys), user, ttlSeconds))
    return 0
  }
})

function printToken (token: string): void {
  process.stdout.write(token + '\n')
  if (process.stderr.isTTY) {
    process.stderr.write(`\nPut it in ~/.docker/config.json:\n  { "HttpHeaders": { "X-Portcullis-Token": "${token.slice(0, 12)}…" } }\n`)
  }
}

/** Who asks, as far as this process can tell: its login (and sudo's user) on this host. The daemon records it as claimed. */
function requester (): string {
  const sudo = process.env.SUDO_USER
  return `${userInfo().username}${sudo !== undefined && sudo !== '' ? ` (sudo from ${sudo})` : ''}@${hostname()}`
}

/** The policy's cap on token lifetimes: from --config, else the default policy file when there is one, else the
 * built-in default (what the daemon applies to a policy that does not set it). */
function tokenCap (config: string | undefined): { maxLifetimeMs: number, source: string } {
  const builtIn = { maxLifetimeMs: compileTokens(undefined).maxLifetimeMs, source: 'the default policy' }
  if (config !== undefined) return { maxLifetimeMs: loadPolicyFile(config).tokens.maxLifetimeMs, source: config }
  if (!existsSync(DEFAULTS.config)) return builtIn
  try {
    return { maxLifetimeMs: loadPolicyFile(DEFAULTS.config).tokens.maxLifetimeMs, source: DEFAULTS.config }
  } catch (err) {
    // Not asked for by name: a policy this user cannot read (or a broken one) must not stop a token being issued.
    process.stderr.write(`portcullis: warning: ${DEFAULTS.config} could not be read for tokens.maxLifetime (${hasPortcullisCode(err) ? err.code : 'error'}); the default cap applies. Pass --config FILE to use a policy.\n`)
    return builtIn
  }
}
