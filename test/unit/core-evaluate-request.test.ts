// One way from a request to a decision: the plugin, the SSH bridge's preview and `portcullis check` all judge a
// request through evaluateRequest (src/core), so they give the same answer and the record keeps what was read.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Authorizer } from '../../src/authz/authorizer.js'
import type { AuditRecord } from '../../src/audit/record.js'
import type { AuditStore } from '../../src/audit/store.js'
import { checkCommand } from '../../src/cli/check.js'
import { runCommand } from '../../src/cli/command.js'
import type { AuthZRequest, Identity } from '../../src/core/types.js'
import { IdentityResolver } from '../../src/identity/resolve.js'
import { compilePolicy } from '../../src/policy/compile.js'
import type { Decision } from '../../src/core/decision.js'
import { KNOWN_ACTIONS } from '../../src/routes/table.js'
import { FixedResources } from '../fakes/resources.js'
import { tempStores } from '../helpers/temp-stores.js'

const POLICY_FILE = new URL('../../examples/policy.json', import.meta.url).pathname
const policy = compilePolicy(JSON.parse(readFileSync(POLICY_FILE, 'utf8')), KNOWN_ACTIONS)
const { openStore, root } = tempStores('portcullis-core-')

function plugin (store: AuditStore, resources = new FixedResources()): Authorizer {
  return new Authorizer({ current: policy }, new IdentityResolver(null, 'internal-secret'), resources, store,
    pino({ enabled: false }), { pluginName: 'portcullis' })
}

/** What dockerd sends for a TLS-authenticated user. */
function tls (user: string, method: string, uri: string, body?: unknown): AuthZRequest {
  const text = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
  return {
    User: user,
    UserAuthNMethod: 'TLS',
    RequestMethod: method,
    RequestUri: uri,
    RequestBody: text?.toString('base64') ?? null,
    RequestHeaders: text === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(text.length) }
  }
}

async function records (store: AuditStore): Promise<AuditRecord[]> {
  const found: AuditRecord[] = []
  for await (const record of store.read()) if (record.kind === 'decision') found.push(record)
  return found
}

describe('the plugin\'s record of a request whose URI cannot be read', () => {
  for (const uri of ['/v1.41/containers/%zz/json', '/v1.41/containers/a\u0001b/json', '/v1.41/containers/json?a=1;b=2']) {
    it(`names the caller (${JSON.stringify(uri)})`, async () => {
      const store = await openStore()
      const answer = await plugin(store).authorizeRequest(tls('alice', 'GET', uri))
      expect(answer.Allow).toBe(false)
      const [record] = await records(store)
      expect(record).toMatchObject({ user: 'alice', authMethod: 'tls', decision: 'deny', code: 'BAD_URI', method: 'GET' })
    })
  }
})

describe('GET /images/get?names=…', () => {
  it('keeps the images the route names in the decision\'s facts and in the record', async () => {
    const store = await openStore()
    const authorizer = plugin(store)
    const request = tls('carol', 'GET', '/v1.41/images/get?names=payments%2Fapi&names=alpine')
    const { facts } = await authorizer.preview({ user: 'carol', method: 'tls' }, request)
    expect(facts.references).toEqual([{ kind: 'image', ref: 'payments/api' }, { kind: 'image', ref: 'alpine' }])
    const answer = await authorizer.authorizeRequest(request)
    const [record] = await records(store)
    expect(record).toMatchObject({ action: 'image.export', decision: answer.Allow ? 'allow' : 'deny' })
    expect(record!.fields).toMatchObject({ names: ['payments/api', 'alpine'] })
  })

  it('is judged as before: an image names no project, so an operator may export it', async () => {
    const store = await openStore()
    const answer = await plugin(store).authorizeRequest(tls('carol', 'GET', '/v1.41/images/get?names=payments%2Fapi&names=alpine'))
    expect(answer).toMatchObject({ Allow: true })
    expect(answer).toMatchObject({ Msg: '' })
  })
})

/** A request as the plugin sees it and as `portcullis check` is told about it. */
interface Row {
  name: string
  user: string | null
  method: string
  uri: string
  body?: unknown
  target?: string | null
  refs?: Record<string, string | null>
}

