import { PortcullisError } from '../errors.js'
import { visible, visibleLines } from '../audit/terminal-text.js'
import { imageRuleWarnings } from '../core/image-rules.js'
import { auditorDutyWarnings, shadowedAllowWarnings } from '../policy/warnings.js'
import { POLICY_SCHEMA } from '../policy/schema.js'
import type { CompiledPolicy } from '../policy/compile.js'
import { describeChange, diffPolicies, summarizeChanges, type PolicyChange } from '../policy/policy-diff.js'
import { compilePolicyBytes, loadPolicyFile } from '../policy/source.js'
import { makePolicyKeys, policySha256, readPolicySigningKey, signPolicy } from '../policy/signed.js'
import { checkSchema, connectFleet, fleetError, fleetTarget, PASSWORD_ENV } from '../fleet/connection.js'
import { publishPolicyRevision } from '../fleet/policy-revisions.js'
import { PUBLISHER_ROLE } from '../fleet/schema.js'
import { readFileSync } from 'node:fs'
import { hostname, userInfo } from 'node:os'
import { KNOWN_ACTIONS } from '../routes/table.js'
import { adminJson } from '../admin/client.js'
import { defineCommand, required } from './command.js'
import { DEFAULTS } from './defaults.js'
import { OUTPUT_OPTION, outputHelp, wantsJson } from './output.js'

export const policyValidateCommand = defineCommand({
  name: 'policy validate',
  summary: 'Check a policy file: JSON syntax (line:column), schema, role references, action patterns, all problems in one run, ' +
    'with "did you mean" for misspelt names. Warns about allow patterns a deny takes away. Exit 1 when invalid.',
  usage: 'policy validate [FILE | --config FILE]',
  options: { config: { type: 'string' } },
  help: { FILE: `the policy to check (default ${DEFAULTS.config})`, '--config FILE': 'the same, as an option' },
  async run (values, positionals) {
    const file = policyFileOf(values.config, positionals)
    let policy
    try {
      policy = loadPolicyFile(file, KNOWN_ACTIONS)
    } catch (err) {
      // The problems are the answer, not a failure of the command: print them plainly, exit 1.
      if (!(err instanceof PortcullisError) || (err.code !== 'PORTCULLIS_POLICY_INVALID' && err.code !== 'PORTCULLIS_POLICY_READ')) throw err
      // The problems quote the policy (names, key options, misspelt fields): nothing in it may drive the terminal.
      process.stderr.write(`portcullis: ${visibleLines(err.message)} [${err.code}]\n`)
      return 1
    }
    const warnings = printWarnings(policy)
    process.stdout.write(`${visible(file)}: valid (${policy.roles.size} roles, ${policy.projects.size} projects, sha256 ${policy.digest.slice(0, 12)})` +
      `${warnings.length > 0 ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : ''}\n`)
    return 0
  }
})

/** The warnings `policy validate` prints (stderr); returns them. */
function printWarnings (policy: CompiledPolicy): string[] {
  const warnings = [
    ...[...shadowedAllowWarnings(policy, KNOWN_ACTIONS), ...auditorDutyWarnings(policy)].map((w) => `${w.path}: ${w.message}`),
    ...imageRuleWarnings(policy.document.projects)
  ]
  for (const warning of warnings) process.stderr.write(`warning: ${visible(warning)}\n`)
  return warnings
}

/** FILE or --config FILE (not two different ones), else the default path. */
function policyFileOf (option: string | undefined, positionals: string[]): string {
  if (positionals.length > 1) throw new PortcullisError('PORTCULLIS_USAGE', `one policy file at a time, not ${positionals.length}`, 'policy validate')
  const [file] = positionals
  if (file !== undefined && option !== undefined && file !== option) {
    throw new PortcullisError('PORTCULLIS_USAGE', `two files given (${file} and --config ${option}); pass one`, 'policy validate')
  }
  return file ?? option ?? DEFAULTS.config
}

export const policySchemaCommand = defineCommand({
  name: 'policy schema',
  summary: 'Print the policy\'s JSON Schema (for editors and CI checks).',
  usage: 'policy schema',
  options: {},
  help: {},
  async run () {
    process.stdout.write(JSON.stringify(POLICY_SCHEMA, null, 2) + '\n')
    return 0
  }
})

export const policyReloadCommand = defineCommand({
  name: 'policy reload',
  summary: 'Ask the running daemon to reload its policy now (it also reloads on file change and SIGHUP).',
  usage: 'policy reload [--admin-socket PATH]',
  options: { 'admin-socket': { type: 'string', default: DEFAULTS.adminSocket } },
  help: { '--admin-socket PATH': `the daemon's admin socket (default ${DEFAULTS.adminSocket})` },
  async run (values) {
    const { status, body } = await adminJson<{ ok: boolean, error?: string, digest: string, changes?: PolicyChange[] }>(values['admin-socket'], 'POST', '/v1/policy/reload', [200, 422])
    // A fleet host answers before the newest revision is fetched: it has no changes to tell yet.
    const changes = body.changes === undefined ? '' : `: ${summarizeChanges(body.changes)}`
    if (status === 200) process.stdout.write(`policy reloaded (sha256 ${body.digest.slice(0, 12)})${visible(changes)}\n`)
    else process.stderr.write(`policy refused, the daemon keeps the last good one:\n${visibleLines(body.error ?? '')}\n`)
    return status === 200 ? 0 : 1
  }
})

