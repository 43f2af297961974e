// Policy defaults live only in the schema (src/policy/schema.ts): a policy that leaves a setting out gets the
// schema's `default`, whether it leaves out the setting or its whole section.
import { describe, expect, it } from 'vitest'
import { decide } from '../../src/core/decide.js'
import { durationMs } from '../../src/core/duration.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { AUDIT_DEFAULTS, BRIDGE_DEFAULTS, ELEVATION_DEFAULTS, POLICY_SCHEMA, TOKEN_DEFAULTS } from '../../src/policy/schema.js'

const minimal = { roles: { developer: { allow: ['container.list'] } }, projects: { payments: { members: { alice: 'developer' } } } }
const bridgeOnly = { roles: { developer: { allow: ['container.exec'], exec: { interactive: 'bridge-only' } } }, projects: { payments: { members: { alice: 'developer' } } } }

/** Every `default` the schema gives the settings of one section. */
function schemaDefaults (section: 'bridge' | 'audit' | 'tokens' | 'elevation'): Record<string, unknown> {
  const properties = POLICY_SCHEMA.properties[section].properties as Record<string, { default?: unknown }>
  return Object.fromEntries(Object.entries(properties).filter(([, setting]) => 'default' in setting).map(([key, setting]) => [key, setting.default]))
}

describe('policy defaults come from the schema', () => {
  it('the exported defaults are exactly the schema\'s, section by section', () => {
    expect(BRIDGE_DEFAULTS).toEqual(schemaDefaults('bridge'))
    expect(AUDIT_DEFAULTS).toEqual(schemaDefaults('audit'))
    expect(TOKEN_DEFAULTS).toEqual(schemaDefaults('tokens'))
    expect(ELEVATION_DEFAULTS).toEqual(schemaDefaults('elevation'))
    // Each section has some: a schema change that drops them all would make these checks empty.
    for (const defaults of [BRIDGE_DEFAULTS, AUDIT_DEFAULTS, TOKEN_DEFAULTS, ELEVATION_DEFAULTS]) expect(Object.keys(defaults).length).toBeGreaterThan(0)
  })

  it('a policy without a bridge section gets the schema\'s bridge settings', () => {
    const bridge = compilePolicy(minimal).bridge
    const d = schemaDefaults('bridge') as Record<string, any>
    const colon = d.listen.lastIndexOf(':')
    expect(bridge).toMatchObject({
      enabled: d.enabled,
      required: d.required,
      host: d.listen.slice(0, colon),
      port: Number(d.listen.slice(colon + 1)),
      shell: d.shell,
      idleTimeoutMs: durationMs(d.idleTimeout),
      maxSessionMs: durationMs(d.maxSession),
      hostname: null,
      loginGraceMs: durationMs(d.loginGraceTime),
      maxConnectionsPerUser: d.maxConnectionsPerUser,
      maxSessionsPerConnection: d.maxSessionsPerConnection
    })
    expect(bridge.startups.perSource).toBe(d.perSourceMaxStartups)
    const [start, rate, full] = (d.maxStartups as string).split(':').map(Number)
    expect(bridge.startups.maxStartups).toEqual({ start, rate, full })
    const [v4, v6] = (d.perSourceNetBlockSize as string).split(':').map(Number)
    expect(bridge.startups.netBlock).toEqual({ v4, v6 })
    for (const name of d.env as string[]) expect(bridge.env.matches(name.replace('*', 'ALL'))).toBe(true)
    expect(bridge.env.matches('PATH')).toBe(false)
  })

  it('a bridge section that sets one thing gets the schema\'s default for the rest', () => {
    const bridge = compilePolicy({ ...minimal, bridge: { enabled: true } }).bridge
    expect(bridge.enabled).toBe(true)
    expect(bridge.idleTimeoutMs).toBe(durationMs(BRIDGE_DEFAULTS.idleTimeout))
    expect(bridge.maxSessionsPerConnection).toBe(BRIDGE_DEFAULTS.maxSessionsPerConnection)
  })

  it('a policy without audit or tokens sections gets the schema\'s checkpoint interval, checkpoint size, no retention and token lifetime', () => {
    const policy = compilePolicy(minimal)
    expect(policy.audit).toEqual({ checkpointIntervalMs: durationMs(AUDIT_DEFAULTS.checkpointInterval), checkpointRecords: AUDIT_DEFAULTS.checkpointRecords, retentionMs: null, verifyIntervalMs: durationMs(AUDIT_DEFAULTS.verifyInterval), auditors: new Set() })
    expect(policy.tokens.maxLifetimeMs).toBe(durationMs(TOKEN_DEFAULTS.maxLifetime))
  })

  it('a policy without an elevation section gets the schema\'s elevation settings, and minLevel 0', () => {
    const policy = compilePolicy(minimal)
    expect(policy.elevationFor('payments', 'developer')).toEqual({
      maxTtlMs: durationMs(ELEVATION_DEFAULTS.maxTtl),
      maxSteps: ELEVATION_DEFAULTS.maxSteps,
      requestTtlMs: durationMs(ELEVATION_DEFAULTS.requestTtl),
      autoApprove: ELEVATION_DEFAULTS.autoApprove,
      minLevel: 0,
      webhook: null
    })
    expect(policy.requestLimits).toEqual({ requestsPerHour: ELEVATION_DEFAULTS.requestsPerHour, maxPending: ELEVATION_DEFAULTS.maxPending, retentionMs: durationMs(ELEVATION_DEFAULTS.retention) })
  })

  it('a bridge-only refusal points to the policy\'s bridge port, which is the schema\'s listen default when the policy names none', () => {
    const shell = { method: 'POST', uri: '/x', path: '/x', query: {}, action: 'container.exec', escapes: [], references: [], auditFields: {}, exec: { cmd: ['sh'], tty: true, attachStdin: true, privileged: false, user: '', envNames: [] } }
    const inPayments = { target: { ref: { kind: 'container' as const, ref: 'web-1' }, exists: true, project: 'payments' }, references: [] }
    const hint = (policy: unknown): string => decide(compilePolicy(policy), { user: 'alice', method: 'jwt' }, shell, inPayments, { pluginName: 'portcullis' }).reason
    const port = BRIDGE_DEFAULTS.listen.slice(BRIDGE_DEFAULTS.listen.lastIndexOf(':') + 1)
    expect(hint(bridgeOnly)).toContain(`ssh -p ${port} `)
    expect(hint({ ...bridgeOnly, bridge: { listen: '0.0.0.0:2200' } })).toContain('ssh -p 2200 ')
  })
})
