// What changed between two policies (PCI DSS 10.2.1.5): the list a `policy.reload` record carries and
// `portcullis policy diff` prints. Each kind of change is named with its path; SSH keys appear as fingerprints only;
// a part of the policy the differ does not know is still reported, as "changed" at its path.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { compilePolicy, type PolicyDocument } from '../../src/policy/compile.js'
import { describeChange, diffPolicies, MAX_RECORDED_CHANGES, MAX_RECORDED_ENTRIES, recordedChanges, summarizeChanges, type PolicyChange } from '../../src/policy/policy-diff.js'
import { POLICY_SCHEMA } from '../../src/policy/schema.js'
import { PolicySource } from '../../src/policy/source.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-policy-diff-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function makeKey (name: string): { line: string, fingerprint: string } {
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', `${name}@laptop`, '-f', join(dir, name)])
  const line = readFileSync(join(dir, `${name}.pub`), 'utf8').trim()
  // What ssh-keygen itself prints: "256 SHA256:… comment (ED25519)".
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, `${name}.pub`)], { encoding: 'utf8' }).split(' ')[1]!
  return { line, fingerprint }
}

const key1 = makeKey('one')
const key2 = makeKey('two')

const BASE = {
  roles: {
    viewer: { allow: ['container.list', 'container.inspect'] },
    developer: { inherits: 'viewer', allow: ['container.*'], deny: ['container.export'], exec: { interactive: 'bridge-only' } },
    admin: { allow: ['*'], unsafe: true, elevation: { minLevel: 2 } }
  },
  projects: {
    web: { members: { alice: 'developer', bob: 'viewer' }, images: ['web/*'] },
    db: { members: { carol: 'admin' } }
  },
  global: { members: { ops: 'admin' } },
  users: { alice: { sshKeys: [key1.line], level: 1 } },
  elevation: { maxTtl: '8h' },
  bridge: { listen: '127.0.0.1:2222' } as Record<string, unknown>
}

function doc (edit: (d: typeof BASE & Record<string, any>) => void = () => {}): PolicyDocument {
  const input = structuredClone(BASE) as typeof BASE & Record<string, any>
  edit(input)
  return compilePolicy(input).document
}

function diff (edit: (d: typeof BASE & Record<string, any>) => void): PolicyChange[] {
  return diffPolicies(doc(), doc(edit))
}

