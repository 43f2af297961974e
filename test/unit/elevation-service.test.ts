import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { AuditRecord } from '../../src/audit/record.js'
import { AuditStore } from '../../src/audit/store.js'
import { ManualClock } from '../fakes/clock.js'
import { GrantSessions } from '../../src/elevation/grant-sessions.js'
import type { ElevationRequest } from '../../src/elevation/request.js'
import { ElevationService, type ElevationServiceOptions } from '../../src/elevation/service.js'
import { compilePolicy, type CompiledPolicy } from '../../src/policy/compile.js'
import type { Grant } from '../../src/core/grant.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-elevation-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0
const freshDir = (): string => join(root, `store-${++dirs}`)

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const T0 = Date.parse('2026-05-01T12:00:00Z')

function policyDocument (elevation: Record<string, unknown> = {}, projectElevation: Record<string, unknown> = {}): unknown {
  return {
    version: 1,
    roles: {
      viewer: { allow: ['container.list', 'container.inspect'] },
      developer: { inherits: 'viewer', allow: ['container.start'] },
      operator: { inherits: 'developer', allow: ['container.remove'] },
      admin: { inherits: 'operator', allow: ['*'], unsafe: true },
      auditor: { inherits: 'viewer', allow: ['container.logs'] }
    },
    projects: {
      payments: {
        members: { alice: 'developer', bob: 'viewer', carol: 'operator', dana: 'admin' },
        elevation: { approvers: ['operator', 'admin'], ...projectElevation }
      },
      web: { members: { alice: 'viewer', erin: 'admin' } }
    },
    global: { members: { ops: 'admin' } },
    users: { alice: { level: 2 }, bob: { level: 1 }, carol: { level: 3 }, frank: { level: 0 } },
    elevation: { maxTtl: '8h', maxSteps: 1, requestTtl: '1h', minLevel: { admin: 3 }, ...elevation }
  }
}

interface Harness {
  dir: string
  store: AuditStore
  service: ElevationService
  clock: ManualClock
  policy: { current: CompiledPolicy }
  ended: Array<{ grant: Grant, message: string }>
}

const open: Harness[] = []

async function harness (options: { dir?: string, clock?: ManualClock, policy?: unknown, webhook?: ElevationServiceOptions['webhook'] } = {}): Promise<Harness> {
  const dir = options.dir ?? freshDir()
  const store = await AuditStore.open(dir)
  const clock = options.clock ?? new ManualClock()
  const policy = { current: compilePolicy(options.policy ?? policyDocument()) }
  const service = await ElevationService.open({ audit: store, policy, clock, ...(options.webhook !== undefined ? { webhook: options.webhook } : {}) })
  const ended: Harness['ended'] = []
  service.on('grant-ended', (grant, message) => ended.push({ grant, message }))
  await service.start()
  const h = { dir, store, service, clock, policy, ended }
  open.push(h)
  return h
}

async function shut (h: Harness): Promise<void> {
  open.splice(open.indexOf(h), 1)
  await h.service.close()
  await h.store.close()
}

afterEach(async () => {
  for (const h of [...open]) await shut(h)
})

async function elevationRecords (store: AuditStore): Promise<AuditRecord[]> {
  const records: AuditRecord[] = []
  for await (const record of store.read()) if (record.kind === 'elevation') records.push(record)
  return records
}

const ask = (service: ElevationService, user: string, input: Partial<{ project: string, role: string, ttl: string | number, reason: string }> = {}): Promise<ElevationRequest> =>
  service.create({ user }, { project: 'payments', role: 'operator', ttl: '2h', reason: 'INC-42: restart the stuck worker', ...input })

