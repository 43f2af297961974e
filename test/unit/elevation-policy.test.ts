// Just-in-time elevation in the policy core: the `elevation` settings, steps, approvers, the first role a
// refusal names (with the command to ask for it), and grants as memberships for decide().
import { readFileSync } from 'node:fs'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { Authorizer } from '../../src/authz/authorizer.js'
import type { Identity, RequestFacts, ResourceFacts } from '../../src/core/types.js'
import { MemoryAuditLog } from '../fakes/audit-log.js'
import { IdentityResolver } from '../../src/identity/resolve.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { policyProblems } from '../helpers/policy-problems.js'
import { durationText } from '../../src/core/duration.js'
import { decide } from '../../src/core/decide.js'
import type { Grant } from '../../src/core/grant.js'

const example = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
const policy = compilePolicy(example)
const options = { pluginName: 'portcullis' }
const HOUR = 3_600_000

const as = (user: string): Identity => ({ user, method: 'jwt' })
const request = (action: string, extra: Partial<RequestFacts> = {}): RequestFacts =>
  ({ method: 'POST', uri: '/x', path: '/x', query: {}, action, escapes: [], references: [], auditFields: {}, ...extra })
const container = (project: string | null): ResourceFacts => ({ target: { ref: { kind: 'container', ref: 'pay-1' }, exists: true, project }, references: [] })
const none: ResourceFacts = { references: [] }
const grant = (fields: Partial<Grant> = {}): Grant =>
  ({ id: 'g-0123456789ab', user: 'alice', project: 'payments', role: 'operator', expiresAt: Date.UTC(2030, 0, 1, 14, 5), request: 'r-0123456789ab', ...fields })

/** The example policy with some fields replaced (a deep enough copy for these tests). */
const variant = (change: (doc: any) => void) => {
  const doc = structuredClone(example)
  change(doc)
  return compilePolicy(doc)
}

const problemsOf = (doc: unknown): string[] => policyProblems(doc)

describe('elevation settings', () => {
  it('come from the top level of the example', () => {
    expect(policy.elevationFor('payments', 'operator')).toEqual({ maxTtlMs: 8 * HOUR, maxSteps: 1, requestTtlMs: HOUR, autoApprove: false, minLevel: 2, webhook: null })
    expect(policy.elevationFor('web', 'admin').minLevel).toBe(4)
    expect(policy.elevationFor('web', 'developer').minLevel).toBe(0)
  })

  it('have defaults when the policy has no elevation section', () => {
    const bare = compilePolicy({ roles: { r: {} }, projects: {} })
    expect(bare.elevationFor(null, 'r')).toEqual({ maxTtlMs: 8 * HOUR, maxSteps: 1, requestTtlMs: HOUR, autoApprove: false, minLevel: 0, webhook: null })
  })

  it('role overrides win over project overrides, which win over the top level', () => {
    const p = variant((doc) => {
      doc.elevation.webhook = 'http://127.0.0.1:9000/hook'
      doc.projects.payments.elevation = { maxTtl: '4h', autoApprove: true, minLevel: { operator: 3, developer: 1 }, requestTtl: '30m' }
      doc.roles.operator.elevation = { maxTtl: '2h', minLevel: 1 }
    })
    expect(p.elevationFor('payments', 'operator')).toEqual({ maxTtlMs: 2 * HOUR, maxSteps: 1, requestTtlMs: HOUR / 2, autoApprove: true, minLevel: 1, webhook: 'http://127.0.0.1:9000/hook' })
    expect(p.elevationFor('payments', 'developer')).toMatchObject({ maxTtlMs: 4 * HOUR, minLevel: 1, autoApprove: true })
    expect(p.elevationFor('web', 'developer')).toMatchObject({ maxTtlMs: 8 * HOUR, minLevel: 0, autoApprove: false, requestTtlMs: HOUR })
    expect(p.elevationFor('web', 'operator')).toMatchObject({ maxTtlMs: 2 * HOUR, minLevel: 1 })
  })

  it('are filled in with defaults at the top level only, so project and role overrides stay what was written', () => {
    expect(compilePolicy({ roles: { r: {} }, projects: {} }).document).not.toHaveProperty('elevation')
    const doc = compilePolicy({ roles: { r: { elevation: {} } }, projects: { p: { members: {}, elevation: {} } }, elevation: {} }).document
    expect(doc.elevation).toEqual({ maxTtl: '8h', maxSteps: 1, requestTtl: '1h', autoApprove: false, requestsPerHour: 20, maxPending: 5, retention: '30d' })
    expect(doc.projects.p!.elevation).toEqual({})
    expect(doc.roles.r!.elevation).toEqual({})
  })

  it('are checked: durations, role names, webhook URLs, unknown fields', () => {
    expect(problemsOf({
      roles: { dev: { elevation: { maxTtl: '0h', webhook: 'http://x' } }, ops: {} },
      projects: { pay: { members: {}, elevation: { requestTtl: '0', minLevel: { opz: 1 }, approvers: ['ops', 'root'], webhook: 'ftp://x' } } },
      elevation: { maxTtl: '2 hours', maxSteps: -1, minLevel: { ops: 1.5 } }
    })).toEqual(expect.arrayContaining([
      expect.stringMatching(/^\$\.elevation\.maxTtl: must match pattern/),
      expect.stringMatching(/^\$\.elevation\.maxSteps: must be >= 0/),
      expect.stringMatching(/^\$\.elevation\.minLevel\.ops: must be integer/),
      '$.roles.dev.elevation: unknown field "webhook"',
      expect.stringMatching(/^\$\.projects\.pay\.elevation\.webhook: must match pattern/)
    ]))
    expect(problemsOf({
      roles: { dev: { elevation: { maxTtl: '0h' } }, ops: {} },
      projects: { pay: { members: {}, elevation: { requestTtl: '0', minLevel: { opz: 1 }, approvers: ['ops', 'root'], webhook: 'http://[nope' } } }
    })).toEqual([
      '$.projects.pay.elevation.requestTtl: must be longer than 0',
      '$.projects.pay.elevation.minLevel.opz: unknown role "opz" (roles are: dev, ops)',
      '$.projects.pay.elevation.approvers[1]: unknown role "root" (roles are: dev, ops)',
      '$.projects.pay.elevation.webhook: must be an http:// or https:// URL',
      '$.roles.dev.elevation.maxTtl: must be longer than 0'
    ])
  })

  it('turn back into pasteable durations', () => {
    expect([8 * HOUR, 90 * 60_000, 2 * 86_400_000, 45_000, 1500].map(durationText)).toEqual(['8h', '90m', '2d', '45s', '2s'])
  })
})

