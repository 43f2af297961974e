import { existsSync } from 'node:fs'
import { hostname, userInfo } from 'node:os'
import { adminJson } from '../admin/client.js'
import { hasPortcullisCode, PortcullisError } from '../errors.js'
import { readKey, readTokenSettings } from '../identity/keys.js'
import { TOKEN_HEADER } from '../identity/resolve.js'
import { issueToken } from '../identity/tokens.js'
import { durationText, parseDuration } from '../core/duration.js'
import type { CompiledPolicy } from '../policy/compile.js'
import { loadPolicyFile } from '../policy/source.js'
import { compileTokens } from '../policy/tokens.js'
import { defineCommand, required } from './command.js'
import { DEFAULTS } from './defaults.js'
import { writeTokenHeader } from './docker-config.js'

export const tokenIssueCommand = defineCommand({
  name: 'token issue',
  summary: 'Issue a signed token for a user: print it, or with --docker-config write it into that docker CLI config as the X-Portcullis-Token header. Warns when the policy gives the user no role.',
  usage: 'token issue --user NAME [--ttl 8h] [--docker-config DIR] [--keys DIR] [--config FILE | --admin-socket PATH]',
  options: {
    user: { type: 'string' },
    ttl: { type: 'string', default: '8h' },
    keys: { type: 'string', default: DEFAULTS.keys },
    config: { type: 'string' },
    'admin-socket': { type: 'string' },
    'docker-config': { type: 'string' }
  },
  // Offline unless --admin-socket is typed; the docker config is the user's, never the issuer's remembered one.
  remembers: [],
  help: {
    '--user NAME': 'who the token names (required)',
    '--ttl DURATION': 'how long it is valid: 30m, 8h, 7d (default 8h; at most the policy\'s tokens.maxLifetime, 90d unless set)',
    '--keys DIR': `the keys made by \`portcullis keys init\` (default ${DEFAULTS.keys})`,
    '--config FILE': `the policy whose tokens.maxLifetime applies (default ${DEFAULTS.config} when it exists)`,
    '--admin-socket PATH': 'issue through the running daemon instead (its keys, its policy\'s cap), which records `token.issue` (user, token ID, expiry); without it the token is made offline from the key file and no record is written. Only the flag chooses this: $PORTCULLIS_ADMIN_SOCKET and the profile do not',
    '--docker-config DIR': 'write the token into DIR/config.json (the user\'s docker CLI config, e.g. /home/NAME/.docker) as the HttpHeaders X-Portcullis-Token entry, keeping every other key and header; makes DIR (0700) and the file (0600) when missing, keeps an existing file\'s owner, and prints the file, user and expiry instead of the token'
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
      const { body } = await adminJson<{ token: string, inPolicy?: boolean }>(socket, 'POST', `/v1/tokens?${query.toString()}`)
      if (body.inPolicy === false) warnNotInPolicy(user, 'the running daemon\'s policy')
      handOut(body.token, user, values['docker-config'])
      return 0
    }
    // The daemon refuses tokens valid for longer than the cap: issuing one would only hand out a dud.
    const { maxLifetimeMs, source, policy } = tokenCap(values.config)
    if (ttlMs > maxLifetimeMs) throw new PortcullisError('PORTCULLIS_TOKEN_TTL_TOO_LONG', durationText(maxLifetimeMs), source, durationText(maxLifetimeMs))
    if (policy !== undefined && policy.membershipsOf(user).length === 0) warnNotInPolicy(user, source)
    handOut(issueToken(readKey(values.keys, 'privateKey'), readTokenSettings(values.keys), user, ttlSeconds), user, values['docker-config'])
    return 0
  }
})

/** A token for a user the policy does not name is valid but gets every call refused: likely a typo in --user. */
function warnNotInPolicy (user: string, source: string): void {
  process.stderr.write(`portcullis: warning: ${user} is in no project and holds no global role in ${source}: every docker call with this token is denied until the policy names them or an elevation request is granted (check the spelling of --user).\n`)
}

/** Prints the token, or writes it into the docker CLI config and says where, for whom and until when (never the token). */
function handOut (token: string, user: string, dockerConfig: string | undefined): void {
  if (dockerConfig === undefined) {
    printToken(token)
    return
  }
  const { file, existed } = writeTokenHeader(dockerConfig, token)
  const { jti, exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string, exp: number }
  process.stdout.write(`Wrote the ${TOKEN_HEADER} header for ${user} into ${file} (${existed ? 'updated; its other keys kept' : 'new file, mode 0600'}).\n` +
    `Token ID ${jti}, valid until ${new Date(exp * 1000).toISOString()}. The docker CLI using that config sends it on every call; \`portcullis whoami --docker-config ${dockerConfig}\` shows it.\n`)
}

function printToken (token: string): void {
  process.stdout.write(token + '\n')
  if (process.stderr.isTTY) {
    process.stderr.write(`\nPut it in the user's ~/.docker/config.json:\n  { "HttpHeaders": { "X-Portcullis-Token": "${token.slice(0, 12)}…" } }\n` +
      'or let `portcullis token issue --docker-config DIR` write it there (other keys kept).\n')
  }
}

/** Who asks, as far as this process can tell: its login (and sudo's user) on this host. The daemon records it as claimed. */
function requester (): string {
  const sudo = process.env.SUDO_USER
  return `${userInfo().username}${sudo !== undefined && sudo !== '' ? ` (sudo from ${sudo})` : ''}@${hostname()}`
}

/** The policy's cap on token lifetimes: from --config, else the default policy file when there is one, else the
 * built-in default (what the daemon applies to a policy that does not set it). */
function tokenCap (config: string | undefined): { maxLifetimeMs: number, source: string, policy?: CompiledPolicy } {
  const builtIn = { maxLifetimeMs: compileTokens(undefined).maxLifetimeMs, source: 'the default policy' }
  if (config !== undefined) {
    const policy = loadPolicyFile(config)
    return { maxLifetimeMs: policy.tokens.maxLifetimeMs, source: config, policy }
  }
  if (!existsSync(DEFAULTS.config)) return builtIn
  try {
    const policy = loadPolicyFile(DEFAULTS.config)
    return { maxLifetimeMs: policy.tokens.maxLifetimeMs, source: DEFAULTS.config, policy }
  } catch (err) {
    // Not asked for by name: a policy this user cannot read (or a broken one) must not stop a token being issued.
    process.stderr.write(`portcullis: warning: ${DEFAULTS.config} could not be read for tokens.maxLifetime (${hasPortcullisCode(err) ? err.code : 'error'}); the default cap applies. Pass --config FILE to use a policy.\n`)
    return builtIn
  }
}
