// The bridge's pure pieces: the login name, Docker's stream framing, session grants, and how the policy core
// treats the calls the bridge makes for a session.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { AuthZRequest, Identity, RequestFacts, ResourceFacts } from '../../src/core/types.js'
import { StreamDemuxer } from '../../src/bridge/demux.js'
import { parseLogin } from '../../src/bridge/login.js'
import { unguessableDetachKeys } from '../../src/bridge/detach-keys.js'
import { execCreateRequest } from '../../src/bridge/targets.js'
import { readRequest } from '../../src/authz/read-request.js'
import { BridgeGrants, BRIDGE_HEADER } from '../../src/identity/bridge-grants.js'
import { IdentityResolver } from '../../src/identity/resolve.js'
import { compilePolicy, PolicyValidationError } from '../../src/policy/compile.js'
import { decide } from '../../src/core/decide.js'

const example = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
const policy = compilePolicy(example)
const options = { pluginName: 'portcullis' }

describe('parseLogin', () => {
  it('splits user and container at the first +', () => {
    expect(parseLogin('alice+web-1')).toEqual({ user: 'alice', container: 'web-1' })
    expect(parseLogin('alice')).toEqual({ user: 'alice', container: null })
    expect(parseLogin('a.b@corp+0123abcd')).toEqual({ user: 'a.b@corp', container: '0123abcd' })
  })
  it('refuses names the policy or Docker could not hold', () => {
    for (const bad of ['', '+web', 'alice+', 'alice+web+1', 'al ice', 'alice+../x', 'alice+-x', '-alice', 'alice+web/1']) {
      expect(parseLogin(bad), bad).toBeNull()
    }
  })
})

describe('StreamDemuxer', () => {
  const frame = (stream: number, text: string): Buffer => {
    const payload = Buffer.from(text)
    const header = Buffer.alloc(8)
    header[0] = stream
    header.writeUInt32BE(payload.length, 4)
    return Buffer.concat([header, payload])
  }

  it('splits frames arriving at any byte boundary', () => {
    const input = Buffer.concat([frame(1, 'hello '), frame(2, 'oops'), frame(1, 'world'), frame(1, '')])
    for (let size = 1; size <= input.length; size++) {
      const out: string[] = []
      const demux = new StreamDemuxer((stream, payload) => out.push(`${stream}:${payload.toString()}`))
      for (let i = 0; i < input.length; i += size) demux.push(input.subarray(i, i + size))
      const joined = { 1: '', 2: '' } as Record<number, string>
      for (const item of out) joined[Number(item[0])] += item.slice(2)
      expect(joined).toEqual({ 1: 'hello world', 2: 'oops' })
      expect(demux.clean).toBe(true)
    }
  })

  it('knows when the stream stopped inside a frame', () => {
    const demux = new StreamDemuxer(() => {})
    demux.push(frame(1, 'abc').subarray(0, 9))
    expect(demux.clean).toBe(false)
  })
})

describe('detach keys', () => {
  it('are 16 control keys starting with NUL, different every time', () => {
    const a = unguessableDetachKeys()
    expect(a.split(',')).toHaveLength(16)
    expect(a.startsWith('ctrl-@,')).toBe(true)
    expect(a).toMatch(/^ctrl-@(,ctrl-[a-z]){15}$/)
    expect(unguessableDetachKeys()).not.toBe(a)
  })
})

describe('session grants', () => {
  const grants = new BridgeGrants()
  const identities = new IdentityResolver(null, 'x'.repeat(64), grants)
  const withGrant = (secret: string): AuthZRequest => ({ RequestMethod: 'GET', RequestUri: '/v1.41/containers/x/json', RequestHeaders: { [BRIDGE_HEADER]: secret } })

  it('name the session user while the session lives, and nothing after', () => {
    const grant = grants.issue('alice', 's-0123456789abcdef')
    expect(identities.resolve(withGrant(grant.secret))).toEqual({ ok: true, identity: { user: 'alice', method: 'bridge', session: 's-0123456789abcdef' } })
    grants.revoke(grant)
    expect(identities.resolve(withGrant(grant.secret))).toMatchObject({ ok: false, method: 'bridge' })
  })

  it('a guessed grant is refused, never taken as anonymous', () => {
    expect(identities.resolve(withGrant('guess'))).toMatchObject({ ok: false })
  })
})

