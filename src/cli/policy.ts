import { PortcullisError } from '../errors.js'
import { visible, visibleLines } from '../audit/terminal-text.js'
import { imageRuleWarnings } from '../core/image-rules.js'
import { shadowedAllowWarnings } from '../policy/warnings.js'
import { POLICY_SCHEMA } from '../policy/schema.js'
import { loadPolicyFile } from '../policy/source.js'
import { KNOWN_ACTIONS } from '../routes/table.js'
import { adminJson } from '../admin/client.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'

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
    const warnings = [
      ...shadowedAllowWarnings(policy, KNOWN_ACTIONS).map((w) => `${w.path}: ${w.message}`),
      ...imageRuleWarnings(policy.document.projects)
    ]
    for (const warning of warnings) process.stderr.write(`warning: ${visible(warning)}\n`)
    process.stdout.write(`${visible(file)}: valid (${policy.roles.size} roles, ${policy.projects.size} projects, sha256 ${policy.digest.slice(0, 12)})` +
      `${warnings.length > 0 ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : ''}\n`)
    return 0
  }
})

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
    const { status, body } = await adminJson<{ ok: boolean, error?: string, digest: string }>(values['admin-socket'], 'POST', '/v1/policy/reload', [200, 422])
    if (status === 200) process.stdout.write(`policy reloaded (sha256 ${body.digest.slice(0, 12)})\n`)
    else process.stderr.write(`policy refused, the daemon keeps the last good one:\n${visibleLines(body.error ?? '')}\n`)
    return status === 200 ? 0 : 1
  }
})
