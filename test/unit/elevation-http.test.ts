import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addElevationRoutes } from '../../src/admin/elevation-routes.js'
import { AuditStore } from '../../src/audit/store.js'
import { callElevation, findToken, type ElevationEndpoint } from '../../src/elevation/client.js'
import { createElevationApp, isLoopback, listenElevation, parseListen } from '../../src/elevation/http-api.js'
import { ElevationService } from '../../src/elevation/service.js'
import type { RequestView } from '../../src/elevation/routes.js'
import { formatRequestTable } from '../../src/cli/request.js'
import { initKeys, readKey, readTokenSettings } from '../../src/identity/keys.js'
import { issueToken, TokenVerifier } from '../../src/identity/tokens.js'
import { compilePolicy } from '../../src/policy/compile.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-elevation-http-'))
const keys = join(root, 'keys')
const otherKeys = join(root, 'other-keys')
initKeys(keys)
initKeys(otherKeys)
const settings = readTokenSettings(keys)
const tokenFor = (user: string, dir = keys): string => issueToken(readKey(dir, 'privateKey'), readTokenSettings(dir), user, 600)

const policy = {
  current: compilePolicy({
    version: 1,
    roles: {
      viewer: { allow: ['container.list'] },
      developer: { inherits: 'viewer', allow: ['container.start'] },
      operator: { inherits: 'developer', allow: ['container.remove'] },
      admin: { inherits: 'operator', allow: ['*'], unsafe: true }
    },
    projects: { payments: { members: { alice: 'developer', carol: 'admin' } } },
    global: { members: { ops: 'admin' } }
  })
}

const logger = pino({ enabled: false })
let store: AuditStore
let service: ElevationService
let server: http.Server
let admin: http.Server
let url: string
const adminSocket = join(root, 'admin.sock')

beforeAll(async () => {
  store = await AuditStore.open(join(root, 'data'))
  service = await ElevationService.open({ audit: store, policy, logger })
  await service.start()
  const listening = await listenElevation(createElevationApp(service, new TokenVerifier(readKey(keys, 'publicKey'), settings), logger), '127.0.0.1', 0)
  server = listening.server
  url = `http://127.0.0.1:${listening.address.port}`
  const adminApp = express()
  addElevationRoutes(adminApp, { elevation: service, logger })
  await new Promise<void>((resolve) => { admin = adminApp.listen(adminSocket, () => resolve()) })
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  await new Promise((resolve) => admin.close(resolve))
  await service.close()
  await store.close()
  rmSync(root, { recursive: true, force: true })
})

const as = (user: string): ElevationEndpoint => ({ kind: 'http', url, token: tokenFor(user) })
const raw = async (path: string, init: RequestInit = {}): Promise<{ status: number, body: { error?: string, code?: string } }> => {
  const res = await fetch(url + path, init)
  return { status: res.status, body: await res.json() as { error?: string, code?: string } }
}

