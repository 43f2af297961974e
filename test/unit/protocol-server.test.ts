// The plugin socket in-process: the wire format dockerd speaks, and bad input that must deny, never crash.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initKeys, readKey, readTokenSettings } from '../../src/identity/keys.js'
import { issueToken } from '../../src/identity/tokens.js'
import { startDaemon, type RunningDaemon } from '../../src/serve.js'
import { adminJson } from '../../src/admin/client.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-proto-'))
const socket = join(dir, 'plugin.sock')
const adminSocket = join(dir, 'admin.sock')
let daemon: RunningDaemon
let token: string

beforeAll(async () => {
  writeFileSync(join(dir, 'policy.json'), JSON.stringify({
    roles: { dev: { allow: ['container.*', 'image.*', 'system.*'] } },
    projects: { pay: { members: { alice: 'dev' } } }
  }))
  initKeys(join(dir, 'keys'))
  token = issueToken(readKey(join(dir, 'keys'), 'privateKey'), readTokenSettings(join(dir, 'keys')), 'alice', 600)
  daemon = await startDaemon({
    config: join(dir, 'policy.json'),
    socket,
    data: join(dir, 'data'),
    adminSocket,
    keys: join(dir, 'keys'),
    // No daemon there: look-ups fail, and a call that needs one must be denied.
    dockerHost: `unix://${join(dir, 'no-docker.sock')}`,
    pluginName: 'portcullis'
  }, pino({ level: 'silent' }))
})

afterAll(async () => {
  await daemon?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** POST exactly as dockerd does: no Content-Type. */
function post (path: string, body: string | Buffer): Promise<{ status: number, json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path, method: 'POST', headers: { Accept: 'application/vnd.docker.plugins.v1.2+json' } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        resolve({ status: res.statusCode ?? 0, json: text === '' ? null : JSON.parse(text) })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

const authz = (fields: Record<string, unknown>): Promise<{ status: number, json: any }> =>
  post('/AuthZPlugin.AuthZReq', JSON.stringify({ User: '', UserAuthNMethod: '', RequestHeaders: { 'X-Portcullis-Token': token }, ...fields }))

describe('the plugin socket', () => {
  it('answers Plugin.Activate with the authz interface', async () => {
    expect(await post('/Plugin.Activate', '')).toEqual({ status: 200, json: { Implements: ['authz'] } })
  })

  it('allows with Allow:true and denies with the reason in Msg', async () => {
    expect((await authz({ RequestMethod: 'GET', RequestUri: '/v1.41/containers/json' })).json).toEqual({ Allow: true, Msg: '', Err: '' })
    const denied = (await authz({ RequestMethod: 'GET', RequestUri: '/v1.41/volumes' })).json
    expect(denied).toMatchObject({ Allow: false, Err: '' })
    expect(denied.Msg).toMatch(/alice may not volume.list/)
  })

  it('answers AuthZRes', async () => {
    expect((await post('/AuthZPlugin.AuthZRes', JSON.stringify({ RequestMethod: 'GET', RequestUri: '/v1.41/containers/json', ResponseStatusCode: 200 }))).json)
      .toEqual({ Allow: true, Msg: '', Err: '' })
  })

  const garbage: Array<[string, string]> = [
    ['not JSON', '{"User":'],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"hi"'],
    ['an empty body', ''],
    ['wrong field types', JSON.stringify({ RequestMethod: 7, RequestUri: { a: 1 }, RequestHeaders: [1], RequestBody: 5 })],
    ['an undecodable URI', JSON.stringify({ RequestMethod: 'GET', RequestUri: '/containers/%zz/json' })],
    ['invalid base64 body', JSON.stringify({ RequestMethod: 'POST', RequestUri: '/containers/create', RequestBody: '!!!***', RequestHeaders: { 'Content-Type': 'application/json' } })],
    ['a body that is not JSON', JSON.stringify({ RequestMethod: 'POST', RequestUri: '/containers/create', RequestBody: Buffer.from('{"Image":').toString('base64') })]
  ]
  for (const [what, body] of garbage) {
    it(`denies ${what} and keeps serving`, async () => {
      const answer = await post('/AuthZPlugin.AuthZReq', body)
      expect(answer.status).toBe(200)
      expect(answer.json.Allow).toBe(false)
      expect(answer.json.Msg).not.toBe('')
      expect((await post('/Plugin.Activate', '')).status).toBe(200)
    })
  }

  it('denies a call whose label look-up fails (daemon unreachable), saying why', async () => {
    const answer = (await authz({ RequestMethod: 'POST', RequestUri: '/v1.41/containers/web/start' })).json
    expect(answer.Allow).toBe(false)
    expect(answer.Msg).toMatch(/Looking up container web in the Docker daemon failed/)
  })

  it('denies an empty create body (CVE-2024-41110)', async () => {
    const answer = (await authz({ RequestMethod: 'POST', RequestUri: '/v1.41/containers/create', RequestBody: null, RequestHeaders: { 'X-Portcullis-Token': token, 'Content-Length': '0', 'Content-Type': 'application/json' } })).json
    expect(answer).toMatchObject({ Allow: false })
  })

  it('rejects other HTTP methods and unknown endpoints without crashing', async () => {
    expect((await post('/AuthZPlugin.Nope', '{}')).status).toBe(404)
  })

  it('reports its status on the admin socket: policy digest, audit head, group-commit counters', async () => {
    const { body } = await adminJson<any>(adminSocket, 'GET', '/v1/status')
    expect(body.policy.digest).toMatch(/^[0-9a-f]{64}$/)
    expect(body.audit.head.seq).toBeGreaterThan(1)
    expect(body.audit.records).toBeGreaterThanOrEqual(body.audit.batches)
  })

  it('recorded every decision before answering, in one intact chain', async () => {
    const { body } = await adminJson<{ ok: boolean, records: number }>(adminSocket, 'GET', '/v1/audit/verify')
    expect(body.ok).toBe(true)
    // start record + every AuthZReq/AuthZRes above
    expect(body.records).toBeGreaterThanOrEqual(1 + 2 + 1 + garbage.length + 2)
  })
})