describe('policy diff', () => {
  it('finds no change between a policy and itself, nor between one that leaves a default out and one that writes it', () => {
    expect(diffPolicies(doc(), doc())).toEqual([])
    expect(diff((d) => { d.bridge = { ...d.bridge, idleTimeout: '15m' } })).toEqual([])
  })

  it('names members added, removed and moved between roles, per project and globally', () => {
    const changes = diff((d) => {
      d.projects.web.members = { alice: 'viewer', dave: 'developer' } as any
      d.global.members = { ops: 'viewer', eve: 'admin' } as any
    })
    expect(changes).toEqual([
      { kind: 'member.added', path: '$.projects.web.members.dave', project: 'web', user: 'dave', role: 'developer' },
      { kind: 'member.moved', path: '$.projects.web.members.alice', project: 'web', user: 'alice', from: 'developer', to: 'viewer' },
      { kind: 'member.removed', path: '$.projects.web.members.bob', project: 'web', user: 'bob', role: 'viewer' },
      { kind: 'member.added', path: '$.global.members.eve', project: '*', user: 'eve', role: 'admin' },
      { kind: 'member.moved', path: '$.global.members.ops', project: '*', user: 'ops', from: 'admin', to: 'viewer' }
    ].sort(byPath))
    expect(changes.map(describeChange)).toContain('alice moved from developer to viewer in project web')
    expect(changes.map(describeChange)).toContain('eve added as admin globally')
    expect(summarizeChanges(changes)).toBe('2 members added, 2 members moved, 1 member removed')
  })

  it('names which part of a role changed: allow and deny patterns added and removed, inheritance, unsafe, exec rules', () => {
    const changes = diff((d) => {
      d.roles.developer = { inherits: ['viewer', 'admin'], allow: ['container.*', 'image.*'], deny: [], exec: { interactive: 'allow' } } as any
      d.roles.viewer.allow = ['container.list']
      ;(d.roles.admin as any).unsafe = false
    })
    expect(changes).toEqual(expect.arrayContaining([
      { kind: 'role.changed', path: '$.roles.developer.allow', role: 'developer', part: 'allow', added: ['image.*'] },
      { kind: 'role.changed', path: '$.roles.developer.deny', role: 'developer', part: 'deny', removed: ['container.export'] },
      { kind: 'role.changed', path: '$.roles.developer.inherits', role: 'developer', part: 'inherits', added: ['admin'] },
      { kind: 'role.changed', path: '$.roles.developer.exec.interactive', role: 'developer', part: 'exec', from: 'bridge-only', to: 'allow' },
      { kind: 'role.changed', path: '$.roles.viewer.allow', role: 'viewer', part: 'allow', removed: ['container.inspect'] },
      { kind: 'role.changed', path: '$.roles.admin.unsafe', role: 'admin', part: 'unsafe', from: true, to: false }
    ]))
    expect(changes).toHaveLength(6)
    expect(changes.map(describeChange)).toContain('role developer allow: added image.* ($.roles.developer.allow)')
  })

  it('names roles and projects added and removed, and the members a project brought or took with it', () => {
    const changes = diff((d) => {
      (d.roles as any).auditor = { allow: ['system.*'] }
      delete (d.projects as any).db
      ;(d.projects as any).api = { members: { frank: 'developer' } }
    })
    expect(changes).toEqual([
      { kind: 'project.added', path: '$.projects.api', project: 'api' },
      { kind: 'member.added', path: '$.projects.api.members.frank', project: 'api', user: 'frank', role: 'developer' },
      { kind: 'project.removed', path: '$.projects.db', project: 'db' },
      { kind: 'member.removed', path: '$.projects.db.members.carol', project: 'db', user: 'carol', role: 'admin' },
      { kind: 'role.added', path: '$.roles.auditor', role: 'auditor' }
    ])
  })

  it('names SSH keys added and removed by their SHA256 fingerprint as ssh-keygen prints it, never the key itself', () => {
    const changes = diff((d) => {
      d.users.alice.sshKeys = [key2.line]
      ;(d.users as any).grace = { sshKeys: [key1.line] }
    })
    expect(changes).toEqual([
      { kind: 'ssh-key.removed', path: '$.users.alice.sshKeys', user: 'alice', fingerprint: key1.fingerprint },
      { kind: 'ssh-key.added', path: '$.users.alice.sshKeys', user: 'alice', fingerprint: key2.fingerprint },
      { kind: 'user.added', path: '$.users.grace', user: 'grace' },
      { kind: 'ssh-key.added', path: '$.users.grace.sshKeys', user: 'grace', fingerprint: key1.fingerprint }
    ])
    expect(key1.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
    const printed = JSON.stringify(changes) + changes.map(describeChange).join('\n')
    for (const line of [key1.line, key2.line]) {
      expect(printed).not.toContain(line.split(' ')[1]!.slice(20, 60))
      expect(printed).not.toContain(line.split(' ')[2]!)
    }
  })

  it('reports a key whose options changed as changed, by fingerprint, without the options', () => {
    const changes = diff((d) => { d.users.alice.sshKeys = [`from="10.0.0.0/8" ${key1.line}`] })
    expect(changes).toEqual([{ kind: 'ssh-key.changed', path: '$.users.alice.sshKeys', user: 'alice', fingerprint: key1.fingerprint, part: 'options or comment' }])
  })

  it('names elevation rules changed at the top level, in a project and in a role', () => {
    const changes = diff((d) => {
      d.elevation.maxTtl = '2h'
      ;(d.projects.web as any).elevation = { autoApprove: true }
      d.roles.admin.elevation.minLevel = 3
    })
    expect(changes).toEqual([
      { kind: 'elevation.changed', path: '$.elevation.maxTtl', from: '8h', to: '2h' },
      { kind: 'elevation.changed', path: '$.projects.web.elevation.autoApprove', project: 'web', from: null, to: true },
      { kind: 'elevation.changed', path: '$.roles.admin.elevation.minLevel', role: 'admin', from: 2, to: 3 }
    ])
  })

  it('says a webhook URL changed without printing it (it may carry a secret)', () => {
    const changes = diff((d) => { (d.elevation as any).webhook = 'https://hooks.example.com/T0K3N' })
    expect(changes).toEqual([{ kind: 'elevation.changed', path: '$.elevation.webhook' }])
    expect(describeChange(changes[0]!)).toBe('elevation $.elevation.webhook: changed')
  })

  it('names every other setting by its path: bridge, tokens, image registries, project images and grants, users\' levels', () => {
    const changes = diff((d) => {
      d.bridge.listen = '0.0.0.0:2222'
      ;(d as any).tokens = { maxLifetime: '7d' }
      ;(d as any).images = { registries: ['docker.io'] }
      d.projects.web.images = ['web/*', 'api/*']
      ;(d.projects.web as any).grants = { ports: [{ hostIp: '127.0.0.1', ports: '8080' }] }
      d.users.alice.level = 2
    })
    expect(changes).toEqual([
      { kind: 'setting.changed', path: '$.bridge.listen', from: '127.0.0.1:2222', to: '0.0.0.0:2222' },
      { kind: 'setting.changed', path: '$.images.registries', added: ['docker.io'] },
      { kind: 'setting.changed', path: '$.projects.web.grants.ports', added: ['{"hostIp":"127.0.0.1","ports":"8080"}'] },
      { kind: 'setting.changed', path: '$.projects.web.images', added: ['api/*'] },
      { kind: 'setting.changed', path: '$.tokens.maxLifetime', from: '90d', to: '7d' },
      { kind: 'setting.changed', path: '$.users.alice.level', user: 'alice', part: 'level', from: 1, to: 2 }
    ])
    expect(describeChange(changes[0]!)).toBe('changed: $.bridge.listen: "127.0.0.1:2222" → "0.0.0.0:2222"')
  })

  it('fails closed: a field the differ does not know (a schema that grew one) is reported as changed at its path', () => {
    const before = doc()
    const after = structuredClone(before) as any
    after.sessions = { recordKeystrokes: true }
    after.roles.developer.approvalNeeded = true
    after.projects.web.quota = 3
    after.users.alice.mfa = 'totp'
    after.global.owners = ['ops']
    const changes = diffPolicies(before, after)
    expect(changes.map(describeChange)).toEqual([
      'changed: $.global.owners: added ops',
      'changed: $.projects.web.quota: (unset) → 3',
      'role developer approvalNeeded: (unset) → true ($.roles.developer.approvalNeeded)',
      'changed: $.sessions.recordKeystrokes: (unset) → true',
      'changed: $.users.alice.mfa: (unset) → "totp"'
    ])
  })

  it('compares every part the schema names: changing any of them is a change', () => {
    const base = doc() as any
    const probe = { probe: 1 }
    const parts: Array<[string, (d: any) => void]> = [
      ...Object.keys(POLICY_SCHEMA.properties).map((k): [string, (d: any) => void] => [`$.${k}`, (d) => { d[k] = probe }]),
      ...Object.keys(POLICY_SCHEMA.properties.roles.additionalProperties.properties).map((k): [string, (d: any) => void] => [`role ${k}`, (d) => { d.roles.developer[k] = probe }]),
      ...Object.keys(POLICY_SCHEMA.properties.projects.additionalProperties.properties).map((k): [string, (d: any) => void] => [`project ${k}`, (d) => { d.projects.web[k] = probe }]),
      ...Object.keys(POLICY_SCHEMA.properties.users.additionalProperties.properties).map((k): [string, (d: any) => void] => [`user ${k}`, (d) => { d.users.alice[k] = probe }])
    ]
    for (const [name, edit] of parts) {
      const after = structuredClone(base)
      edit(after)
      expect(diffPolicies(base, after).length, name).toBeGreaterThan(0)
    }
  })

  it('keeps a record bounded: the first changes and how many more', () => {
    const before = doc()
    const after = structuredClone(before)
    for (let i = 0; i < MAX_RECORDED_CHANGES + 25; i++) after.projects.web!.members[`user${String(i).padStart(3, '0')}`] = 'viewer'
    const all = diffPolicies(before, after)
    expect(all).toHaveLength(MAX_RECORDED_CHANGES + 25)
    const recorded = recordedChanges(all)
    expect(recorded.changes).toHaveLength(MAX_RECORDED_CHANGES)
    expect(recorded.changesOmitted).toBe(25)
    expect(recordedChanges(all.slice(0, 3))).toEqual({ changes: all.slice(0, 3) })
  })

  it('keeps each change bounded in a record: at most MAX_RECORDED_ENTRIES patterns added, and how many more', () => {
    const patterns = Array.from({ length: MAX_RECORDED_ENTRIES + 7 }, (_, i) => `container.p${i}`)
    const before = doc()
    const after = structuredClone(before)
    after.roles.viewer!.allow = [...after.roles.viewer!.allow ?? [], ...patterns]
    const [change] = diffPolicies(before, after)
    expect(change!.added).toHaveLength(MAX_RECORDED_ENTRIES + 7)
    const [recorded] = recordedChanges([change!]).changes
    expect(recorded).toMatchObject({ kind: 'role.changed', part: 'allow', added: patterns.slice(0, MAX_RECORDED_ENTRIES), addedOmitted: 7 })
  })

  it('summarizes in one line, and says when nothing changed', () => {
    expect(summarizeChanges([])).toBe('no change')
  })
})

function byPath (a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0
}

describe('a fleet revision applied', () => {
  it('reports what it changed from the revision before, and no change when only the revision number moved', () => {
    const first = JSON.stringify(BASE)
    const source = new PolicySource('fleet', undefined, { text: first, revision: { revision: 1, publisher: 'p', publishedAt: '2026-12-01T00:00:00Z', rollback: false } })
    const next = structuredClone(BASE) as any
    next.projects.db.members.carol = 'viewer'
    const applied = source.applyRevision(JSON.stringify(next), { revision: 2, publisher: 'p', publishedAt: '2026-12-02T00:00:00Z', rollback: false })
    expect(applied.changes).toEqual([{ kind: 'member.moved', path: '$.projects.db.members.carol', project: 'db', user: 'carol', from: 'admin', to: 'viewer' }])
    const again = source.applyRevision(JSON.stringify(next, null, 2), { revision: 3, publisher: 'p', publishedAt: '2026-12-03T00:00:00Z', rollback: false })
    expect(again).toMatchObject({ ok: true, changed: true, changes: [] })
  })
})
