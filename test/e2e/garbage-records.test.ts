// Garbage input still leaves a record that names the caller and the precise code. Raw HTTP on a real daemon's
// socket (and over TLS with a client certificate) for what the docker CLI never sends, and documents posted
// straight to the plugin socket for what no daemon sends. Every test asserts on the audit record.
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditRecords, decisions, headSeq, type Record as AuditRecord } from '../helpers/audit.js'
import { daemonRequest } from '../helpers/daemon-http.js'
import { startDockerd, startStack, type Dockerd, type Stack } from '../helpers/index.js'
import { freeTcpPort, makeTlsFiles, type TlsFiles } from '../helpers/tls.js'

const policy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack

beforeAll(async () => {
  stack = await startStack({ policy, users: ['alice', 'ops'], importAs: 'ops' })
})

afterAll(async () => {
  await stack?.stop()
})

/** The one decision record made after `since` whose URI holds `uriIncludes`. */
async function recordFor (since: number, uriIncludes: string): Promise<AuditRecord> {
  const found = await decisions(stack.plugin, { uriIncludes }, since)
  expect(found, `one decision for ${uriIncludes}: ${JSON.stringify(found)}`).toHaveLength(1)
  return found[0]!
}

const asAlice = (): Record<string, string> => ({ 'X-Portcullis-Token': stack.tokens.alice! })

describe('an undecodable URI sent through the daemon is BAD_URI, recorded under the caller who sent it', () => {
  const uris: Array<[string, string]> = [
    ['an invalid percent-escape in the query', '/v1.41/containers/json?filters=%zz'],
    ['a path that decodes to bytes that are not UTF-8', '/v1.41/containers/%ff%fe/json'],
    ['an overlong UTF-8 encoding of "/"', '/v1.41/containers/%c0%af/json'],
  ]
  for (const [what, uri] of uris) {
    it(`${what}: refused, and the record says alice (jwt) and BAD_URI`, async () => {
      const since = await headSeq(stack.plugin)
      const answer = await daemonRequest(stack.dockerd.socket, { method: 'GET', path: uri, headers: asAlice() })
      expect(answer.status).toBe(403)
      expect(answer.body).toContain('The request URI cannot be decoded')
      const record = await recordFor(since, uri.slice(uri.indexOf('/containers')))
      expect(record).toMatchObject({ decision: 'deny', user: 'alice', authMethod: 'jwt', code: 'BAD_URI' })
      expect(record.reason).toMatch(/The request URI cannot be decoded: the (path|query)/)
      expect(record.fields).toMatchObject({ wire: { code: 'BAD_URI' } })
    })
  }

  it('a bad token with an undecodable URI: BAD_URI, with the token\'s method and fingerprint (no user: none was proven)', async () => {
    const since = await headSeq(stack.plugin)
    const answer = await daemonRequest(stack.dockerd.socket, { method: 'GET', path: '/v1.41/containers/%ff/json?badtoken=1', headers: { 'X-Portcullis-Token': 'not-a-jwt' } })
    expect(answer.status).toBe(403)
    const record = await recordFor(since, 'badtoken=1')
    expect(record).toMatchObject({ decision: 'deny', user: null, authMethod: 'jwt', code: 'BAD_URI' })
    expect(record.tokenId).toMatch(/^sha256:/)
  })

  it('a URI beyond 64 KiB is REQUEST_TOO_LARGE under alice, its record keeping the first 1 KiB and the length cut', async () => {
    const since = await headSeq(stack.plugin)
    const uri = `/v1.41/containers/json?case=long&filters=${'a'.repeat(70_000)}`
    const answer = await daemonRequest(stack.dockerd.socket, { method: 'GET', path: uri, headers: asAlice() })
    expect(answer.status).toBe(403)
    const record = await recordFor(since, 'case=long')
    expect(record).toMatchObject({ decision: 'deny', user: 'alice', authMethod: 'jwt', code: 'REQUEST_TOO_LARGE' })
    expect(record.fields).toMatchObject({ cut: [expect.objectContaining({ at: 'uri', length: uri.length })] })
  })

  it('a body that is not JSON is BAD_BODY under alice', async () => {
    const since = await headSeq(stack.plugin)
    const answer = await daemonRequest(stack.dockerd.socket, {
      method: 'POST',
      path: '/v1.41/containers/create?name=garbage-body',
      headers: { ...asAlice(), 'Content-Type': 'application/json' },
      body: '{"Image": "busybox", "Labels": {',
    })
    expect(answer.status).toBe(403)
    expect(await recordFor(since, 'name=garbage-body')).toMatchObject({ decision: 'deny', user: 'alice', authMethod: 'jwt', action: 'container.create', code: 'BAD_BODY' })
  })
})

describe('over TLS, the certificate\'s user is named in the record of an undecodable URI', () => {
  let tlsDockerd: Dockerd | undefined
  let tls: TlsFiles
  let port: number

  beforeAll(async () => {
    tls = await makeTlsFiles(path.join(stack.dir, 'tls'), { serverIp: '127.0.0.1', users: ['carol'] })
    port = await freeTcpPort()
    tlsDockerd = await startDockerd({
      dir: path.join(stack.dir, 'dockerd-tls'),
      authorizationPlugin: stack.plugin.name,
      tls: { host: `tcp://127.0.0.1:${port}`, caCert: tls.caCert, cert: tls.serverCert, key: tls.serverKey },
    })
  })

  afterAll(async () => {
    await tlsDockerd?.stop()
  })

  function tlsGet (uri: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port, path: uri, method: 'GET',
        ca: readFileSync(tls.caCert), cert: readFileSync(tls.clients.carol!.cert), key: readFileSync(tls.clients.carol!.key),
      }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      })
      req.on('error', reject)
      req.end()
    })
  }

  it('carol (tls) sends /containers/%ff/json: BAD_URI, user carol, authMethod tls', async () => {
    const since = await headSeq(stack.plugin)
    expect(await tlsGet('/v1.41/containers/%ff/json?as=carol')).toBe(403)
    expect(await recordFor(since, 'as=carol')).toMatchObject({ decision: 'deny', user: 'carol', authMethod: 'tls', code: 'BAD_URI' })
  })
})

