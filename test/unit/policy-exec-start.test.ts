// Exec start/resize judged on the exec itself, `interactive` on every stream, command text refused where command rules exist.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { ExecCreator, ExecProcess, Identity, RequestFacts, ResourceFacts, StreamFacts } from '../../src/core/types.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { decide } from '../../src/core/decide.js'

const policy = compilePolicy(JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8')))
const options = { pluginName: 'portcullis', bridgePort: 2222 }
const ID = 'e'.repeat(64)

const jwt = (user: string): Identity => ({ user, method: 'jwt' })
const bridge = (user: string, session: string): Identity => ({ user, method: 'bridge', session })

function request (action: string, extra: Partial<RequestFacts> = {}): RequestFacts {
  return { method: 'POST', uri: '/x', path: '/x', query: {}, action, escapes: [], references: [], auditFields: {}, ...extra }
}

function execTarget (creator: ExecCreator | null, process: Partial<ExecProcess> = {}): ResourceFacts {
  const exec: ExecProcess = { cmd: ['ls', '/'], tty: false, stdin: false, privileged: false, user: '', creator, ...process }
  return { target: { ref: { kind: 'exec', ref: ID }, exists: true, id: ID, containerId: 'c'.repeat(64), project: 'payments', exec }, references: [] }
}

const start = request('exec.start', { target: { kind: 'exec', ref: ID } })
const resize = request('exec.resize', { target: { kind: 'exec', ref: ID } })

describe('exec start and resize are judged on the exec', () => {
  it('its creator may start and resize it', () => {
    expect(decide(policy, jwt('alice'), start, execTarget({ user: 'alice' }), options)).toMatchObject({ allow: true })
    expect(decide(policy, jwt('alice'), resize, execTarget({ user: 'alice' }), options)).toMatchObject({ allow: true })
  })
  it('another user may not, even in the same project and with a bigger role', () => {
    const d = decide(policy, jwt('carol'), start, execTarget({ user: 'alice' }), options)
    expect(d).toMatchObject({ allow: false, code: 'EXEC_NOT_OWNER' })
    expect(d.reason).toMatch(/Create your own exec: docker exec/)
    expect(decide(policy, jwt('carol'), resize, execTarget({ user: 'alice' }), options)).toMatchObject({ allow: false, code: 'EXEC_NOT_OWNER' })
  })
  it('an exec portcullis did not see created may be started by an unsafe role only', () => {
    expect(decide(policy, jwt('alice'), start, execTarget(null), options)).toMatchObject({ allow: false, code: 'EXEC_NOT_OWNER' })
    expect(decide(policy, jwt('ops'), start, execTarget(null), options)).toMatchObject({ allow: true, role: 'admin' })
  })
  it('an admin\'s privileged exec is refused to a developer, and to its own creator without unsafe', () => {
    expect(decide(policy, jwt('alice'), start, execTarget({ user: 'ops' }, { privileged: true }), options)).toMatchObject({ allow: false, code: 'EXEC_NOT_OWNER' })
    expect(decide(policy, jwt('carol'), start, execTarget({ user: 'carol' }, { privileged: true }), options)).toMatchObject({ allow: false, code: 'UNSAFE_REQUIRED' })
  })
  it('an interactive exec is judged by the role\'s interactive rule at start too', () => {
    const d = decide(policy, jwt('alice'), start, execTarget({ user: 'alice' }, { tty: true, stdin: true, cmd: ['sh'] }), options)
    expect(d).toMatchObject({ allow: false, code: 'EXEC_INTERACTIVE' })
    expect(d.reason).toMatch(/ssh -p 2222/)
  })
  it('the command is judged at start by the command rules and the command text rule', () => {
    expect(decide(policy, jwt('alice'), start, execTarget({ user: 'alice' }, { cmd: ['nsenter', '-t', '1'] }), options)).toMatchObject({ allow: false, code: 'EXEC_COMMAND' })
    expect(decide(policy, jwt('alice'), start, execTarget({ user: 'alice' }, { cmd: ['sh', '-c', 'n""senter'] }), options)).toMatchObject({ allow: false, code: 'EXEC_COMMAND_TEXT' })
  })
  it('a bridge session\'s exec belongs to that session', () => {
    const target = execTarget({ user: 'alice', session: 's-1' }, { tty: true, stdin: true, cmd: ['/bin/sh'] })
    expect(decide(policy, bridge('alice', 's-1'), start, target, options)).toMatchObject({ allow: true })
    expect(decide(policy, bridge('alice', 's-2'), start, target, options)).toMatchObject({ allow: false, code: 'EXEC_NOT_OWNER' })
    expect(decide(policy, jwt('alice'), start, target, options)).toMatchObject({ allow: false, code: 'EXEC_NOT_OWNER' })
  })
  it('an exec that does not exist is left to the daemon (404)', () => {
    expect(decide(policy, jwt('alice'), start, { target: { ref: { kind: 'exec', ref: ID }, exists: false, project: null }, references: [] }, options)).toMatchObject({ allow: true })
  })
})

describe('interactive streams', () => {
  const tty: StreamFacts = { tty: true, stdin: true, detail: 'a container with a TTY (-t)', drop: '-i and -t' }
  const create = request('container.create', { labelProject: 'payments', stream: tty })
  const attach = request('container.attach', { target: { kind: 'container', ref: 'pay-1' }, stream: { tty: false, stdin: true, detail: 'an attach with stdin', drop: 'stdin: docker attach --no-stdin' } })
  const container: ResourceFacts = { target: { ref: { kind: 'container', ref: 'pay-1' }, exists: true, project: 'payments' }, references: [] }
  it('a bridge-only developer may not create a container with a TTY or stdin, and is told what to drop', () => {
    const d = decide(policy, jwt('alice'), create, { references: [] }, options)
    expect(d).toMatchObject({ allow: false, code: 'INTERACTIVE_STREAM' })
    expect(d.reason).toMatch(/ssh -p 2222/)
    expect(d.reason).toMatch(/drop -i and -t/)
  })
  it('nor attach with stdin', () => {
    expect(decide(policy, jwt('alice'), attach, container, options)).toMatchObject({ allow: false, code: 'INTERACTIVE_STREAM' })
  })
  it('an operator may', () => {
    expect(decide(policy, jwt('carol'), create, { references: [] }, options)).toMatchObject({ allow: true })
    expect(decide(policy, jwt('carol'), attach, container, options)).toMatchObject({ allow: true })
  })
  it('a plain create and an attach without stdin are allowed', () => {
    expect(decide(policy, jwt('alice'), request('container.create', { labelProject: 'payments' }), { references: [] }, options)).toMatchObject({ allow: true })
    expect(decide(policy, jwt('alice'), request('container.attach', { target: { kind: 'container', ref: 'pay-1' } }), container, options)).toMatchObject({ allow: true })
  })
})

describe('command text at exec create', () => {
  const exec = (cmd: string[], attachStdin = false): RequestFacts => request('container.exec', {
    target: { kind: 'container', ref: 'pay-1' },
    exec: { cmd, tty: false, attachStdin, privileged: false, user: '', envNames: [] }
  })
  const container: ResourceFacts = { target: { ref: { kind: 'container', ref: 'pay-1' }, exists: true, project: 'payments' }, references: [] }
  it('a developer (denyCommands, so commandStrings bridge-only) may not run sh -c on the Docker API', () => {
    const d = decide(policy, jwt('alice'), exec(['sh', '-c', 'n""senter -t 1 -m']), container, options)
    expect(d).toMatchObject({ allow: false, code: 'EXEC_COMMAND_TEXT' })
    expect(d.reason).toMatch(/Command rules match the command's words/)
  })
  it('but may through the SSH bridge, which records the session', () => {
    expect(decide(policy, bridge('alice', 's-1'), { ...exec(['/bin/sh', '-c', 'ls'], true), exec: { cmd: ['/bin/sh', '-c', 'ls'], tty: false, attachStdin: true, privileged: false, user: '', envNames: [] } }, container, options))
      .toMatchObject({ allow: true })
  })
  it('plain commands still run', () => {
    expect(decide(policy, jwt('alice'), exec(['ls', '/']), container, options)).toMatchObject({ allow: true })
  })
  it('commandStrings: deny refuses it on the bridge too; allow lets it through', () => {
    const doc = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
    doc.roles.developer.exec.commandStrings = 'deny'
    const strict = compilePolicy(doc)
    expect(decide(strict, bridge('alice', 's-1'), exec(['/bin/sh', '-c', 'ls'], true), container, options)).toMatchObject({ allow: false, code: 'EXEC_COMMAND_TEXT' })
    doc.roles.developer.exec.commandStrings = 'allow'
    expect(decide(compilePolicy(doc), jwt('alice'), exec(['sh', '-c', 'ls']), container, options)).toMatchObject({ allow: true })
  })
  it('a role without command rules is not affected by default', () => {
    expect(policy.roles.get('admin')!.commandStrings).toBe('allow')
    expect(policy.roles.get('developer')!.commandStrings).toBe('bridge-only')
  })
})

describe('exec.commandStrings in the policy', () => {
  it('is one of allow, deny, bridge-only, and inherited from the nearest role that sets it', () => {
    const doc = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
    doc.roles.developer.exec.commandStrings = 'sometimes'
    expect(() => compilePolicy(doc)).toThrow(/commandStrings: must be one of/)
    doc.roles.developer.exec.commandStrings = 'deny'
    doc.roles.lead = { inherits: 'developer' }
    const compiled = compilePolicy(doc)
    expect(compiled.roles.get('lead')!.commandStrings).toBe('deny')
    expect(compiled.roles.get('operator')!.commandStrings).toBe('allow')
  })
})
