import { ensureAuditKey } from '../audit/signing-key.js'
import { ensureHostId } from '../fleet/host-identity.js'
import { ensureHostKey } from '../bridge/host-key.js'
import { DEFAULT_TOKEN_SETTINGS, initKeys, TOKEN_ALGORITHMS, type TokenAlgorithm } from '../identity/keys.js'
import { PortcullisError } from '../errors.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'

export const keysInitCommand = defineCommand({
  name: 'keys init',
  summary: 'Make the key pair that signs and verifies user tokens (with the issuer and audience tokens must carry), the SSH bridge host key and the audit checkpoint key.',
  usage: 'keys init [--keys DIR] [--algorithm ES256] [--issuer NAME] [--audience NAME]',
  options: {
    keys: { type: 'string', default: DEFAULTS.keys },
    algorithm: { type: 'string', default: DEFAULT_TOKEN_SETTINGS.algorithm },
    issuer: { type: 'string', default: DEFAULT_TOKEN_SETTINGS.issuer },
    audience: { type: 'string', default: DEFAULT_TOKEN_SETTINGS.audience }
  },
  help: {
    '--keys DIR': `where to write token.key (private, 0600), token.pub, token.json, ssh_host_ed25519_key and audit_ed25519.key/.pub and host-id (default ${DEFAULTS.keys})`,
    '--algorithm ALG': `${TOKEN_ALGORITHMS.join(', ')} (default ES256); verification is pinned to it`,
    '--issuer NAME': 'the iss every token must carry (default portcullis)',
    '--audience NAME': 'the aud every token must carry (default docker)'
  },
  async run (values) {
    if (!(TOKEN_ALGORITHMS as readonly string[]).includes(values.algorithm)) {
      throw new PortcullisError('PORTCULLIS_USAGE', `--algorithm must be one of ${TOKEN_ALGORITHMS.join(', ')}`, 'keys init')
    }
    const written = initKeys(values.keys, { algorithm: values.algorithm as TokenAlgorithm, issuer: values.issuer, audience: values.audience })
    process.stdout.write(`wrote ${written.privateKeyPath} and ${written.publicKeyPath}\n`)
    // An existing host key is kept: replacing it would break every user's known_hosts entry.
    const { key, created } = ensureHostKey(values.keys)
    process.stdout.write(`${created ? 'wrote' : 'kept'} the SSH bridge host key ${key.path} (${key.fingerprint})\n` +
      `users add this line to ~/.ssh/known_hosts (with your host name and port): [dockerhost]:2222 ${key.publicLine}\n`)
    // Kept too: checkpoints already signed are checked against it.
    const audit = ensureAuditKey(values.keys)
    process.stdout.write(`${audit.created ? 'wrote' : 'kept'} the audit checkpoint key ${audit.key.path} (key ID ${audit.key.keyId}); ` +
      'give audit_ed25519.pub to whoever reviews the audit trail\n')
    // Kept too: the host's history in a fleet database is filed under it.
    const host = ensureHostId(values.keys)
    process.stdout.write(`${host.created ? 'wrote' : 'kept'} the fleet host ID ${host.path} (${host.hostId})\n`)
    return 0
  }
})