const TABLE: Row[] = [
  { name: 'a member lists containers', user: 'alice', method: 'GET', uri: '/v1.41/containers/json' },
  { name: 'an anonymous caller pings', user: null, method: 'GET', uri: '/_ping' },
  { name: 'an anonymous caller lists containers', user: null, method: 'GET', uri: '/v1.41/containers/json' },
  { name: 'a developer starts a container of their project', user: 'alice', method: 'POST', uri: '/v1.41/containers/web-1/start', target: 'payments' },
  { name: 'a viewer stops a container of their project', user: 'bob', method: 'POST', uri: '/v1.41/containers/web-1/stop', target: 'payments' },
  { name: 'a developer removes a container', user: 'alice', method: 'DELETE', uri: '/v1.41/containers/web-1', target: 'payments' },
  { name: 'a non-member inspects a container', user: 'bob', method: 'GET', uri: '/v1.41/containers/web-1/json', target: 'web' },
  { name: 'a container with no project', user: 'alice', method: 'GET', uri: '/v1.41/containers/web-1/json', target: null },
  { name: 'a developer creates a privileged container', user: 'alice', method: 'POST', uri: '/v1.41/containers/create', body: { Image: 'alpine', Labels: { 'portcullis.project': 'payments' }, HostConfig: { Privileged: true } } },
  { name: 'a create without a project label', user: 'alice', method: 'POST', uri: '/v1.41/containers/create', body: { Image: 'alpine' } },
  { name: 'a create joining another project\'s container', user: 'alice', method: 'POST', uri: '/v1.41/containers/create', body: { Image: 'alpine', Labels: { 'portcullis.project': 'payments' }, HostConfig: { NetworkMode: 'container:db' } }, refs: { 'container:db': 'web' } },
  { name: 'an interactive exec', user: 'alice', method: 'POST', uri: '/v1.41/containers/web-1/exec', body: { Cmd: ['sh'], Tty: true, AttachStdin: true }, target: 'payments' },
  { name: 'an unknown route', user: 'alice', method: 'GET', uri: '/v1.41/nothing/here' },
  { name: 'an unknown query parameter', user: 'alice', method: 'GET', uri: '/v1.41/containers/json?bogus=1' },
  { name: 'a URI that cannot be read', user: 'alice', method: 'GET', uri: '/v1.41/containers/%zz/json' },
  { name: 'a body that is not JSON', user: 'alice', method: 'POST', uri: '/v1.41/containers/create', body: 'not json' },
  { name: 'an image export', user: 'alice', method: 'GET', uri: '/v1.41/images/get?names=payments%2Fapi' },
  { name: 'a global admin removes a container of no project', user: 'ops', method: 'DELETE', uri: '/v1.41/containers/web-1', target: null }
]

describe('portcullis check', () => {
  afterEach(() => { vi.restoreAllMocks() })

  async function check (row: Row): Promise<Record<string, unknown>> {
    const written: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { written.push(String(chunk)); return true })
    const bodyFile = row.body === undefined ? undefined : writeBody(row.body)
    const argv = ['-o', 'json', '--config', POLICY_FILE, '--method', row.method, '--uri', row.uri]
    if (row.user !== null) argv.push('--user', row.user)
    if (bodyFile !== undefined) argv.push('--body', bodyFile)
    if (row.target !== undefined) argv.push('--target-project', row.target ?? 'none')
    for (const [ref, project] of Object.entries(row.refs ?? {})) argv.push('--ref', `${ref}=${project ?? 'none'}`)
    await runCommand(checkCommand, argv)
    vi.restoreAllMocks()
    return JSON.parse(written.join('')) as Record<string, unknown>
  }

  for (const row of TABLE) {
    it(`decides as the plugin does: ${row.name}`, async () => {
      const store = await openStore()
      const projects = new Map(Object.entries(row.refs ?? {}))
      const resources = new FixedResources(row.target, projects)
      const identity: Identity = row.user === null ? { user: null, method: 'anonymous' } : { user: row.user, method: 'jwt' }
      const request = row.user === null ? { ...tls('', row.method, row.uri, row.body), User: '', UserAuthNMethod: '' } : tls(row.user, row.method, row.uri, row.body)
      const answer = await plugin(store, resources).authorizeRequest(request)
      const [record] = await records(store)
      const checked = await check(row)
      const recorded = judged({ allow: answer.Allow, code: record!.code, action: record!.action, project: record!.project, role: record!.role, reason: record!.reason })
      expect(judged(checked)).toEqual(recorded)
      // The bridge's preview asks the same question the same way.
      const { decision } = await plugin(store, resources).preview(identity, request)
      expect(judged(decision)).toEqual(recorded)
    })
  }
})

/** A decision as the record keeps it: what is not set is null. */
function judged (d: Record<string, unknown> | Decision): Record<string, unknown> {
  return { allow: d.allow, code: d.code ?? null, action: d.action ?? null, project: d.project ?? null, role: d.role ?? null, reason: d.reason }
}

let bodies = 0
function writeBody (body: unknown): string {
  const file = join(root, `body-${++bodies}.json`)
  writeFileSync(file, typeof body === 'string' ? body : JSON.stringify(body))
  return file
}