describe('steps between roles', () => {
  it('count inheritance edges up from the held role', () => {
    expect(policy.stepsBetween('developer', 'operator')).toBe(1)
    expect(policy.stepsBetween('viewer', 'operator')).toBe(2)
    expect(policy.stepsBetween('viewer', 'viewer')).toBe(0)
  })

  it('are Infinity for a role that does not build on the held one, or does not exist', () => {
    expect(policy.stepsBetween('developer', 'admin')).toBe(Infinity)
    expect(policy.stepsBetween('operator', 'developer')).toBe(Infinity)
    expect(policy.stepsBetween('viewer', 'nope')).toBe(Infinity)
  })

  it('count from below the roots for a user with no role', () => {
    expect(policy.stepsBetween(null, 'viewer')).toBe(1)
    expect(policy.stepsBetween(null, 'operator')).toBe(3)
    expect(policy.stepsBetween(null, 'admin')).toBe(1)
  })

  it('take the shortest way through multiple inheritance', () => {
    const p = compilePolicy({ roles: { a: {}, b: { inherits: 'a' }, c: { inherits: 'b' }, d: { inherits: ['c', 'a'] } }, projects: {} })
    expect(p.stepsBetween('a', 'd')).toBe(1)
    expect(p.stepsBetween('b', 'd')).toBe(2)
    expect(p.stepsBetween(null, 'd')).toBe(2)
  })
})

describe('held roles, levels and approvers', () => {
  it('a held role is the project\'s membership, else a global one', () => {
    expect(policy.heldRoleIn('alice', 'payments')).toBe('developer')
    expect(policy.heldRoleIn('alice', 'web')).toBe(null)
    expect(policy.heldRoleIn('ops', 'web')).toBe('admin')
    expect(policy.levelOf('carol')).toBe(3)
    expect(policy.levelOf('mallory')).toBe(0)
    expect(policy.levelOf('constructor')).toBe(0)
  })

  it('by default the approvers are members holding an unsafe role or one allowing *, and global unsafe members', () => {
    expect([...policy.approverRolesOf('payments')]).toEqual(['admin'])
    expect(policy.approversOf('payments')).toEqual(['ops'])
    expect(policy.mayApprove('ops', 'web')).toBe(true)
    expect(policy.mayApprove('carol', 'payments')).toBe(false)
  })

  it('elevation.approvers names the roles, per project or at the top level', () => {
    const p = variant((doc) => {
      doc.projects.payments.elevation = { approvers: ['operator'] }
      doc.elevation.approvers = ['developer']
    })
    expect(p.approversOf('payments')).toEqual(['carol', 'ops'])
    expect(p.approversOf('web')).toEqual(['bob', 'ops'])
    expect(p.mayApprove('alice', 'payments')).toBe(false)
    expect(p.mayApprove('carol', 'payments')).toBe(true)
  })
})

