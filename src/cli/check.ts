import { readFileSync } from 'node:fs'
import type { Decision } from '../core/decision.js'
import type { AuthZRequest, Identity, ResolvedResource, ResourceRef } from '../core/types.js'
import { readRequest } from '../authz/read-request.js'
import { terminalSafeJson } from '../audit/terminal-text.js'
import { PortcullisError } from '../errors.js'
import { evaluateRequest } from '../core/evaluate.js'
import { loadPolicyFile } from '../policy/source.js'
import { KNOWN_ACTIONS } from '../routes/table.js'
import { defineCommand, required } from './command.js'
import { DEFAULTS } from './defaults.js'
import { OUTPUT_OPTION, outputFormat, outputHelp, renderFields } from './output.js'

export const checkCommand = defineCommand({
  name: 'check',
  summary: 'Dry-run one request against a policy, with no daemon: prints the decision, action, project, role and reason (-o json: the whole verdict as JSON). Exit 0 on allow, 1 on deny.',
  usage: 'check --config FILE [--user NAME] --method METHOD --uri URI [--body FILE|-] [--target-project NAME|none] [--ref KIND:REF=PROJECT]... [-o table|json]',
  options: {
    config: { type: 'string', default: DEFAULTS.config },
    user: { type: 'string' },
    method: { type: 'string', default: 'GET' },
    uri: { type: 'string' },
    body: { type: 'string' },
    'target-project': { type: 'string' },
    ref: { type: 'string', multiple: true, default: [] },
    channel: { type: 'string', default: 'docker' },
    'plugin-name': { type: 'string', default: DEFAULTS.pluginName },
    ...OUTPUT_OPTION
  },
  help: {
    '--config FILE': 'the policy to check against',
    '--user NAME': 'the caller (omit for an anonymous caller)',
    '--method METHOD': 'HTTP method (default GET)',
    '--uri URI': 'request URI as the docker CLI sends it, e.g. /v1.41/containers/create',
    '--body FILE': 'the JSON body (- for stdin)',
    '--target-project NAME': 'the project label of the existing object the call acts on ("none": it has no label); without it the object is taken not to exist',
    '--ref KIND:REF=PROJECT': 'the project of another object the body names, e.g. container:db=payments (repeatable)',
    '--channel docker|bridge': 'judge as a docker API call (default) or an SSH bridge session',
    '--plugin-name NAME': 'the name portcullis runs under (default portcullis)',
    ...outputHelp('the decision with every field (escapes, assumptions, deniedBy, firstRole)')
  },
  async run (values) {
    const format = outputFormat(values, 'check')
    const policy = loadPolicyFile(values.config, KNOWN_ACTIONS)
    const uri = required(values.uri, '--uri', 'check')
    const body = values.body === undefined ? undefined : readBody(values.body)
    const request: AuthZRequest = {
      User: '',
      UserAuthNMethod: '',
      RequestMethod: values.method.toUpperCase(),
      RequestUri: uri,
      RequestBody: body?.toString('base64') ?? null,
      RequestHeaders: body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(body.length) }
    }
    const facts = readRequest(request)
    const identity: Identity = values.user === undefined ? { user: null, method: 'anonymous' } : { user: values.user, method: 'jwt' }
    const assumptions: string[] = []

    const projects = new Map<string, string | null>()
    for (const entry of values.ref) {
      const match = /^(container|volume|network|exec|plugin):(.+)=(.*)$/.exec(entry)
      if (match === null) throw new PortcullisError('PORTCULLIS_USAGE', `--ref ${entry}: use KIND:REF=PROJECT, e.g. container:db=payments`, 'check')
      projects.set(`${match[1]}:${match[2]}`, match[3] === 'none' || match[3] === '' ? null : match[3]!)
    }
    const resolve = (ref: ResourceRef, given: string | null | undefined): ResolvedResource => {
      if (given === undefined) {
        assumptions.push(`${ref.kind} ${ref.ref} taken not to exist`)
        return { ref, exists: false, project: null }
      }
      return { ref, exists: true, project: given }
    }
    const target = facts.target === undefined
      ? undefined
      : resolve(facts.target, values['target-project'] === undefined ? undefined : (values['target-project'] === 'none' ? null : values['target-project']))
    const references = facts.references.map((ref) => resolve(ref, projects.get(`${ref.kind}:${ref.ref}`)))

    const decision = evaluateRequest(policy, { ok: true, identity }, facts, { target, references }, {
      pluginName: values['plugin-name'],
      channel: values.channel === 'bridge' ? 'bridge' : 'docker'
    })
    const verdict = { ...decision, decision: decision.allow ? 'allow' : 'deny', escapes: facts.escapes, assumptions }
    // The reason quotes the request (names, commands): what JSON leaves raw and a terminal acts on is escaped
    // (renderFields shows every value through visible()).
    process.stdout.write(format === 'json' ? terminalSafeJson(JSON.stringify(verdict, null, 2)) + '\n' : renderFields(checkFields(verdict)))
    return decision.allow ? 0 : 1
  }
})

function readBody (path: string): Buffer {
  try {
    return readFileSync(path === '-' ? 0 : path)
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_INPUT', path, (err as Error).message)
  }
}

/** The lines `check` shows by default: what was decided and why, then only what is there. */
function checkFields (v: Decision & { decision: string, assumptions: string[] }): Array<[string, string]> {
  const fields: Array<[string, string]> = [
    ['decision', v.decision],
    ['action', v.action ?? '-'],
    ['project', v.project ?? '-'],
    ['role', v.role ?? '-'],
    ['reason', v.reason]
  ]
  if (v.code !== null) fields.push(['code', v.code])
  if (v.deniedBy !== undefined) fields.push(['denied by', `${v.deniedBy.pattern} (role ${v.deniedBy.role})`])
  if (v.firstRole !== undefined) fields.push(['would need', v.firstRole])
  if (v.grant !== undefined) fields.push(['grant', v.grant])
  for (const assumption of v.assumptions) fields.push(['assumed', assumption])
  return fields
}