/** POSTs `body` to the plugin socket as dockerd would; resolves with the answer's JSON. */
function postPlugin (endpoint: string, body: string | Buffer): Promise<{ Allow: boolean, Msg: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: stack.plugin.socket, path: endpoint, method: 'POST' }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Allow: boolean, Msg: string })
        } catch (err) {
          reject(err)
        }
      })
    })
    // An oversized document is answered before it is all sent; the connection then closes.
    req.on('error', (err) => { if ((err as NodeJS.ErrnoException).code !== 'EPIPE') reject(err) })
    req.end(body)
  })
}

const authzReq = (doc: object): Promise<{ Allow: boolean, Msg: string }> => postPlugin('/AuthZPlugin.AuthZReq', JSON.stringify(doc))

describe('an AuthZReq document that is not what the daemon sends is UNREADABLE_REQUEST, naming whoever its readable fields prove', () => {
  const cases: Array<[string, () => object, object, RegExp]> = [
    ['a RequestUri that is a number, with alice\'s token',
      () => ({ RequestMethod: 'GET', RequestUri: 41, RequestHeaders: asAlice() }),
      { user: 'alice', authMethod: 'jwt', method: 'GET', uri: null }, /RequestUri must be a string, not a number/],
    ['a header value that is not a string, next to alice\'s token',
      () => ({ RequestMethod: 'GET', RequestUri: '/v1.41/containers/json?case=header-type', RequestHeaders: { ...asAlice(), 'X-Count': 3 } }),
      { user: 'alice', authMethod: 'jwt', uri: '/v1.41/containers/json?case=header-type' }, /RequestHeaders must map names to strings \("X-Count" is not\)/],
    ['no RequestUri at all',
      () => ({ RequestMethod: 'DELETE', RequestHeaders: asAlice() }),
      { user: 'alice', authMethod: 'jwt', method: 'DELETE', uri: null }, /RequestUri is missing/],
    ['a TLS user with a RequestMethod that is an object',
      () => ({ User: 'carol', UserAuthNMethod: 'TLS', RequestMethod: { GET: true }, RequestUri: '/v1.41/containers/json?case=tls-method' }),
      { user: 'carol', authMethod: 'tls', uri: '/v1.41/containers/json?case=tls-method' }, /RequestMethod must be a string, not an object/],
  ]
  for (const [what, doc, who, reason] of cases) {
    it(`${what}: refused, recorded with the caller`, async () => {
      const since = await headSeq(stack.plugin)
      const answer = await authzReq(doc())
      expect(answer.Allow).toBe(false)
      expect(answer.Msg).toMatch(reason)
      const records = (await auditRecords(stack.plugin)).filter((r) => r.seq > since && r.kind === 'decision')
      expect(records).toHaveLength(1)
      expect(records[0]).toMatchObject({ decision: 'deny', code: 'UNREADABLE_REQUEST', ...who })
      expect(records[0]!.reason).toMatch(reason)
    })
  }

  it('a document that is not JSON names nobody (nothing in it can be read) but is still recorded', async () => {
    const since = await headSeq(stack.plugin)
    const answer = await postPlugin('/AuthZPlugin.AuthZReq', '{"User": "carol", "UserAuthNMethod": "TLS", ')
    expect(answer.Allow).toBe(false)
    const records = (await auditRecords(stack.plugin)).filter((r) => r.seq > since && r.kind === 'decision')
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ decision: 'deny', code: 'UNREADABLE_REQUEST', user: null, authMethod: null })
    expect(records[0]!.reason).toMatch(/not JSON/)
  })

  it('a document beyond 8 MiB is answered, recorded, and the socket keeps serving', async () => {
    const since = await headSeq(stack.plugin)
    const answer = await postPlugin('/AuthZPlugin.AuthZReq', Buffer.alloc(9 * 1024 * 1024, 0x20))
    expect(answer.Allow).toBe(false)
    const records = (await auditRecords(stack.plugin)).filter((r) => r.seq > since && r.kind === 'decision')
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ decision: 'deny', code: 'UNREADABLE_REQUEST' })
    expect(records[0]!.reason).toMatch(/larger than 8388608 bytes/)
    const next = await authzReq({ RequestMethod: 'GET', RequestUri: '/v1.41/_ping', RequestHeaders: {} })
    expect(next.Allow).toBe(true)
  })

  it('a body that is not base64 is BAD_BODY under alice', async () => {
    const since = await headSeq(stack.plugin)
    const answer = await authzReq({
      RequestMethod: 'POST', RequestUri: '/v1.41/containers/create?case=base64', RequestBody: '!!!not*base64',
      RequestHeaders: { ...asAlice(), 'Content-Type': 'application/json', 'Content-Length': '9' },
    })
    expect(answer.Allow).toBe(false)
    expect(await recordFor(since, 'case=base64')).toMatchObject({ decision: 'deny', user: 'alice', authMethod: 'jwt', code: 'BAD_BODY' })
  })
})
