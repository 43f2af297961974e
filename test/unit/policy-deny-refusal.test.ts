// A refusal says what refused: the deny pattern and the role it is written in when a deny took an allow away, and,
// for a bridge-only role, that the SSH bridge is off on this host instead of a port nobody listens on.
import { describe, expect, it } from 'vitest'
import type { Identity, RequestFacts, ResourceFacts } from '../../src/core/types.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { decide } from '../../src/core/decide.js'

const alice: Identity = { user: 'alice', method: 'jwt' }
const request = (action: string, extra: Partial<RequestFacts> = {}): RequestFacts =>
  ({ method: 'POST', uri: '/x', path: '/x', query: {}, action, escapes: [], references: [], auditFields: {}, ...extra })
const inPayments: ResourceFacts = { target: { ref: { kind: 'container', ref: 'pay-1' }, exists: true, project: 'payments' }, references: [] }

const policy = compilePolicy({
  roles: {
    developer: { allow: ['container.*', 'exec.*'], deny: ['container.remove'], exec: { interactive: 'bridge-only' } },
    operator: { inherits: 'developer', allow: ['container.remove'] },
    admin: { allow: ['*'], unsafe: true }
  },
  projects: { payments: { members: { alice: 'operator', bob: 'developer' } } }
})

describe('a deny inherited from a parent wins over the child role\'s own allow, and the refusal says so', () => {
  it('names the deny pattern and the role it comes from', () => {
    const d = decide(policy, alice, request('container.remove'), inPayments, { pluginName: 'portcullis' })
    expect(d).toMatchObject({ allow: false, code: 'ROLE_DENIES', role: 'operator', deniedBy: { pattern: 'container.remove', role: 'developer' } })
    expect(d.reason).toContain('alice may not container.remove in project payments: role operator allows it, but deny pattern "container.remove" of role developer, which operator inherits, refuses it')
    expect(d.reason).toContain('a deny anywhere in a role\'s inheritance wins over every allow')
  })

  it('a role\'s own deny is named as its own', () => {
    const d = decide(policy, { user: 'bob', method: 'jwt' }, request('container.remove'), inPayments, { pluginName: 'portcullis' })
    expect(d.reason).toContain('role developer allows it, but its own deny pattern "container.remove" refuses it')
  })

  it('an action no allow matches is still "does not allow it", with no deny named', () => {
    const d = decide(policy, alice, request('volume.list'), { references: [] }, { pluginName: 'portcullis' })
    expect(d).toMatchObject({ allow: false, code: 'ROLE_DENIES' })
    expect(d.reason).toContain('does not allow it')
    expect(d.deniedBy).toBeUndefined()
  })
})

describe('a bridge-only refusal while the bridge is off on this host', () => {
  const interactive = request('container.exec', { exec: { cmd: ['sh'], tty: true, attachStdin: true, privileged: false, user: '', envNames: [] } })
  const bob: Identity = { user: 'bob', method: 'jwt' }

  it('says the bridge is off instead of naming a port', () => {
    const d = decide(policy, bob, interactive, inPayments, { pluginName: 'portcullis', bridgePort: 2222, bridgeOff: true })
    expect(d).toMatchObject({ allow: false, code: 'EXEC_INTERACTIVE' })
    expect(d.reason).toContain('the SSH bridge is off on this host')
    expect(d.reason).not.toContain('ssh -p')
  })

  it('points to the port when the bridge listens', () => {
    const d = decide(policy, bob, interactive, inPayments, { pluginName: 'portcullis', bridgePort: 2200, bridgeHost: 'dockerhost' })
    expect(d.reason).toContain('ssh -p 2200 <you>+<container>@dockerhost')
  })
})
