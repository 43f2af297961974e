import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { Identity, RequestFacts, ResolvedResource, ResourceFacts, ResourceRef } from '../../src/core/types.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { decide } from '../../src/core/decide.js'

const policy = compilePolicy(JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8')))
const options = { pluginName: 'portcullis' }

const as = (user: string | null): Identity => user === null ? { user: null, method: 'anonymous' } : { user, method: 'jwt' }

function request (action: string, extra: Partial<RequestFacts> = {}): RequestFacts {
  return { method: 'POST', uri: '/x', path: '/x', query: {}, action, escapes: [], references: [], auditFields: {}, ...extra }
}

function resolved (ref: ResourceRef, project: string | null, exists = true): ResolvedResource {
  return { ref, exists, project }
}

const container = (project: string | null, ref = 'web-1'): ResourceFacts => ({ target: resolved({ kind: 'container', ref }, project), references: [] })
const none: ResourceFacts = { references: [] }

describe('anonymous callers', () => {
  it('may ping', () => {
    expect(decide(policy, as(null), request('system.ping'), none, options)).toMatchObject({ allow: true })
  })
  it('may not list containers, and are told how to get a token', () => {
    const d = decide(policy, as(null), request('container.list'), none, options)
    expect(d).toMatchObject({ allow: false, code: 'ANONYMOUS' })
    expect(d.reason).toMatch(/portcullis token issue/)
    expect(d.reason).toMatch(/X-Portcullis-Token/)
  })
})

describe('calls on an existing container are judged by its project', () => {
  it('a developer of payments may start a payments container', () => {
    expect(decide(policy, as('alice'), request('container.start', { target: { kind: 'container', ref: 'web-1' } }), container('payments'), options))
      .toMatchObject({ allow: true, project: 'payments', role: 'developer' })
  })
  it('a developer of payments may not start a web container (not a member)', () => {
    const d = decide(policy, as('alice'), request('container.start'), container('web'), options)
    expect(d).toMatchObject({ allow: false, code: 'NOT_MEMBER', project: 'web' })
    expect(d.reason).toMatch(/alice is not a member of project web/)
  })
  it('a viewer may inspect but not stop, and is told which roles could', () => {
    expect(decide(policy, as('bob'), request('container.inspect'), container('payments'), options)).toMatchObject({ allow: true })
    const d = decide(policy, as('bob'), request('container.stop'), container('payments'), options)
    expect(d).toMatchObject({ allow: false, code: 'ROLE_DENIES', role: 'viewer' })
    expect(d.reason).toMatch(/roles that allow it: developer, operator, admin/)
  })
  it('the same user has different powers in different projects', () => {
    expect(decide(policy, as('bob'), request('container.stop'), container('web'), options)).toMatchObject({ allow: true, role: 'developer' })
  })
  it('a developer may not remove, an operator may', () => {
    expect(decide(policy, as('alice'), request('container.remove'), container('payments'), options)).toMatchObject({ allow: false })
    expect(decide(policy, as('carol'), request('container.remove'), container('payments'), options)).toMatchObject({ allow: true, role: 'operator' })
  })
  it('a global admin may act in every project', () => {
    expect(decide(policy, as('ops'), request('container.remove'), container('web'), options)).toMatchObject({ allow: true, role: 'admin' })
  })
  it('a container without a project label is for global roles only', () => {
    expect(decide(policy, as('carol'), request('container.inspect'), container(null), options)).toMatchObject({ allow: false, code: 'UNOWNED_RESOURCE' })
    expect(decide(policy, as('ops'), request('container.inspect'), container(null), options)).toMatchObject({ allow: true })
  })
  it('a container that does not exist is left to the daemon (any role holding the action)', () => {
    const missing = { target: resolved({ kind: 'container', ref: 'ghost' }, null, false), references: [] }
    expect(decide(policy, as('alice'), request('container.inspect'), missing, options)).toMatchObject({ allow: true })
  })
  it('a user in no project may do nothing', () => {
    expect(decide(policy, as('mallory'), request('container.list'), none, options)).toMatchObject({ allow: false, code: 'NO_ROLE' })
  })
})

describe('calls that touch no project', () => {
  it('are allowed when any role the user holds allows the action', () => {
    expect(decide(policy, as('alice'), request('image.pull'), none, options)).toMatchObject({ allow: true })
    expect(decide(policy, as('bob'), request('image.pull'), none, options)).toMatchObject({ allow: true, role: 'developer' })
    expect(decide(policy, as('alice'), request('image.remove'), none, options)).toMatchObject({ allow: false, code: 'ROLE_DENIES' })
  })
})

describe('container create', () => {
  it('needs a project label', () => {
    const d = decide(policy, as('alice'), request('container.create', { labelProject: null }), none, options)
    expect(d).toMatchObject({ allow: false, code: 'NO_PROJECT_LABEL' })
    expect(d.reason).toMatch(/--label portcullis.project=<project>; your projects: payments/)
  })
  it('in a project the policy knows', () => {
    expect(decide(policy, as('alice'), request('container.create', { labelProject: 'nope' }), none, options)).toMatchObject({ allow: false, code: 'UNKNOWN_PROJECT' })
  })
  it('where the caller\'s role allows create', () => {
    expect(decide(policy, as('alice'), request('container.create', { labelProject: 'payments' }), none, options)).toMatchObject({ allow: true })
    expect(decide(policy, as('alice'), request('container.create', { labelProject: 'web' }), none, options)).toMatchObject({ allow: false, code: 'NOT_MEMBER' })
    expect(decide(policy, as('carol'), request('container.create', { labelProject: 'web' }), none, options)).toMatchObject({ allow: false, code: 'ROLE_DENIES' })
  })
  it('a developer cannot create a privileged container; an unsafe admin can', () => {
    const privileged = request('container.create', { labelProject: 'payments', escapes: [{ setting: 'privileged', detail: 'Privileged: true' }] })
    const d = decide(policy, as('alice'), privileged, none, options)
    expect(d).toMatchObject({ allow: false, code: 'UNSAFE_REQUIRED' })
    expect(d.reason).toMatch(/privileged \(Privileged: true\)/)
    expect(decide(policy, as('ops'), privileged, none, options)).toMatchObject({ allow: true })
  })
  it('refuses references to containers of another project, even for admins', () => {
    const linked = request('container.create', { labelProject: 'payments', references: [{ kind: 'container', ref: 'db' }] })
    const other = { references: [resolved({ kind: 'container', ref: 'db' }, 'web')] }
    expect(decide(policy, as('alice'), linked, other, options)).toMatchObject({ allow: false, code: 'CROSS_PROJECT' })
    expect(decide(policy, as('ops'), linked, other, options)).toMatchObject({ allow: false, code: 'CROSS_PROJECT' })
    const same = { references: [resolved({ kind: 'container', ref: 'db' }, 'payments')] }
    expect(decide(policy, as('alice'), linked, same, options)).toMatchObject({ allow: true })
  })
})

describe('exec', () => {
  const exec = (tty: boolean, cmd = ['sh'], privileged = false): RequestFacts => request('container.exec', {
    exec: { cmd, tty, attachStdin: tty, privileged, user: '', envNames: [] },
    escapes: privileged ? [{ setting: 'privileged', detail: 'exec Privileged: true' }] : []
  })
  it('a bridge-only developer may exec a command but not an interactive shell, and is pointed to the bridge', () => {
    expect(decide(policy, as('alice'), exec(false, ['ls', '/']), container('payments'), options)).toMatchObject({ allow: true })
    const d = decide(policy, as('alice'), exec(true), container('payments'), options)
    expect(d).toMatchObject({ allow: false, code: 'EXEC_INTERACTIVE' })
    expect(d.reason).toMatch(/ssh -p 2222/)
  })
  it('the same interactive exec is allowed when it comes through the bridge', () => {
    expect(decide(policy, as('alice'), exec(true), container('payments'), { ...options, channel: 'bridge' })).toMatchObject({ allow: true })
  })
  it('an operator may exec interactively', () => {
    expect(decide(policy, as('carol'), exec(true), container('payments'), options)).toMatchObject({ allow: true })
  })
  it('denied commands are refused', () => {
    expect(decide(policy, as('alice'), exec(false, ['nsenter', '-t', '1']), container('payments'), options)).toMatchObject({ allow: false, code: 'EXEC_COMMAND' })
  })
  it('privileged exec needs an unsafe role', () => {
    expect(decide(policy, as('carol'), exec(false, ['id'], true), container('payments'), options)).toMatchObject({ allow: false, code: 'UNSAFE_REQUIRED' })
  })
  it('exec into another project\'s container is refused', () => {
    expect(decide(policy, as('alice'), exec(false), container('web'), options)).toMatchObject({ allow: false, code: 'NOT_MEMBER' })
  })
  it('allowCommands limits a role to listed commands', () => {
    const p = compilePolicy({ roles: { r: { allow: ['container.exec'], exec: { allowCommands: ['ls *', 'cat /var/log/*'] } } }, projects: { a: { members: { u: 'r' } } } })
    expect(decide(p, as('u'), exec(false, ['ls', '/']), container('a'), options)).toMatchObject({ allow: true })
    expect(decide(p, as('u'), exec(false, ['rm', '-rf', '/']), container('a'), options)).toMatchObject({ allow: false, code: 'EXEC_COMMAND' })
  })
})

describe('guards', () => {
  it('an unknown route is denied, never guessed', () => {
    expect(decide(policy, as('ops'), request('x', { action: null, method: 'GET', path: '/secret' }), none, options))
      .toMatchObject({ allow: false, code: 'UNKNOWN_ROUTE' })
  })
  it('an empty body is denied even for admins (CVE-2024-41110)', () => {
    expect(decide(policy, as('ops'), request('container.create', { bodyProblem: 'empty' }), none, options)).toMatchObject({ allow: false, code: 'BAD_BODY' })
  })
  it('management of portcullis itself needs an unsafe role', () => {
    const p = compilePolicy({ roles: { pm: { allow: ['plugin.*'] }, root: { allow: ['*'], unsafe: true } }, projects: {}, global: { members: { u: 'pm', r: 'root' } } })
    const self = { target: { ref: { kind: 'plugin' as const, ref: 'abc' }, exists: true, project: null, name: 'localhost:5000/portcullis:latest' }, references: [] }
    expect(decide(p, as('u'), request('plugin.disable'), self, options)).toMatchObject({ allow: false, code: 'SELF_PROTECTION' })
    expect(decide(p, as('u'), request('plugin.inspect'), self, options)).toMatchObject({ allow: true })
    expect(decide(p, as('r'), request('plugin.disable'), self, options)).toMatchObject({ allow: true })
    const other = { target: { ref: { kind: 'plugin' as const, ref: 'x' }, exists: true, project: null, name: 'vieux/sshfs:latest' }, references: [] }
    expect(decide(p, as('u'), request('plugin.disable'), other, options)).toMatchObject({ allow: true })
  })
  it('plugins and images belong to no project: any role holding the action decides', () => {
    const plugin = { target: { ref: { kind: 'plugin' as const, ref: 'vieux/sshfs' }, exists: true, project: null, name: 'vieux/sshfs:latest' }, references: [] }
    expect(decide(policy, as('carol'), request('plugin.inspect'), plugin, options)).toMatchObject({ allow: true, project: null })
    expect(decide(policy, as('alice'), request('plugin.disable'), plugin, options)).toMatchObject({ allow: false, code: 'ROLE_DENIES' })
  })

  it('portcullis\'s own look-ups may read, nothing more', () => {
    const internal: Identity = { user: 'portcullis', method: 'internal' }
    expect(decide(policy, internal, request('container.inspect'), none, options)).toMatchObject({ allow: true })
    expect(decide(policy, internal, request('container.remove'), none, options)).toMatchObject({ allow: false, code: 'INTERNAL_ONLY_READS' })
  })
})