describe('elevation rules', () => {
  it('takes a request one step above the held role and records it', async () => {
    const { service, store } = await harness()
    const request = await ask(service, 'alice')
    expect(request).toMatchObject({ user: 'alice', project: 'payments', role: 'operator', heldRole: 'developer', ttlMs: 2 * HOUR, state: 'pending', createdAt: T0, pendingUntil: T0 + HOUR })
    expect(request.id).toMatch(/^r-[0-9a-f]{12}$/)
    const [record] = await elevationRecords(store)
    expect(record).toMatchObject({ kind: 'elevation', action: 'elevation.request', user: 'alice', project: 'payments', role: 'operator' })
    expect(record!.fields).toMatchObject({ request: request.id, role: 'operator', project: 'payments', ttlMs: 2 * HOUR, reason: 'INC-42: restart the stuck worker', autoApproved: false, decidedBy: null })
    expect(record!.reason).toContain('alice asked for operator in payments for 2h (holds developer)')
  })

  it('refuses unknown projects and roles, naming the known ones', async () => {
    const { service } = await harness()
    await expect(ask(service, 'alice', { project: 'payrol' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_UNKNOWN_PROJECT', status: 400, message: expect.stringContaining('payments, web') })
    await expect(ask(service, 'alice', { role: 'operater' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_UNKNOWN_ROLE', message: expect.stringContaining('viewer, developer, operator') })
  })

  it('refuses a role already held, or one not above the held role', async () => {
    const { service } = await harness()
    await expect(ask(service, 'alice', { role: 'developer' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_ALREADY_HELD', status: 409 })
    await expect(ask(service, 'alice', { role: 'viewer' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_ALREADY_HELD' })
    const notAbove = ask(service, 'alice', { role: 'auditor' })
    await expect(notAbove).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_NOT_ABOVE', status: 403 })
    await expect(notAbove).rejects.toThrow(/You may ask for: operator\./)
  })

  it('refuses a gap wider than maxSteps and says what is within reach', async () => {
    const { service } = await harness()
    const gap = ask(service, 'bob')
    await expect(gap).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_TOO_FAR', status: 403 })
    await expect(gap).rejects.toThrow('operator in payments is 2 steps above your role viewer, and requests there may reach 1 step. You may ask for: developer, auditor.')
    // Not a member: counted from below the roles that inherit nothing; refused, he learns nothing about the project.
    await expect(ask(service, 'frank', { role: 'developer' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_UNKNOWN_PROJECT', message: expect.stringContaining('you are a member of no project') })
    await expect(ask(service, 'frank', { role: 'viewer' })).resolves.toMatchObject({ heldRole: null, state: 'pending' })
  })

  it('caps the TTL at maxTtl, with per-role overrides', async () => {
    const doc = policyDocument() as { roles: Record<string, Record<string, unknown>> }
    doc.roles.operator!.elevation = { maxTtl: '2h' }
    const { service } = await harness({ policy: doc })
    await expect(ask(service, 'alice', { ttl: '3h' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_TTL_TOO_LONG', message: expect.stringContaining('at most 2h; ask again with --ttl 2h') })
    await expect(ask(service, 'alice', { ttl: 7200 })).resolves.toMatchObject({ ttlMs: 2 * HOUR })
  })

  it('checks the shape of the input', async () => {
    const { service } = await harness()
    await expect(ask(service, 'alice', { ttl: 'soon' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_BAD_INPUT', status: 400 })
    await expect(ask(service, 'alice', { reason: '  ' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_BAD_INPUT', message: expect.stringContaining('reason') })
    await expect(service.create({ user: 'alice' }, null)).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_BAD_INPUT' })
  })

  it('refuses a role whose minLevel the user lacks', async () => {
    const { service } = await harness({ policy: policyDocument({ maxSteps: 2 }) })
    await expect(ask(service, 'alice', { role: 'admin' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_LEVEL_TOO_LOW', status: 403, message: expect.stringContaining('needs clearance level 3 and alice has 2') })
    await expect(ask(service, 'carol', { role: 'admin' })).resolves.toMatchObject({ state: 'pending' })
  })

  it('allows one pending request per user, project and role, and none while a grant runs', async () => {
    const { service } = await harness()
    const first = await ask(service, 'alice')
    await expect(ask(service, 'alice')).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_DUPLICATE', status: 409, message: expect.stringContaining(first.id) })
    await service.approve(first.id, { user: 'carol' })
    await expect(ask(service, 'alice')).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_DUPLICATE', message: expect.stringContaining('grant g-') })
    // Another user, or another project, is another request.
    await expect(ask(service, 'bob', { role: 'developer' })).resolves.toMatchObject({ state: 'pending' })
  })

  it('refuses self-approval, even to an approver of the project', async () => {
    const { service } = await harness({ policy: policyDocument({ minLevel: {} }) })
    const own = await ask(service, 'carol', { role: 'admin' })
    await expect(service.approve(own.id, { user: 'carol' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_SELF_APPROVAL', status: 403, message: expect.stringContaining('dana, ops') })
    await expect(service.deny(own.id, { user: 'carol' }, 'no')).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_SELF_APPROVAL' })
    await expect(service.approve(own.id, { user: 'ops' })).resolves.toMatchObject({ state: 'approved', decidedBy: 'ops' })
  })

  it('lets only approvers of the project (or global admins) decide', async () => {
    const { service } = await harness()
    const request = await ask(service, 'alice')
    // bob is a member but no approver: he may not even see it.
    await expect(service.approve(request.id, { user: 'bob' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_NOT_FOUND', status: 404 })
    // erin is admin of another project.
    await expect(service.approve(request.id, { user: 'erin' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_NOT_FOUND' })
    await expect(service.approve('r-000000000000', { user: 'carol' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_NOT_FOUND' })
    await expect(service.approve(request.id, { user: 'ops' })).resolves.toMatchObject({ state: 'approved', decidedBy: 'ops' })
    await expect(service.approve(request.id, { user: 'carol' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_NOT_PENDING', status: 409 })
  })

  it('auto-approves when the policy says so, and records both steps', async () => {
    const { service, store } = await harness({ policy: policyDocument({}, { autoApprove: true }) })
    const request = await ask(service, 'alice')
    expect(request).toMatchObject({ state: 'approved', autoApproved: true, decidedBy: 'portcullis', grant: { expiresAt: T0 + 2 * HOUR } })
    expect(service.activeGrants('alice', T0)).toEqual([{ id: request.grant!.id, user: 'alice', project: 'payments', role: 'operator', expiresAt: T0 + 2 * HOUR, request: request.id }])
    const records = await elevationRecords(store)
    expect(records.map((r) => r.action)).toEqual(['elevation.request', 'elevation.approve'])
    expect(records[1]!.fields).toMatchObject({ autoApproved: true, decidedBy: 'portcullis', grant: request.grant!.id })
    // Still not above maxSteps: auto-approval never widens the rules.
    await expect(ask(service, 'bob')).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_TOO_FAR' })
  })
})

describe('elevation lifecycle', () => {
  it('approves, grants until the TTL, then ends the grant and says so', async () => {
    const { service, store, clock, ended } = await harness()
    const request = await ask(service, 'alice')
    clock.advance(10 * MINUTE)
    const approved = await service.approve(request.id, { user: 'carol' }, 'go ahead')
    expect(approved).toMatchObject({ state: 'approved', decidedBy: 'carol', decidedAt: T0 + 10 * MINUTE, decisionReason: 'go ahead', autoApproved: false })
    const grant = approved.grant!
    expect(grant.id).toMatch(/^g-[0-9a-f]{12}$/)
    expect(grant.expiresAt).toBe(T0 + 10 * MINUTE + 2 * HOUR)
    expect(service.activeGrants('alice', clock.now())).toHaveLength(1)
    expect(service.activeGrants('bob', clock.now())).toEqual([])
    expect(service.isActive(grant.id)).toBe(true)

    // Time alone ends it, even before the deadline is handled.
    expect(service.activeGrants('alice', grant.expiresAt)).toEqual([])

    clock.advance(2 * HOUR)
    await service.settled()
    expect(service.isActive(grant.id)).toBe(false)
    expect(service.get(request.id, 'alice')).toMatchObject({ state: 'approved', endedAt: grant.expiresAt })
    expect(ended).toEqual([{ grant: expect.objectContaining({ id: grant.id, user: 'alice', role: 'operator' }), message: expect.stringContaining(`the grant ${grant.id} (operator in payments) this session relied on ran out`) }])
    const records = await elevationRecords(store)
    expect(records.map((r) => r.action)).toEqual(['elevation.request', 'elevation.approve', 'elevation.end'])
    expect(records[2]!.user).toBe('alice')
    expect(records[2]!.fields).toMatchObject({ request: request.id, grant: grant.id, by: 'portcullis' })
    // No deadline left: only the hourly sweep of finished requests.
    expect(clock.pending).toBe(1)
    expect((await store.verify()).ok).toBe(true)
    await expect(service.revoke(request.id, { user: 'alice' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_NOT_REVOCABLE', message: expect.stringContaining('grant ended') })
  })

  it('expires a pending request nobody decided', async () => {
    const { service, store, clock } = await harness()
    const request = await ask(service, 'alice')
    clock.advance(HOUR - 1)
    await service.settled()
    expect(service.get(request.id, null).state).toBe('pending')
    clock.advance(1)
    await service.settled()
    expect(service.get(request.id, null)).toMatchObject({ state: 'expired', decidedBy: 'portcullis' })
    expect((await elevationRecords(store)).map((r) => r.action)).toEqual(['elevation.request', 'elevation.expire'])
    await expect(service.approve(request.id, { user: 'carol' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_NOT_PENDING', message: expect.stringContaining('is expired') })
    // A new request may follow.
    await expect(ask(service, 'alice')).resolves.toMatchObject({ state: 'pending' })
  })

  it('denies with a reason', async () => {
    const { service, store } = await harness()
    const request = await ask(service, 'alice')
    await expect(service.deny(request.id, { user: 'carol' }, ' ')).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_BAD_INPUT' })
    const denied = await service.deny(request.id, { user: 'carol' }, 'use the runbook instead')
    expect(denied).toMatchObject({ state: 'denied', decidedBy: 'carol', decisionReason: 'use the runbook instead' })
    expect(denied.grant).toBeUndefined()
    const records = await elevationRecords(store)
    expect(records.at(-1)).toMatchObject({ action: 'elevation.deny', user: 'alice', fields: expect.objectContaining({ decidedBy: 'carol', decisionReason: 'use the runbook instead', by: 'carol' }) })
  })

  it('revokes a running grant (approver) and withdraws a pending request (requester)', async () => {
    const { service, store, ended } = await harness()
    const first = await ask(service, 'alice')
    const approved = await service.approve(first.id, { user: 'carol' })
    await expect(service.revoke(first.id, { user: 'bob' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_NOT_FOUND' })
    const revoked = await service.revoke(first.id, { user: 'dana' }, 'incident closed')
    expect(revoked).toMatchObject({ state: 'revoked', revokedBy: 'dana', revokeReason: 'incident closed', endedAt: T0 })
    expect(service.activeGrants('alice', T0)).toEqual([])
    expect(ended).toEqual([{ grant: expect.objectContaining({ id: approved.grant!.id }), message: expect.stringContaining('dana revoked the grant') }])

    const second = await ask(service, 'alice')
    await expect(service.revoke(second.id, { user: 'alice' })).resolves.toMatchObject({ state: 'revoked', revokedBy: 'alice' })
    await expect(service.revoke(second.id, { user: 'alice' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_NOT_REVOCABLE', status: 409 })
    const actions = (await elevationRecords(store)).map((r) => r.action)
    expect(actions).toEqual(['elevation.request', 'elevation.approve', 'elevation.revoke', 'elevation.request', 'elevation.revoke'])
  })

  it('lists own requests, and pending or running ones in projects the user approves', async () => {
    const { service, clock } = await harness()
    const alice = await ask(service, 'alice')
    clock.advance(1000)
    const bob = await ask(service, 'bob', { role: 'developer' })
    clock.advance(1000)
    const frank = await ask(service, 'frank', { project: 'web', role: 'viewer' })
    expect(service.list('alice').map((r) => r.id)).toEqual([alice.id])
    expect(service.list('carol').map((r) => r.id)).toEqual([bob.id, alice.id])
    expect(service.list('erin').map((r) => r.id)).toEqual([frank.id])
    expect(service.list('ops').map((r) => r.id)).toEqual([frank.id, bob.id, alice.id])
    expect(service.list(null)).toHaveLength(3)
    await service.deny(bob.id, { user: 'carol' }, 'no')
    expect(service.list('carol').map((r) => r.id)).toEqual([alice.id])
    expect(service.list('bob').map((r) => r.id)).toEqual([bob.id])
  })

  it('refuses a step the audit store cannot record, and changes nothing', async () => {
    const { service, store } = await harness()
    const request = await ask(service, 'alice')
    await store.close()
    await expect(service.approve(request.id, { user: 'carol' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_UNAVAILABLE', status: 503 })
    expect(service.get(request.id, null).state).toBe('pending')
    expect(service.activeGrants('alice', T0)).toEqual([])
  })
})

describe('elevation persistence', () => {
  it('reloads pending requests and running grants, and ends what ran out while stopped', async () => {
    const clock = new ManualClock()
    const first = await harness({ clock })
    const { service } = first
    const pending = await ask(service, 'alice')
    const shortGrant = await service.approve((await ask(service, 'bob', { role: 'developer', ttl: '30m' })).id, { user: 'carol' })
    const longGrant = await service.approve((await ask(service, 'carol', { role: 'admin', ttl: '4h' })).id, { user: 'ops' })
    const dir = first.dir
    await shut(first)

    // Stopped for 45 minutes: the pending request (1h) is still open, bob's 30m grant ran out meanwhile.
    clock.advance(45 * MINUTE)
    const second = await harness({ dir, clock })
    expect(second.service.get(pending.id, null).state).toBe('pending')
    expect(second.service.get(shortGrant.id, null)).toMatchObject({ state: 'approved', endedAt: T0 + 45 * MINUTE })
    expect(second.service.activeGrants('bob', clock.now())).toEqual([])
    expect(second.service.activeGrants('carol', clock.now()).map((g) => g.id)).toEqual([longGrant.grant!.id])
    expect(second.ended.map((e) => e.grant.id)).toEqual([shortGrant.grant!.id])

    // The re-armed deadlines fire at the original times.
    clock.advance(15 * MINUTE)
    await second.service.settled()
    expect(second.service.get(pending.id, null).state).toBe('expired')
    clock.advance(3 * HOUR)
    await second.service.settled()
    expect(second.service.activeGrants('carol', clock.now())).toEqual([])
    expect(second.ended.map((e) => e.grant.id)).toEqual([shortGrant.grant!.id, longGrant.grant!.id])

    const actions = (await elevationRecords(second.store)).map((r) => `${r.action} ${String(r.fields?.request)}`)
    expect(actions.slice(-3)).toEqual([`elevation.end ${shortGrant.id}`, `elevation.expire ${pending.id}`, `elevation.end ${longGrant.id}`])
    expect((await second.store.verify()).ok).toBe(true)
  })

  it('counts running grants as soon as the store is opened, before start()', async () => {
    const clock = new ManualClock()
    const first = await harness({ clock, policy: policyDocument({}, { autoApprove: true }) })
    const granted = await ask(first.service, 'alice')
    const dir = first.dir
    await shut(first)
    const store = await AuditStore.open(dir)
    const service = await ElevationService.open({ audit: store, policy: { current: compilePolicy(policyDocument()) }, clock })
    try {
      expect(service.activeGrants('alice', clock.now()).map((g) => g.request)).toEqual([granted.id])
    } finally {
      await service.close()
      await store.close()
    }
  })
})

describe('grant sessions', () => {
  it('ends the sessions tied to a grant when it ends, and at once when it already has', async () => {
    const { service } = await harness({ policy: policyDocument({}, { autoApprove: true }) })
    const sessions = new GrantSessions(service)
    const grant = (await ask(service, 'alice')).grant!
    const ends: string[] = []
    const session = (name: string): { terminate: (reason: 'grant-ended', message: string) => void } =>
      ({ terminate: (reason, message) => { ends.push(`${name} ${reason} ${message}`) } })
    const releaseA = sessions.hold(grant.id, session('a'))
    sessions.hold(grant.id, session('b'))
    releaseA()
    expect(sessions.size).toBe(1)
    const request = service.list('alice')[0]!
    await service.revoke(request.id, { user: 'carol' })
    expect(ends).toEqual([expect.stringMatching(/^b grant-ended carol revoked the grant g-\w+ \(operator in payments\) this session relied on, so portcullis ends it$/)])
    sessions.hold(grant.id, session('c'))
    expect(ends[1]).toMatch(/^c grant-ended the grant g-\w+ this session relied on has ended$/)
    expect(sessions.size).toBe(0)
    sessions.close()
  })
})

describe('elevation webhook', () => {
  let server: http.Server
  let url: string
  let hits: Array<{ event: string, request: ElevationRequest, time: string }>
  let answer: (n: number) => number | 'hang'

  beforeEach(async () => {
    hits = []
    answer = () => 200
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        hits.push(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        const status = answer(hits.length)
        if (status === 'hang') return
        res.writeHead(status).end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  })

  afterEach(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  it('posts every step of the project, retrying with backoff until the hook answers', async () => {
    answer = (n) => n <= 2 ? 500 : 200
    const { service } = await harness({ policy: policyDocument({}, { webhook: url }), webhook: { retryDelaysMs: [10, 20, 40, 80] } })
    const started = Date.now()
    const request = await ask(service, 'alice')
    await service.settled()
    expect(Date.now() - started).toBeGreaterThanOrEqual(30)
    expect(hits).toHaveLength(3)
    expect(hits.every((h) => h.event === 'elevation.request' && h.request.id === request.id)).toBe(true)
    expect(Date.parse(hits[0]!.time)).toBe(T0)

    await service.approve(request.id, { user: 'carol' })
    await service.settled()
    expect(hits.slice(3).map((h) => [h.event, h.request.state])).toEqual([['elevation.approve', 'approved']])
  })

  it('gives up after five tries without holding anything up', async () => {
    answer = () => 503
    const { service } = await harness({ policy: policyDocument({ webhook: url }), webhook: { retryDelaysMs: [5, 5, 5, 5] } })
    await ask(service, 'alice')
    await service.settled()
    expect(hits).toHaveLength(5)
  })

  it('times out a hook that never answers, and close() abandons its retries', async () => {
    answer = () => 'hang'
    const { service } = await harness({ policy: policyDocument({ webhook: url }), webhook: { timeoutMs: 50, retryDelaysMs: [60_000] } })
    const request = await ask(service, 'alice')
    expect(request.state).toBe('pending')
    // Past the hook's 50 ms timeout (the product's timer under test): the retry is now scheduled 60 s out.
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(hits).toHaveLength(1)
    const closing = Date.now()
    await service.close()
    await service.settled()
    expect(Date.now() - closing).toBeLessThan(1000)
  })
})

describe('elevation limits and what refusals tell', () => {
  it('a non-member is told only their own projects: an unknown project and one they may not ask in read alike, naming no approvers', async () => {
    const { service } = await harness()
    // erin is admin in web only; operator in payments is out of reach from no role.
    const existing = ask(service, 'erin', { project: 'payments', role: 'operator' })
    await expect(existing).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_UNKNOWN_PROJECT', status: 400 })
    const missing = ask(service, 'erin', { project: 'payroll', role: 'operator' })
    await expect(missing).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_UNKNOWN_PROJECT', status: 400 })
    const [a, b] = await Promise.all([existing.then(() => '', (err: Error) => err.message), missing.then(() => '', (err: Error) => err.message)])
    expect(a.replace('"payments"', 'X')).toBe(b.replace('"payroll"', 'X'))
    expect(a).toContain('your projects: web')
    for (const secret of ['carol', 'dana', 'ops', 'alice', 'You may ask for']) expect(a).not.toContain(secret)
    // A member still hears what is within reach, and whom to ask.
    await expect(ask(service, 'bob')).rejects.toThrow(/You may ask for: developer, auditor/)
  })

  it('refuses more than requestsPerHour requests from one user, withdrawn ones counted, with a time to retry; recorded once a minute, the rest counted in a summary', async () => {
    const { service, store, clock } = await harness({ policy: policyDocument({ requestsPerHour: 3 }) })
    for (let i = 0; i < 3; i++) {
      const request = await ask(service, 'alice')
      await service.revoke(request.id, { user: 'alice' })
      clock.advance(MINUTE)
    }
    const refused = ask(service, 'alice')
    await expect(refused).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_RATE_LIMITED', status: 429, retryAfterSeconds: 57 * 60, message: expect.stringContaining('try again in 3420 seconds') })
    for (let i = 0; i < 10; i++) await expect(ask(service, 'alice')).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_RATE_LIMITED' })
    // Someone else is not held up.
    await expect(ask(service, 'bob', { role: 'developer' })).resolves.toMatchObject({ state: 'pending' })

    let limited = (await elevationRecords(store)).filter((r) => r.action === 'elevation.rate-limited')
    expect(limited).toHaveLength(1)
    expect(limited[0]).toMatchObject({ user: 'alice', code: 'PORTCULLIS_ELEVATION_RATE_LIMITED', fields: expect.objectContaining({ limit: 3, recent: 3, retryAfterSeconds: 3420 }) })
    clock.advance(MINUTE)
    await expect(ask(service, 'alice')).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_RATE_LIMITED' })
    const records = await elevationRecords(store)
    limited = records.filter((r) => r.action === 'elevation.rate-limited')
    expect(limited).toHaveLength(2)
    // The ten refused in the minute between are counted in one summary, written before the next whole record.
    const summary = records.filter((r) => r.action === 'elevation.rate-limited.summary')
    expect(summary).toHaveLength(1)
    expect(summary[0]!.fields).toMatchObject({ refused: 10, users: ['alice'], codes: { PORTCULLIS_ELEVATION_RATE_LIMITED: 10 } })
    expect(summary[0]!.reason).toContain('10 more elevation requests refused by elevation.requestsPerHour')
    expect(summary[0]!.seq).toBeLessThan(limited[1]!.seq)
    // Nothing was asked for while refused.
    expect((await elevationRecords(store)).filter((r) => r.action === 'elevation.request' && r.user === 'alice')).toHaveLength(3)

    clock.advance(HOUR)
    await expect(ask(service, 'alice')).resolves.toMatchObject({ state: 'pending' })
  })

  it('rate-limit refusals counted but not yet summarized are written when the service closes: none goes unrecorded', async () => {
    const { service, store } = await harness({ policy: policyDocument({ requestsPerHour: 1 }) })
    await ask(service, 'alice')
    for (let i = 0; i < 5; i++) await expect(ask(service, 'alice')).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_RATE_LIMITED' })
    expect((await elevationRecords(store)).filter((r) => r.action === 'elevation.rate-limited.summary')).toEqual([])
    await service.close()
    const records = await elevationRecords(store)
    expect(records.filter((r) => r.action === 'elevation.rate-limited')).toHaveLength(1)
    expect(records.filter((r) => r.action === 'elevation.rate-limited.summary').map((r) => r.fields)).toEqual([expect.objectContaining({ refused: 4, users: ['alice'] })])
  })

  it('bounds the undecided requests of one user (maxPending)', async () => {
    const { service, store } = await harness({ policy: policyDocument({ maxPending: 2 }) })
    const first = await ask(service, 'alice')
    await ask(service, 'alice', { project: 'web', role: 'developer' })
    await expect(ask(service, 'alice', { project: 'web', role: 'auditor' })).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_TOO_MANY_PENDING', status: 409, message: expect.stringContaining(first.id) })
    expect((await elevationRecords(store)).map((r) => r.action)).toEqual(['elevation.request', 'elevation.request'])
    await service.revoke(first.id, { user: 'alice' })
    await expect(ask(service, 'alice', { project: 'web', role: 'auditor' })).resolves.toMatchObject({ state: 'pending' })
  })

  it('forgets finished requests elevation.retention after they finished; running grants stay, and the audit records stay', async () => {
    const { dir, service, store, clock } = await harness({ policy: policyDocument({ retention: '1d' }) })
    const denied = await ask(service, 'alice')
    await service.deny(denied.id, { user: 'carol' }, 'not now')
    const granted = await ask(service, 'bob', { role: 'developer', ttl: '8h' })
    await service.approve(granted.id, { user: 'carol' })
    clock.advance(20 * HOUR)
    await service.settled()
    expect(service.list('alice').map((r) => r.id)).toEqual([denied.id])

    clock.advance(5 * HOUR) // the hourly sweep: denied 25 h ago; the grant's end was recorded (by this fake clock) 5 h ago
    await service.settled()
    expect(service.list('alice')).toEqual([])
    expect(() => service.get(denied.id, null)).toThrow(/no elevation request/)
    expect(service.get(granted.id, 'bob')).toMatchObject({ state: 'approved', endedAt: T0 + 20 * HOUR })
    expect((await elevationRecords(store)).filter((r) => r.fields?.request === denied.id).map((r) => r.action)).toEqual(['elevation.request', 'elevation.deny'])

    // Forgotten on disk too: a restart does not bring it back.
    const h = open.find((x) => x.service === service)!
    await shut(h)
    const again = await harness({ dir, clock, policy: policyDocument({ retention: '1d' }) })
    expect(again.service.list(null).map((r) => r.id)).toEqual([granted.id])
  })
})