describe('elevation HTTP API', () => {
  it('asks for a bearer token, and refuses one from other keys', async () => {
    const none = await raw('/v1/requests')
    expect(none.status).toBe(401)
    expect(none.body).toMatchObject({ code: 'PORTCULLIS_ELEVATION_UNAUTHENTICATED', error: expect.stringContaining('no Authorization header') })
    const forged = await raw('/v1/requests', { headers: { authorization: `Bearer ${tokenFor('alice', otherKeys)}` } })
    expect(forged).toMatchObject({ status: 401, body: { code: 'PORTCULLIS_ELEVATION_UNAUTHENTICATED' } })
    const basic = await raw('/v1/requests', { headers: { authorization: 'Basic YWxpY2U6eA==' } })
    expect(basic.body.error).toContain('not "Bearer <token>"')
  })

  it('creates, lists, approves and revokes, with the caller taken from the token', async () => {
    const created = await callElevation(as('alice'), 'POST', '/requests', { project: 'payments', role: 'operator', ttl: '1h', reason: 'deploy fix' })
    expect(created.status).toBe(201)
    const request = created.body as RequestView
    expect(request).toMatchObject({ user: 'alice', state: 'pending', active: false })

    const listed = await callElevation(as('carol'), 'GET', '/requests')
    expect((listed.body as { requests: RequestView[] }).requests.map((r) => r.id)).toContain(request.id)

    await expect(callElevation(as('alice'), 'POST', `/requests/${request.id}/approve`, {})).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_SELF_APPROVAL', status: 403 })
    const approved = await callElevation(as('carol'), 'POST', `/requests/${request.id}/approve`, { reason: 'ok' })
    expect(approved.body).toMatchObject({ state: 'approved', decidedBy: 'carol', active: true })
    expect(service.activeGrants('alice', Date.now())).toHaveLength(1)

    const table = formatRequestTable([approved.body as RequestView])
    expect(table).toMatch(/^ID\s+STATE\s+USER\s+PROJECT\s+ROLE\s+TTL\s+UNTIL\s+REASON\n/)
    expect(table).toMatch(new RegExp(`${request.id}\\s+active\\s+alice\\s+payments\\s+operator\\s+1h\\s+\\S+Z\\s+deploy fix`))

    const revoked = await callElevation(as('alice'), 'POST', `/requests/${request.id}/revoke`)
    expect(revoked.body).toMatchObject({ state: 'revoked', active: false })
    const [record] = (await store.tail(1))
    expect(record).toMatchObject({ kind: 'elevation', action: 'elevation.revoke', authMethod: 'jwt', fields: expect.objectContaining({ via: 'http', by: 'alice' }) })
  })

  it('answers errors as JSON with the right status', async () => {
    const bob = { authorization: `Bearer ${tokenFor('bob')}`, 'content-type': 'application/json' }
    expect(await raw('/v1/requests', { method: 'POST', headers: bob, body: '{"project":' })).toMatchObject({ status: 400, body: { code: 'PORTCULLIS_ELEVATION_BAD_INPUT' } })
    expect(await raw('/v1/requests', { method: 'POST', headers: bob, body: JSON.stringify({ project: 'payments', role: 'viewer', ttl: '1h' }) }))
      .toMatchObject({ status: 400, body: { code: 'PORTCULLIS_ELEVATION_BAD_INPUT', error: expect.stringContaining('reason') } })
    expect(await raw('/v1/requests/r-000000000000', { headers: bob })).toMatchObject({ status: 404, body: { code: 'PORTCULLIS_ELEVATION_NOT_FOUND' } })
    expect(await raw('/v1/requests/r-000000000000/deny', { method: 'POST', headers: bob, body: '{}' })).toMatchObject({ status: 404 })
    // A route that does not exist is not a request that does not exist: its own code, naming the routes there are.
    expect(await raw('/v1/nothing', { headers: bob })).toMatchObject({ status: 404, body: { code: 'PORTCULLIS_ELEVATION_NO_ROUTE', error: expect.stringContaining('GET /nothing') } })
    expect(await raw('/elsewhere')).toMatchObject({ status: 404, body: { code: 'PORTCULLIS_ELEVATION_NO_ROUTE', error: expect.stringContaining('/v1/requests') } })
    const first = await callElevation(as('bob'), 'POST', '/requests', { project: 'payments', role: 'viewer', ttl: 600, reason: 'look at logs' })
    expect(first.status).toBe(201)
    await expect(callElevation(as('bob'), 'POST', '/requests', { project: 'payments', role: 'viewer', ttl: 600, reason: 'again' })).rejects.toMatchObject({ status: 409, code: 'PORTCULLIS_ELEVATION_DUPLICATE' })
  })

  it('serves the same routes on the admin socket, acting as --as USER', async () => {
    const rootView: ElevationEndpoint = { kind: 'admin', socketPath: adminSocket, as: null }
    const all = (await callElevation(rootView, 'GET', '/requests')).body as { requests: RequestView[] }
    expect(all.requests.length).toBeGreaterThanOrEqual(2)
    await expect(callElevation(rootView, 'POST', '/requests', { project: 'payments', role: 'operator', ttl: '1h', reason: 'x' }))
      .rejects.toMatchObject({ status: 400, message: expect.stringContaining('--as USER') })
    const pending = all.requests.find((r) => r.state === 'pending')!
    const denied = await callElevation({ kind: 'admin', socketPath: adminSocket, as: 'ops' }, 'POST', `/requests/${pending.id}/deny`, { reason: 'not now' })
    expect(denied.body).toMatchObject({ state: 'denied', decidedBy: 'ops' })
    const [record] = await store.tail(1)
    expect(record).toMatchObject({ action: 'elevation.deny', authMethod: null, fields: expect.objectContaining({ via: 'admin-socket', by: 'ops' }) })
  })

  it('reports an API that is not there', async () => {
    await expect(callElevation({ kind: 'http', url: 'http://127.0.0.1:1', token: 't' }, 'GET', '/requests')).rejects.toMatchObject({ code: 'PORTCULLIS_ELEVATION_UNREACHABLE' })
    await expect(callElevation({ kind: 'admin', socketPath: join(root, 'none.sock'), as: null }, 'GET', '/requests')).rejects.toMatchObject({ code: 'PORTCULLIS_ADMIN_UNREACHABLE' })
  })
})

