import { parseDuration } from '../identity/duration.js'
import { readKey, readTokenSettings } from '../identity/keys.js'
import { issueToken } from '../identity/tokens.js'
import { defineCommand, required } from './command.js'
import { DEFAULTS } from './defaults.js'

export const tokenIssueCommand = defineCommand({
  name: 'token issue',
  summary: 'Print a signed token for a user. They put it in their docker CLI config as the X-Portcullis-Token header.',
  usage: 'token issue --user NAME [--ttl 8h] [--keys DIR]',
  options: {
    user: { type: 'string' },
    ttl: { type: 'string', default: '8h' },
    keys: { type: 'string', default: DEFAULTS.keys }
  },
  help: {
    '--user NAME': 'who the token names (required)',
    '--ttl DURATION': 'how long it is valid: 30m, 8h, 7d (default 8h)',
    '--keys DIR': `the keys made by \`portcullis keys init\` (default ${DEFAULTS.keys})`
  },
  async run (values) {
    const user = required(values.user, '--user', 'token issue')
    const token = issueToken(readKey(values.keys, 'privateKey'), readTokenSettings(values.keys), user, parseDuration(values.ttl))
    process.stdout.write(token + '\n')
    if (process.stderr.isTTY) {
      process.stderr.write(`\nPut it in ~/.docker/config.json:\n  { "HttpHeaders": { "X-Portcullis-Token": "${token.slice(0, 12)}…" } }\n`)
    }
    return 0
  }
})
