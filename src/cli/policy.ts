import { imageRuleWarnings } from '../images/rules.js'
import { POLICY_SCHEMA } from '../policy/schema.js'
import { loadPolicyFile } from '../policy/source.js'
import { KNOWN_ACTIONS } from '../routes/table.js'
import { adminJson } from '../admin/client.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'

export const policyValidateCommand = defineCommand({
  name: 'policy validate',
  summary: 'Check a policy file: schema, role references, patterns. Prints every problem with its JSON path.',
  usage: 'policy validate [--config FILE]',
  options: { config: { type: 'string', default: DEFAULTS.config } },
  help: { '--config FILE': `the policy (default ${DEFAULTS.config})` },
  async run (values) {
    const policy = loadPolicyFile(values.config, KNOWN_ACTIONS)
    for (const warning of imageRuleWarnings(policy.document.projects)) process.stderr.write(`warning: ${warning}\n`)
    process.stdout.write(`${values.config}: valid (${policy.roles.size} roles, ${policy.projects.size} projects, sha256 ${policy.digest.slice(0, 12)})\n`)
    return 0
  }
})

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
    else process.stderr.write(`policy refused, the daemon keeps the last good one:\n${body.error ?? ''}\n`)
    return status === 200 ? 0 : 1
  }
})