describe('elevation client settings', () => {
  it('parses --elevation-listen', () => {
    expect(parseListen('127.0.0.1:2224')).toEqual({ host: '127.0.0.1', port: 2224 })
    expect(parseListen('[::1]:9')).toEqual({ host: '::1', port: 9 })
    expect(parseListen('off')).toBeNull()
    expect(() => parseListen('2224')).toThrow(/not HOST:PORT/)
    expect(() => parseListen('127.0.0.1:70000')).toThrow(/not HOST:PORT/)
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopback)).toBe(true)
    expect(['0.0.0.0', '::', '10.0.0.1', '127.evil.com'].some(isLoopback)).toBe(false)
  })

  it('finds the token: --token, then $PORTCULLIS_TOKEN, then the docker CLI config', () => {
    const dockerConfig = join(root, 'docker')
    mkdirSync(dockerConfig, { recursive: true })
    writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ HttpHeaders: { 'x-portcullis-token': ' from-config ' } }))
    expect(findToken('explicit', { PORTCULLIS_TOKEN: 'env', DOCKER_CONFIG: dockerConfig })).toBe('explicit')
    expect(findToken(undefined, { PORTCULLIS_TOKEN: 'env', DOCKER_CONFIG: dockerConfig })).toBe('env')
    expect(findToken(undefined, { DOCKER_CONFIG: dockerConfig })).toBe('from-config')
    expect(findToken(undefined, { DOCKER_CONFIG: join(root, 'nowhere') })).toBeNull()
  })
})

describe('elevation HTTP API under a flood', () => {
  it('answers 429 with Retry-After once a user made requestsPerHour requests, and records the refusal', async () => {
    // dave holds no role: viewer is the one request he may make; create and withdraw until refused.
    const headers = { authorization: `Bearer ${tokenFor('dave')}`, 'content-type': 'application/json' }
    let refused: Response | undefined
    for (let i = 0; i < 30 && refused === undefined; i++) {
      const res = await fetch(`${url}/v1/requests`, { method: 'POST', headers, body: JSON.stringify({ project: 'payments', role: 'viewer', ttl: '1h', reason: 'flood' }) })
      if (res.status === 429) refused = res
      else {
        expect(res.status).toBe(201)
        const { id } = await res.json() as { id: string }
        expect((await fetch(`${url}/v1/requests/${id}/revoke`, { method: 'POST', headers })).status).toBe(200)
      }
    }
    expect(refused).toBeDefined()
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(3500)
    expect(await refused!.json()).toMatchObject({ code: 'PORTCULLIS_ELEVATION_RATE_LIMITED', error: expect.stringContaining('made 20 elevation requests in the last hour') })
    const [record] = await store.tail(1)
    expect(record).toMatchObject({ kind: 'elevation', action: 'elevation.rate-limited', user: 'dave', authMethod: 'jwt', fields: expect.objectContaining({ limit: 20, via: 'http' }) })
  })
})