describe('the first role', () => {
  const remove = request('container.remove')

  it('is the smallest role above the held one that allows the call', () => {
    const d = decide(policy, as('alice'), remove, container('payments'), options)
    expect(d).toMatchObject({ allow: false, code: 'ROLE_DENIES', firstRole: 'operator' })
    // The existing message stays first; the hint is appended.
    expect(d.reason).toMatch(/^alice may not container.remove in project payments: role developer in payments does not allow it; roles that allow it: operator, admin/)
    expect(d.reason).toContain('; the smallest role that allows it is operator; to ask for it: ' +
      'portcullis request create --project payments --role operator --ttl 8h --reason "<why>"')
  })

  it('takes the TTL from the role\'s settings', () => {
    const p = variant((doc) => { doc.roles.developer.elevation = { maxTtl: '90m' } })
    expect(decide(p, as('bob'), request('container.stop'), container('payments'), options).reason)
      .toContain('portcullis request create --project payments --role developer --ttl 90m --reason "<why>"')
  })

  it('too many steps up: names the role and whom to ask instead of a command that would be refused', () => {
    const d = decide(policy, as('bob'), remove, container('payments'), options)
    expect(d).toMatchObject({ firstRole: 'operator', code: 'ROLE_DENIES' })
    expect(d.reason).toContain('; the smallest role that allows it is operator, 2 steps above your role viewer; requests reach 1 step: ask a payments approver (ops)')
    expect(d.reason).not.toContain('portcullis request create')
  })

  it('below the role\'s clearance level: says so', () => {
    const p = variant((doc) => { doc.projects.payments.elevation = { minLevel: { operator: 3 } } })
    expect(decide(p, as('alice'), remove, container('payments'), options).reason)
      .toContain('; the smallest role that allows it is operator, which needs clearance level 3 (yours is 2): ask a payments approver (ops)')
  })

  it('a non-member is pointed at the smallest safe role, counted from no role', () => {
    const create = request('container.create', { labelProject: 'payments' })
    const d = decide(policy, as('mallory'), create, none, options)
    expect(d).toMatchObject({ code: 'NOT_MEMBER', firstRole: 'developer' })
    expect(d.reason).toMatch(/^mallory is not a member of project payments \(project payments belongs to it\); ask a payments admin to add you; /)
    // A non-member is not told who the approvers are.
    expect(d.reason).toContain('; the smallest role that allows it is developer, 2 steps for a non-member; requests reach 1 step: ask an approver of payments (its members know who)')
    expect(d.reason).not.toContain('ops')
    const two = variant((doc) => { doc.projects.payments.elevation = { maxSteps: 2 } })
    expect(decide(two, as('mallory'), create, none, options).reason)
      .toContain('to ask for it: portcullis request create --project payments --role developer --ttl 8h --reason "<why>"')
    const viewerOnly = decide(policy, as('alice'), request('container.inspect'), { target: { ref: { kind: 'container', ref: 'web-1' }, exists: true, project: 'web' }, references: [] }, options)
    expect(viewerOnly).toMatchObject({ code: 'NOT_MEMBER', firstRole: 'viewer' })
    expect(viewerOnly.reason).toContain('portcullis request create --project web --role viewer --ttl 8h')
  })

  it('obeys exec rules and host-reaching settings', () => {
    const chroot = request('container.exec', { exec: { cmd: ['chroot', '/'], tty: false, attachStdin: false, privileged: false, user: '', envNames: [] } })
    const d = decide(policy, as('bob'), chroot, container('payments'), options)
    expect(d).toMatchObject({ code: 'ROLE_DENIES', firstRole: 'admin' })
    expect(d.reason).toContain('the smallest role that allows it is admin, which does not build on your role viewer, so it cannot be requested: ask a payments approver (ops)')
    const privileged = request('container.create', { labelProject: 'payments', escapes: [{ setting: 'privileged', detail: 'Privileged: true' }] })
    expect(decide(policy, as('bob'), privileged, none, options)).toMatchObject({ code: 'ROLE_DENIES', firstRole: 'admin' })
  })

  it('prefers a role the held one can reach over a smaller one it cannot', () => {
    const p = compilePolicy({
      roles: { viewer: { allow: ['container.list'] }, dev: { inherits: 'viewer', allow: ['container.start'] }, auditor: { inherits: 'viewer', allow: ['container.export'] }, lead: { inherits: 'dev', allow: ['container.export'] } },
      projects: { p: { members: { u: 'dev' } } }
    })
    expect(decide(p, as('u'), request('container.export'), container('p'), options)).toMatchObject({ firstRole: 'lead' })
    expect(p.firstRoleFor(null, (r) => r.allows('container.export'))?.name).toBe('auditor')
  })

  it('is not offered outside a project, nor for refusals a role change would not fix', () => {
    const d = decide(policy, as('alice'), request('image.remove'), none, options)
    expect(d).toMatchObject({ code: 'ROLE_DENIES' })
    expect(d.firstRole).toBeUndefined()
    const unlabelled = decide(policy, as('alice'), request('container.create', { labelProject: null }), none, options)
    expect(unlabelled.firstRole).toBeUndefined()
    // No role allows it at all: nothing to name.
    const p = compilePolicy({ roles: { r: { allow: ['container.list'] } }, projects: { p: { members: { u: 'r' } } } })
    const nothing = decide(p, as('u'), request('container.remove'), container('p'), options)
    expect(nothing.firstRole).toBeUndefined()
    expect(nothing.reason).toBe('u may not container.remove in project p: role r in p does not allow it')
  })
})

