// portcullis's own look-ups (issue 13, "fold in"): to judge `docker inspect pay-1` the plugin asks the daemon
// what pay-1 is, and the daemon asks the plugin about that call too. The look-up is recorded once, as user
// portcullis with authMethod internal and the pinned API version, without a durable write of its own and without
// a response record; the caller's decision names what the look-up found. Nobody else can be taken for portcullis.
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { auditRecords } from '../helpers/audit.js'
import { daemonRequest } from '../helpers/daemon-http.js'
import { expectOk, startStack, TEST_IMAGE, TOKEN_HEADER, type Stack } from '../helpers/index.js'

let stack: Stack

beforeAll(async () => {
  const policy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
  stack = await startStack({ policy, users: ['alice', 'ops'], importAs: 'ops' })
  expectOk(await stack.docker('alice', ['create', '--name', 'lookup-1', '--network', 'none', '--label', 'portcullis.project=payments', TEST_IMAGE, 'true']))
})

afterAll(async () => {
  await stack?.stop()
})

interface Seen { seq: number, kind: string, reqSeq?: number | null, user: string | null, authMethod?: string | null, method?: string | null, uri: string | null, decision?: string | null, resource?: string | null, status?: number | null }

it('`docker inspect NAME` writes the look-up once (internal, versioned URI, no response record) and the caller\'s decision names what it found', async () => {
  const before = (await auditRecords(stack.plugin)).length
  expectOk(await stack.docker('alice', ['inspect', 'lookup-1']))
  // Less the audit.read records of the reads themselves (docs/audit-access.md).
  const added = ((await auditRecords(stack.plugin)).slice(before) as Array<Seen & { action?: string | null }>).filter((r) => r.action?.startsWith('audit.read') !== true)
  const lookups = added.filter((r) => r.authMethod === 'internal')
  expect(lookups).toHaveLength(1)
  expect(lookups[0]).toMatchObject({ kind: 'decision', user: 'portcullis', method: 'GET', uri: '/v1.41/containers/lookup-1/json', decision: 'allow' })
  const decision = added.find((r) => r.kind === 'decision' && r.user === 'alice' && r.uri === '/v1.41/containers/lookup-1/json')
  expect(decision).toMatchObject({ decision: 'allow', resource: expect.stringMatching(/^container lookup-1 \([0-9a-f]{12}\)$/) })
  expect(decision!.seq).toBeGreaterThan(lookups[0]!.seq)
  // The look-up and the inspect share their URI: the one response record is the inspect's.
  expect(added.filter((r) => r.kind === 'response' && r.uri === decision!.uri)).toMatchObject([{ status: 200, reqSeq: decision!.seq }])
  // HEAD /_ping and its response, the look-up, the inspect and its response: five records, where there were six.
  expect(added).toHaveLength(5)
})

it('a caller who sends the internal header without its secret is judged and recorded as themselves, with a response record', async () => {
  const before = (await auditRecords(stack.plugin)).length
  const answer = await daemonRequest(stack.dockerd.socket, {
    method: 'GET',
    path: '/v1.41/containers/lookup-1/json',
    headers: { 'X-Portcullis-Internal': 'a-guess', [TOKEN_HEADER]: stack.tokens.alice! }
  })
  expect(answer.status).toBe(200)
  // Less the audit.read records of the reads themselves (docs/audit-access.md).
  const added = ((await auditRecords(stack.plugin)).slice(before) as Array<Seen & { action?: string | null }>).filter((r) => r.action?.startsWith('audit.read') !== true)
  expect(added.filter((r) => r.authMethod === 'internal' && r.uri === '/v1.41/containers/lookup-1/json')).toEqual([])
  expect(added.find((r) => r.kind === 'decision' && r.uri === '/v1.41/containers/lookup-1/json')).toMatchObject({ user: 'alice', authMethod: 'jwt', decision: 'allow' })
  expect(added.find((r) => r.kind === 'response' && r.uri === '/v1.41/containers/lookup-1/json')).toMatchObject({ status: 200 })
})
