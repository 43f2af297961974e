// The SSH bridge's own credential: it stops a session's process and reads its exit status whatever became of the
// user's access, is recorded as the bridge's, and can do nothing but inspect the one exec it was issued for.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { AuthZRequest, Identity, RequestFacts, ResourceFacts } from '../../src/core/types.js'
import { readRequest } from '../../src/authz/read-request.js'
import { execCreateRequest } from '../../src/bridge/targets.js'
import { BRIDGE_USER } from '../../src/core/reserved-users.js'
import { BRIDGE_HEADER, BridgeGrants } from '../../src/identity/bridge-grants.js'
import { IdentityResolver } from '../../src/identity/resolve.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { decide } from '../../src/core/decide.js'

const policy = compilePolicy(JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8')))
const options = { pluginName: 'portcullis' }
const EXEC = 'e'.repeat(64)
const OTHER = 'f'.repeat(64)
const SESSION = 's-0123456789abcdef'
const none: ResourceFacts = { references: [] }

const call = (method: string, uri: string, headers: Record<string, string> = {}): AuthZRequest => ({ RequestMethod: method, RequestUri: uri, RequestHeaders: headers })
const facts = (method: string, uri: string): RequestFacts => readRequest(call(method, uri))
const housekeeping: Identity = { user: BRIDGE_USER, method: 'bridge-housekeeping', session: SESSION, exec: EXEC }

describe('the housekeeping credential', () => {
  const grants = new BridgeGrants()
  const identities = new IdentityResolver(null, 'x'.repeat(64), grants)
  const inspect = (secret: string): AuthZRequest => call('GET', `/v1.41/exec/${EXEC}/json`, { [BRIDGE_HEADER]: secret })

  it('names the bridge, the session and the one exec, never the SSH user', () => {
    const grant = grants.issueHousekeeping(SESSION, EXEC)
    expect(identities.resolve(inspect(grant.secret))).toEqual({ ok: true, identity: housekeeping })
    grants.revoke(grant)
  })

  it('is refused once revoked, and a guessed one is refused, never anonymous', () => {
    const grant = grants.issueHousekeeping(SESSION, EXEC)
    grants.revoke(grant)
    expect(identities.resolve(inspect(grant.secret))).toMatchObject({ ok: false, method: 'bridge' })
    expect(identities.resolve(inspect('A'.repeat(43)))).toMatchObject({ ok: false, method: 'bridge' })
  })

  it('no TLS certificate may claim the bridge\'s (or portcullis\'s) name, so a record naming portcullis-bridge is always the bridge', () => {
    for (const name of [BRIDGE_USER, 'portcullis']) {
      const tls: AuthZRequest = { ...call('GET', `/v1.41/exec/${EXEC}/json`), User: name, UserAuthNMethod: 'TLS' }
      expect(identities.resolve(tls)).toMatchObject({ ok: false, method: 'tls', reason: expect.stringContaining('records its own calls under') })
    }
    const person: AuthZRequest = { ...call('GET', '/v1.41/info'), User: 'alice', UserAuthNMethod: 'TLS' }
    expect(identities.resolve(person)).toEqual({ ok: true, identity: { user: 'alice', method: 'tls' } })
  })

  it('the user\'s session grant does not become the bridge\'s, nor the other way round', () => {
    const session = grants.issue('alice', SESSION)
    const own = grants.issueHousekeeping(SESSION, EXEC)
    expect(session.secret).not.toBe(own.secret)
    expect(identities.resolve(inspect(session.secret))).toMatchObject({ ok: true, identity: { user: 'alice', method: 'bridge' } })
    expect(identities.resolve(inspect(own.secret))).toMatchObject({ ok: true, identity: { user: BRIDGE_USER, method: 'bridge-housekeeping' } })
  })

  it('a TLS client certificate named portcullis-bridge is refused as a TLS caller, never the bridge', () => {
    const tls = identities.resolve({ ...inspect('guess'), User: BRIDGE_USER, UserAuthNMethod: 'TLS' })
    expect(tls).toMatchObject({ ok: false, method: 'tls' })
  })
})

describe('what the policy core lets the bridge\'s own credential do', () => {
  it('inspect the exec it was issued for', () => {
    expect(decide(policy, housekeeping, facts('GET', `/v1.41/exec/${EXEC}/json`), none, options))
      .toMatchObject({ allow: true, action: 'exec.inspect', reason: expect.stringContaining(SESSION) })
  })

  it('not another exec, not a prefix of its own, not with parameters the route does not take', () => {
    for (const uri of [`/v1.41/exec/${OTHER}/json`, `/v1.41/exec/${EXEC.slice(0, 12)}/json`, `/v1.41/exec/${EXEC}/json?x=1`]) {
      expect(decide(policy, housekeeping, facts('GET', uri), none, options), uri).toMatchObject({ allow: false, code: 'BRIDGE_GRANT_SCOPE' })
    }
  })

  it('nothing else: no start, resize, exec create, container look-up or anything a user could want', () => {
    const calls: Array<[string, string]> = [
      ['POST', `/v1.41/exec/${EXEC}/start`],
      ['POST', `/v1.41/exec/${EXEC}/resize?h=10&w=10`],
      ['GET', '/v1.41/containers/c/json'],
      ['POST', '/v1.41/containers/c/kill'],
      ['GET', '/v1.41/containers/json'],
      ['GET', '/v1.41/_ping']
    ]
    for (const [method, uri] of calls) {
      expect(decide(policy, housekeeping, facts(method, uri), none, options), `${method} ${uri}`).toMatchObject({ allow: false, code: 'BRIDGE_GRANT_SCOPE' })
    }
    const create = readRequest(execCreateRequest('c'.repeat(64), { Cmd: ['id'], Tty: false, AttachStdin: false, AttachStdout: true, AttachStderr: true }))
    expect(decide(policy, housekeeping, create, none, options)).toMatchObject({ allow: false, code: 'BRIDGE_GRANT_SCOPE' })
  })

  it('without an exec named, it may inspect nothing', () => {
    const { exec: _, ...noExec } = housekeeping
    expect(decide(policy, noExec, facts('GET', `/v1.41/exec/${EXEC}/json`), none, options)).toMatchObject({ allow: false, code: 'BRIDGE_GRANT_SCOPE' })
  })

  it('the user\'s session grant no longer inspects execs: looking the exec up is the bridge\'s business', () => {
    const alice: Identity = { user: 'alice', method: 'bridge', session: SESSION }
    const target: ResourceFacts = { target: { ref: { kind: 'exec', ref: EXEC }, exists: true, project: 'payments', containerId: 'c'.repeat(64) }, references: [] }
    expect(decide(policy, alice, facts('GET', `/v1.41/exec/${EXEC}/json`), target, options)).toMatchObject({ allow: false, code: 'BRIDGE_GRANT_SCOPE' })
  })
})