describe('grants', () => {
  it('add a membership for the call and are named in the decision', () => {
    const d = decide(policy, as('alice'), request('container.remove'), container('payments'), { ...options, grants: [grant()] })
    expect(d).toEqual({
      allow: true,
      action: 'container.remove',
      project: 'payments',
      role: 'operator',
      reason: 'alice is operator in payments (grant g-0123456789ab, until 14:05Z)',
      code: null,
      grant: 'g-0123456789ab'
    })
  })

  it('are credited only when the user\'s own role does not allow the call', () => {
    const d = decide(policy, as('alice'), request('container.start'), container('payments'), { ...options, grants: [grant()] })
    expect(d).toMatchObject({ allow: true, role: 'developer', reason: 'alice is developer in payments' })
    expect(d.grant).toBeUndefined()
  })

  it('make a non-member a member of the granted project only', () => {
    const g = grant({ user: 'mallory', role: 'developer' })
    expect(decide(policy, as('mallory'), request('container.start'), container('payments'), { ...options, grants: [g] })).toMatchObject({ allow: true, grant: g.id })
    expect(decide(policy, as('mallory'), request('container.start'), container('web'), { ...options, grants: [g] })).toMatchObject({ allow: false, code: 'NOT_MEMBER' })
    expect(decide(policy, as('mallory'), request('container.list'), none, { ...options, grants: [g] })).toMatchObject({ allow: true, grant: g.id })
  })

  it('never reach objects without a project', () => {
    expect(decide(policy, as('alice'), request('container.inspect'), container(null), { ...options, grants: [grant()] })).toMatchObject({ allow: false, code: 'UNOWNED_RESOURCE' })
  })

  it('of another user, or for a role or project the policy no longer has, count for nothing', () => {
    for (const g of [grant({ user: 'carol' }), grant({ role: 'gone' }), grant({ project: 'gone' })]) {
      expect(decide(policy, as('alice'), request('container.remove'), container('payments'), { ...options, grants: [g] })).toMatchObject({ allow: false, code: 'ROLE_DENIES' })
    }
  })
})

describe('the authorizer', () => {
  function authorizer (grantsFor?: (user: string, now: number) => readonly Grant[]) {
    const audit = new MemoryAuditLog()
    const records = audit.records
    const resources = { resolve: async () => container('payments') }
    const a = new Authorizer({ current: policy }, new IdentityResolver(null, 'internal-secret'), resources, audit, pino({ level: 'silent' }), {
      pluginName: 'portcullis',
      ...(grantsFor !== undefined ? { grantsFor } : {})
    })
    return { a, records }
  }
  const removeCall = { User: 'alice', UserAuthNMethod: 'TLS', RequestMethod: 'DELETE', RequestUri: '/v1.41/containers/pay-1?force=1', RequestHeaders: {} }

  it('records the first role of a refusal', async () => {
    const { a, records } = authorizer()
    const answer = await a.authorizeRequest(removeCall)
    expect(answer.Allow).toBe(false)
    expect(answer.Msg).toContain('portcullis request create --project payments --role operator')
    expect(records[0]).toMatchObject({ decision: 'deny', code: 'ROLE_DENIES', fields: { firstRole: 'operator' } })
  })

  it('asks grantsFor for the caller\'s grants, and records the grant that allowed the call', async () => {
    const asked: Array<[string, number]> = []
    const { a, records } = authorizer((user, now) => { asked.push([user, now]); return [grant()] })
    expect((await a.authorizeRequest(removeCall)).Allow).toBe(true)
    expect(asked[0]![0]).toBe('alice')
    expect(Math.abs(asked[0]![1] - Date.now())).toBeLessThan(5000)
    expect(records[0]).toMatchObject({ decision: 'allow', role: 'operator', fields: { grant: 'g-0123456789ab' } })
  })
})
