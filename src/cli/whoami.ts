// `portcullis whoami`: the user side. Which portcullis token this docker CLI config sends, read locally: the user,
// token ID and expiry in it (never the token), and how to get a new one. The signature is not checked here: the
// daemon does that on every call; this only reads what the token claims.

import { join } from 'node:path'
import { terminalSafeJson, visible } from '../audit/terminal-text.js'
import { findToken } from '../elevation/client.js'
import { TOKEN_HEADER } from '../identity/resolve.js'
import { defineCommand } from './command.js'
import { LOCATIONS } from './locations.js'
import { OUTPUT_OPTION, outputHelp, wantsJson } from './output.js'

interface Claims { user: string, tokenId: string | null, issuedAt: string | null, expiresAt: string | null, expired: boolean }

export const whoamiCommand = defineCommand({
  name: 'whoami',
  summary: 'Show the portcullis token your docker CLI sends (its user, token ID and expiry, read locally; never the token) and how to get a new one. Exits 1 when there is none or it has expired.',
  usage: 'whoami [--docker-config DIR] [-o table|json]',
  options: {
    'docker-config': { type: 'string', default: LOCATIONS['docker-config'].fallback() },
    ...OUTPUT_OPTION
  },
  help: {
    '--docker-config DIR': 'the docker CLI config directory to read (default: $DOCKER_CONFIG, else the profile\'s dockerConfig, else ~/.docker)',
    ...outputHelp('the config file and the token\'s claims')
  },
  async run (values) {
    const file = join(values['docker-config'], 'config.json')
    // The header the docker CLI sends, matched as the plugin matches it (any case); no $PORTCULLIS_TOKEN here.
    const token = findToken(undefined, { DOCKER_CONFIG: values['docker-config'] })
    const claims = token === null ? null : claimsOf(token)
    if (wantsJson(values, 'whoami')) {
      process.stdout.write(terminalSafeJson(JSON.stringify({ file, token: claims }, null, 2)) + '\n')
    } else if (claims === null) {
      process.stdout.write(`No portcullis token in ${file} (${token === null ? `no ${TOKEN_HEADER} header` : 'the header is not a token'}).\n${newTokenHint(values['docker-config'], 'YOU')}`)
    } else {
      const left = claims.expiresAt === null ? '' : claims.expired ? ' (expired)' : ` (${timeLeft(Date.parse(claims.expiresAt) - Date.now())} left)`
      process.stdout.write(`${visible(claims.user)}, token ID ${visible(claims.tokenId ?? '?')}, valid until ${claims.expiresAt ?? '?'}${left}; sent by the docker CLI from ${file}.\n` +
        (claims.expired ? newTokenHint(values['docker-config'], claims.user) : ''))
    }
    return claims === null || claims.expired ? 1 : 0
  }
})

function newTokenHint (dir: string, user: string): string {
  return `Ask your portcullis administrator for a new one: \`portcullis token issue --user ${visible(user)} --docker-config ${dir}\` (run where the keys are).\n`
}

function claimsOf (token: string): Claims | null {
  let payload: { sub?: unknown, jti?: unknown, iat?: unknown, exp?: unknown }
  try {
    payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
  } catch {
    return null
  }
  if (payload === null || typeof payload !== 'object' || typeof payload.sub !== 'string') return null
  const time = (seconds: unknown): string | null => typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : null
  const expiresAt = time(payload.exp)
  return { user: payload.sub, tokenId: typeof payload.jti === 'string' ? payload.jti : null, issuedAt: time(payload.iat), expiresAt, expired: expiresAt !== null && Date.parse(expiresAt) <= Date.now() }
}

/** `7h 59m`, `3d 4h`, `12m`: enough to plan by. */
function timeLeft (ms: number): string {
  const minutes = Math.floor(ms / 60_000)
  const [d, h, m] = [Math.floor(minutes / 1440), Math.floor(minutes / 60) % 24, minutes % 60]
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m`
}