describe('the policy core and the bridge', () => {
  const bridgeIdentity: Identity = { user: 'alice', method: 'bridge', session: 's-0123456789abcdef' }
  const jwtIdentity: Identity = { user: 'alice', method: 'jwt' }
  const inPayments: ResourceFacts = { target: { ref: { kind: 'container', ref: 'c' }, exists: true, project: 'payments' }, references: [] }
  const shell = (tty: boolean): RequestFacts => readRequest(execCreateRequest('c'.repeat(64), {
    Cmd: ['/bin/sh'], Tty: tty, AttachStdin: true, AttachStdout: true, AttachStderr: true, Env: ['TERM=xterm'], DetachKeys: 'ctrl-@,ctrl-a'
  }))

  it('a bridge-only role may open an interactive exec through the bridge, not through docker', () => {
    expect(decide(policy, jwtIdentity, shell(true), inPayments, options)).toMatchObject({ allow: false, code: 'EXEC_INTERACTIVE' })
    expect(decide(policy, bridgeIdentity, shell(true), inPayments, options)).toMatchObject({ allow: true, role: 'developer' })
  })

  it('a grant is for the session\'s exec only', () => {
    const start: RequestFacts = { method: 'POST', uri: '/x', path: '/x', query: {}, action: 'container.start', escapes: [], references: [], auditFields: {} }
    expect(decide(policy, bridgeIdentity, start, inPayments, options)).toMatchObject({ allow: false, code: 'BRIDGE_GRANT_SCOPE' })
  })

  it('the role still decides: a viewer may not exec through the bridge either', () => {
    expect(decide(policy, { ...bridgeIdentity, user: 'bob' }, shell(true), inPayments, options)).toMatchObject({ allow: false, code: 'ROLE_DENIES' })
  })

  it('exec command rules apply to bridge sessions', () => {
    const nsenter = readRequest(execCreateRequest('c'.repeat(64), { Cmd: ['/bin/sh', '-c', 'nsenter -t 1'], Tty: false, AttachStdin: true, AttachStdout: true, AttachStderr: true }))
    expect(decide(policy, bridgeIdentity, nsenter, inPayments, options)).toMatchObject({ allow: false, code: 'EXEC_COMMAND' })
  })
})

describe('bridge settings in the policy', () => {
  it('default to off, loopback 2222, /bin/sh, 15m idle, 8h at most', () => {
    expect(policy.bridge).toMatchObject({ enabled: false, host: '127.0.0.1', port: 2222, shell: ['/bin/sh'], idleTimeoutMs: 900_000, maxSessionMs: 28_800_000 })
    expect(policy.bridge.env.matches('LC_ALL')).toBe(true)
    expect(policy.bridge.env.matches('LD_PRELOAD')).toBe(false)
  })

  it('read listen addresses, IPv6 included, and durations', () => {
    const compiled = compilePolicy({ ...example, bridge: { enabled: true, listen: '[::1]:2200', idleTimeout: '30s', maxSession: '2h', env: ['LANG'] } })
    expect(compiled.bridge).toMatchObject({ enabled: true, host: '::1', port: 2200, idleTimeoutMs: 30_000, maxSessionMs: 7_200_000 })
  })

  it('refuse a bad port, a zero duration and unknown fields, naming the path', () => {
    const problems = (bridge: unknown): string[] => {
      try {
        compilePolicy({ ...example, bridge })
        return []
      } catch (err) {
        return (err as PolicyValidationError).problems.map((p) => `${p.path}: ${p.message}`)
      }
    }
    expect(problems({ listen: '127.0.0.1:70000' })).toEqual(['$.bridge.listen: port 70000 is not between 1 and 65535'])
    expect(problems({ idleTimeout: '0s' })).toEqual(['$.bridge.idleTimeout: must be longer than 0'])
    expect(problems({ listn: 'x' })[0]).toMatch(/unknown field "listn"/)
    expect(problems({ listen: 'nohost' })[0]).toMatch(/^\$\.bridge\.listen/)
  })
})