export const policyDiffCommand = defineCommand({
  name: 'policy diff',
  summary: 'Print what changed from one policy file to another, as the `policy.reload` record lists it: members added, removed or moved, ' +
    'role patterns and rules, projects, SSH keys (fingerprints), elevation rules, every other setting by its path. Exit 0 when equal, 1 when they differ, 2 when a file is invalid.',
  usage: 'policy diff [-o table|json] OLD NEW',
  options: { ...OUTPUT_OPTION },
  help: { OLD: 'the policy before', NEW: 'the policy after', ...outputHelp('print the changes as a JSON array (one object per change)') },
  async run (values, positionals) {
    if (positionals.length !== 2) throw new PortcullisError('PORTCULLIS_USAGE', `give two policy files, OLD and NEW, not ${positionals.length}`, 'policy diff')
    const [before, after] = positionals.map((file) => loadPolicyFile(file, KNOWN_ACTIONS))
    const changes = diffPolicies(before!.document, after!.document)
    if (wantsJson(values, 'policy diff')) process.stdout.write(JSON.stringify(changes) + '\n')
    else if (changes.length === 0) process.stdout.write('no change\n')
    else {
      // The policy's names and values reach the terminal: nothing in them may drive it.
      for (const change of changes) process.stdout.write(`${visible(describeChange(change))}\n`)
      process.stdout.write(`${summarizeChanges(changes)}\n`)
    }
    return changes.length === 0 ? 0 : 1
  }
})

export const policyKeygenCommand = defineCommand({
  name: 'policy keygen',
  summary: 'Make the Ed25519 key pair that signs the fleet\'s policy revisions (separate from the audit key): publishers sign with policy_ed25519.key, every host pins policy_ed25519.pub (serve --policy-key).',
  usage: 'policy keygen --out DIR',
  options: { out: { type: 'string' } },
  help: { '--out DIR': 'where to write policy_ed25519.key (private, 0600) and policy_ed25519.pub; an existing pair is never overwritten' },
  async run (values) {
    const made = makePolicyKeys(required(values.out, '--out', 'policy keygen'))
    process.stdout.write(`wrote ${visible(made.privatePath)} (keep it with whoever publishes the policy) and ${visible(made.publicPath)} (key ID ${made.keyId}); ` +
      'pin the public key on every host: serve --policy-from fleet --policy-key policy_ed25519.pub\n')
    return 0
  }
})

export const policyPublishCommand = defineCommand({
  name: 'policy publish',
  summary: 'Validate a policy as `policy validate` does, sign its exact bytes with the policy key and store it in the fleet database as the next revision; hosts with --policy-from fleet apply it within seconds. Exit 1 when the policy is invalid.',
  usage: 'policy publish --fleet URL [--fleet-password-file FILE] --key FILE [--publisher NAME] [--rollback] FILE',
  options: {
    fleet: { type: 'string' },
    'fleet-password-file': { type: 'string' },
    key: { type: 'string' },
    publisher: { type: 'string' },
    rollback: { type: 'boolean', default: false },
    ...OUTPUT_OPTION
  },
  help: {
    FILE: 'the policy to publish, byte for byte',
    '--fleet URL': `the fleet database, postgresql://USER@HOST:PORT/DATABASE (USER a member of ${PUBLISHER_ROLE}; no password in it)`,
    '--fleet-password-file FILE': `the password of USER (default $${PASSWORD_ENV}, else none)`,
    '--key FILE': 'the policy-signing private key (policy_ed25519.key from `portcullis policy keygen`)',
    '--publisher NAME': 'who publishes, signed into the revision and recorded by every host (default USER@HOSTNAME)',
    '--rollback': 'hosts apply this revision even when it is not newer than the one they run (a database restored from an older backup); signed into the revision',
    ...outputHelp('print the revision as JSON')
  },
  async run (values, positionals) {
    if (positionals.length !== 1) throw new PortcullisError('PORTCULLIS_USAGE', `give one policy file, not ${positionals.length}`, 'policy publish')
    const file = positionals[0]!
    const key = readPolicySigningKey(required(values.key, '--key', 'policy publish'))
    const target = fleetTarget(required(values.fleet, '--fleet', 'policy publish'), values['fleet-password-file'])
    let bytes: Buffer
    try {
      bytes = readFileSync(file)
    } catch (err) {
      throw new PortcullisError('PORTCULLIS_POLICY_READ', file, (err as Error).message)
    }
    try {
      printWarnings(compilePolicyBytes(file, bytes, KNOWN_ACTIONS))
    } catch (err) {
      if (!(err instanceof PortcullisError) || err.code !== 'PORTCULLIS_POLICY_INVALID') throw err
      process.stderr.write(`portcullis: ${visibleLines(err.message)} [${err.code}]\n`)
      return 1
    }
    const publisher = values.publisher ?? `${userInfo().username}@${hostname()}`
    const client = await connectFleet(target)
    let signed
    try {
      await checkSchema(client, target)
      signed = await publishPolicyRevision(client, (revision) => signPolicy(key, bytes, { revision, publisher, publishedAt: new Date().toISOString(), rollback: values.rollback }))
    } catch (err) {
      const coded = fleetError(err, target)
      if (coded.code === 'PORTCULLIS_FLEET_UNREACHABLE') throw new PortcullisError('PORTCULLIS_POLICY_PUBLISH', target.url, coded.message)
      throw coded
    } finally {
      await client.end().catch(() => {})
    }
    const sha256 = policySha256(bytes)
    const summary = { revision: signed.revision, sha256, keyId: signed.keyId, publisher: signed.publisher, publishedAt: signed.publishedAt, rollback: signed.rollback }
    process.stdout.write(wantsJson(values, 'policy publish')
      ? JSON.stringify(summary) + '\n'
      : `published ${visible(file)} as revision ${signed.revision}${signed.rollback ? ' (rollback)' : ''} (sha256 ${sha256.slice(0, 12)}, key ${signed.keyId}, by ${visible(signed.publisher)})\n`)
    return 0
  }
})
