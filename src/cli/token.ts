import { existsSync } from 'node:fs'
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
  usage: 'token issue --user NAME [--ttl 8h] [--keys DIR] [--config FILE]',
  options: {
    user: { type: 'string' },
    ttl: { type: 'string', default: '8h' },
    keys: { type: 'string', default: DEFAULTS.keys },
    config: { type: 'string' }
  },
  help: {
    '--user NAME': 'who the token names (required)',
    '--ttl DURATION': 'how long it is valid: 30m, 8h, 7d (default 8h; at most the policy\'s tokens.maxLifetime, 90d unless set)',
    '--keys DIR': `the keys made by \`portcullis keys init\` (default ${DEFAULTS.keys})`,
    '--config FILE': `the policy whose tokens.maxLifetime applies (default ${DEFAULTS.config} when it exists)`
  },
  async run (values) {
    const user = required(values.user, '--user', 'token issue')
    const ttlMs = parseDuration(values.ttl)
    if (ttlMs === null || ttlMs <= 0) throw new PortcullisError('PORTCULLIS_TOKEN_TTL', JSON.stringify(values.ttl))
    const ttlSeconds = ttlMs / 1000
    // The daemon refuses tokens valid for longer than the cap: issuing one would only hand out a dud.
    const { maxLifetimeMs, source } = tokenCap(values.config)
    if (ttlMs > maxLifetimeMs) throw new PortcullisError('PORTCULLIS_TOKEN_TTL_TOO_LONG', durationText(maxLifetimeMs), source, durationText(maxLifetimeMs))
    const token = issueToken(readKey(values.keys, 'privateKey'), readTokenSettings(values.keys), user, ttlSeconds)
    process.stdout.write(token + '\n')
    if (process.stderr.isTTY) {
      process.stderr.write(`\nPut it in ~/.docker/config.json:\n  { "HttpHeaders": { "X-Portcullis-Token": "${token.slice(0, 12)}…" } }\n`)
    }
    return 0
  }
})

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
