import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { compilePolicy } from '../../src/policy/compile.js'
import { policyProblems } from '../helpers/policy-problems.js'

const example = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))

const problemsOf = policyProblems

describe('policy validation', () => {
  it('accepts the shipped example policy', () => {
    expect(problemsOf(example)).toEqual([])
  })

  it('refuses users and members named as portcullis records its own calls (portcullis, portcullis-bridge)', () => {
    const doc = structuredClone(example)
    doc.users['portcullis-bridge'] = {}
    doc.projects.payments.members.portcullis = 'viewer'
    const problems = problemsOf(doc)
    expect(problems).toContain('$.users.portcullis-bridge: "portcullis-bridge" is the name portcullis records its own calls under; give the person another name')
    expect(problems).toContain('$.projects.payments.members.portcullis: "portcullis" is the name portcullis records its own calls under; give the person another name')
  })

  it('fills in defaults: anonymous may ping and ask the version', () => {
    const policy = compilePolicy({ roles: { r: { allow: ['*'] } }, projects: {} })
    expect(policy.anonymous.matches('system.ping')).toBe(true)
    expect(policy.anonymous.matches('container.list')).toBe(false)
  })

  it('names the JSON path of every schema problem', () => {
    const problems = problemsOf({ roles: { dev: { allow: ['Container.Start'], unsafe: 'yes', extra: 1 } }, projects: { p: {} } })
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^\$\.roles\.dev\.allow\[0\]: must match pattern/),
      expect.stringMatching(/^\$\.roles\.dev\.unsafe: must be boolean/),
      '$.roles.dev: unknown field "extra"',
      expect.stringMatching(/^\$\.projects\.p: must have required property 'members'/)
    ]))
  })

  it('refuses a member whose role does not exist', () => {
    expect(problemsOf({ roles: { dev: {} }, projects: { pay: { members: { alice: 'develper' } } } }))
      .toEqual(['$.projects.pay.members.alice: unknown role "develper" (roles are: dev)'])
  })

  it('refuses inheritance from an unknown role and inheritance cycles', () => {
    expect(problemsOf({ roles: { a: { inherits: 'nope' } }, projects: {} })).toEqual(['$.roles.a.inherits: inherits unknown role "nope" (roles are: a)'])
    expect(problemsOf({ roles: { a: { inherits: 'b' }, b: { inherits: ['a'] } }, projects: {} })).toEqual([
      '$.roles.a.inherits: inheritance cycle back to "a"',
      '$.roles.b.inherits: inheritance cycle back to "b"'
    ])
  })

  it('refuses a pattern that matches no known action (a typo grants nothing)', () => {
    expect(problemsOf({ roles: { a: { allow: ['contaner.*'] } }, projects: {} }, ['container.start', 'system.ping', 'system.version']))
      .toEqual(['$.roles.a.allow[0]: "contaner.*" matches no action (did you mean "container.*"?) (`portcullis actions` lists them)'])
  })

  it('refuses a bad interactive setting with the allowed values', () => {
    expect(problemsOf({ roles: { a: { exec: { interactive: 'sometimes' } } }, projects: {} }))
      .toEqual(['$.roles.a.exec.interactive: must be one of ["allow","deny","bridge-only"]'])
  })
})

describe('role compilation', () => {
  const policy = compilePolicy(example)

  it('inherits allow patterns down the chain viewer < developer < operator', () => {
    const operator = policy.roles.get('operator')!
    expect(operator.allows('container.list')).toBe(true)
    expect(operator.allows('container.exec')).toBe(true)
    expect(operator.allows('container.remove')).toBe(true)
    expect(policy.roles.get('developer')!.allows('container.remove')).toBe(false)
  })

  it('takes exec settings from the nearest role that sets them', () => {
    expect(policy.roles.get('developer')!.interactive).toBe('bridge-only')
    expect(policy.roles.get('operator')!.interactive).toBe('allow')
    expect(policy.roles.get('viewer')!.interactive).toBe('allow')
  })

  it('does not inherit unsafe', () => {
    const p = compilePolicy({ roles: { root: { allow: ['*'], unsafe: true }, child: { inherits: 'root' } }, projects: {} })
    expect(p.roles.get('child')!.unsafe).toBe(false)
  })

  it('lets deny patterns win over allow patterns', () => {
    const p = compilePolicy({ roles: { r: { allow: ['container.*'], deny: ['container.remove'] } }, projects: {} })
    expect(p.roles.get('r')!.allows('container.start')).toBe(true)
    expect(p.roles.get('r')!.allows('container.remove')).toBe(false)
  })

  it('lists a user\'s memberships, project roles before the global one', () => {
    const p = compilePolicy({ roles: { r: {} }, projects: { a: { members: { u: 'r' } } }, global: { members: { u: 'r' } } })
    expect(p.membershipsOf('u').map((m) => m.project)).toEqual(['a', null])
    expect(p.membershipsOf('nobody')).toEqual([])
  })
})
