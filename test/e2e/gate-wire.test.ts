// Requests the daemon reads differently from the plugin (repeated and non-ASCII headers, hidden form bodies),
// and requests that try to make portcullis hold or do too much: raw HTTP on the daemon socket where the docker
// CLI cannot express the attack, the real docker CLI for the honest calls that must keep working.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditRecords, decisions, headSeq } from '../helpers/audit.js'
import { expectOk, startStack, TEST_IMAGE, type Stack } from '../helpers/index.js'
import { MAX_REFERENCES, MAX_URI_LENGTH } from '../../src/request/limits.js'

const policy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack

beforeAll(async () => {
  stack = await startStack({ policy, users: ['alice', 'bob', 'carol', 'ops'], importAs: 'ops' })
  expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', '--label', 'portcullis.project=payments', '--name', 'pay-1', TEST_IMAGE, 'sleep', '600']))
})

afterAll(async () => {
  await stack?.stop()
})

interface RawAnswer { status: number, body: string }

/** Writes `head` (header lines, without the request line's CRLF CRLF) and `body` exactly as given. */
function raw (requestLine: string, headers: Array<[string, string]>, body: Buffer | string = ''): Promise<RawAnswer> {
  const head = [requestLine, 'Host: docker', 'Connection: close', ...headers.map(([k, v]) => `${k}: ${v}`)].join('\r\n') + '\r\n\r\n'
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(stack.dockerd.socket)
    const chunks: Buffer[] = []
    socket.on('data', (d: Buffer) => chunks.push(d))
    socket.on('error', reject)
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0)
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) })
    })
    socket.write(Buffer.concat([Buffer.from(head, 'utf8'), Buffer.from(body)]))
  })
}

const token = (user: string): [string, string] => ['X-Portcullis-Token', stack.tokens[user]!]

function chunked (body: string): string {
  return `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`
}

async function lastDecision (since: number, uriIncludes: string) {
  const found = await decisions(stack.plugin, { uriIncludes }, since)
  expect(found.length, `a decision for ${uriIncludes}`).toBeGreaterThan(0)
  return found.at(-1)!
}

describe('class 1: a request the plugin would read differently from the daemon is refused', () => {
  it('an allowed pull cannot become an import from a URL through a hidden first form Content-Type', async () => {
    const since = await headSeq(stack.plugin)
    const body = 'fromImage=&fromSrc=http%3A%2F%2F127.0.0.1%3A9%2Fevil.tar&repo=evil'
    const answer = await raw('POST /v1.41/images/create?fromImage=busybox&tag=portcullis HTTP/1.1', [
      token('alice'), ['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Type', 'text/plain'], ['Content-Length', String(body.length)]
    ], body)
    expect(answer.status).toBe(403)
    expect(answer.body).toContain('image.pull takes no request body')
    const record = await lastDecision(since, '/images/create?fromImage=busybox')
    expect(record).toMatchObject({ user: 'alice', authMethod: 'jwt', action: 'image.pull', decision: 'deny', code: 'AMBIGUOUS_REQUEST' })
    expect(record.fields).toMatchObject({ wire: { code: 'AMBIGUOUS_REQUEST', header: 'Content-Type' }, contentType: 'text/plain', bodyForwarded: false })
  })

  it('the same with a chunked body, which the plugin sees as a Content-Type without a Content-Length', async () => {
    const since = await headSeq(stack.plugin)
    const answer = await raw('POST /v1.41/images/create?fromImage=busybox&tag=chunked HTTP/1.1', [
      token('alice'), ['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Type', 'text/plain'], ['Transfer-Encoding', 'chunked']
    ], chunked('fromImage=&fromSrc=http%3A%2F%2F127.0.0.1%3A9%2Fx'))
    expect(answer.status).toBe(403)
    expect(answer.body).toContain('no Content-Length (chunked)')
    expect(await lastDecision(since, 'tag=chunked')).toMatchObject({ user: 'alice', code: 'AMBIGUOUS_REQUEST', fields: expect.objectContaining({ contentType: 'text/plain' }) })
  })

  it('a non-ASCII Content-Type that Go folds into a form type (applİcation/x-www-form-urlencoded) is refused', async () => {
    const since = await headSeq(stack.plugin)
    const body = 'fromImage=&fromSrc=http%3A%2F%2F127.0.0.1%3A9%2Fx'
    const answer = await raw('POST /v1.41/images/create?fromImage=busybox&tag=folded HTTP/1.1', [
      token('alice'), ['Content-Type', 'applİcation/x-www-form-urlencoded'], ['Content-Length', String(body.length)]
    ], body)
    expect(answer.status).toBe(403)
    expect(answer.body).toContain('Content-Type holds a non-ASCII or control character')
    expect(await lastDecision(since, 'tag=folded')).toMatchObject({ user: 'alice', action: 'image.pull', code: 'AMBIGUOUS_REQUEST', fields: expect.objectContaining({ wire: { code: 'AMBIGUOUS_REQUEST', header: 'Content-Type' } }) })
  })

  it('a build cannot get networkmode=host from a form body, whether the form type is first, only, or folded', async () => {
    for (const types of [['application/x-www-form-urlencoded', 'text/plain'], ['application/x-www-form-urlencoded'], ['multipart/form-data; boundary=x', 'text/plain']]) {
      const since = await headSeq(stack.plugin)
      const body = 'networkmode=host&remote=http%3A%2F%2F127.0.0.1%3A9%2Fctx.tar'
      const answer = await raw('POST /v1.41/build?t=wire-host&labels=%7B%22portcullis.project%22%3A%22payments%22%7D HTTP/1.1', [
        token('alice'), ...types.map((t): [string, string] => ['Content-Type', t]), ['Content-Length', String(body.length)]
      ], body)
      expect(answer.status, types.join(' + ')).toBe(403)
      expect(await lastDecision(since, '/build?t=wire-host')).toMatchObject({ user: 'alice', action: 'image.build', code: 'AMBIGUOUS_REQUEST' })
    }
  })

  it('a create body hidden behind a first form Content-Type (the visible one says JSON) is refused', async () => {
    const since = await headSeq(stack.plugin)
    const body = JSON.stringify({ Image: TEST_IMAGE, Labels: { 'portcullis.project': 'payments' }, HostConfig: { Privileged: true } })
    const answer = await raw('POST /v1.41/containers/create?name=wire-hidden HTTP/1.1', [
      token('alice'), ['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]
    ], body)
    expect(answer.status).toBe(403)
    expect(answer.body).toContain('an earlier Content-Type header must have hidden it')
    expect(await lastDecision(since, 'name=wire-hidden')).toMatchObject({ user: 'alice', action: 'container.create', code: 'AMBIGUOUS_REQUEST' })
  })

  it('a token sent twice is judged on the one value the daemon shows (the last): never the first, never anonymous', async () => {
    let since = await headSeq(stack.plugin)
    const bad = await raw('GET /v1.41/containers/json?filters=wire-twice HTTP/1.1', [token('ops'), ['X-Portcullis-Token', 'not-a-token']])
    expect(bad.status).toBe(403)
    expect(await lastDecision(since, 'wire-twice')).toMatchObject({ user: null, authMethod: 'jwt', decision: 'deny', code: 'BAD_TOKEN' })

    since = await headSeq(stack.plugin)
    const swapped = await raw('POST /v1.41/containers/pay-1/kill?signal=wire-twice HTTP/1.1', [token('ops'), token('bob'), ['Content-Length', '0']])
    expect(swapped.status).toBe(403)
    expect(await lastDecision(since, 'wire-twice')).toMatchObject({ user: 'bob', decision: 'deny', code: 'ROLE_DENIES' })
  })

  it('a token under a folded name (Kelvin K) never reaches the plugin: Go refuses the name', async () => {
    const answer = await raw('GET /v1.41/containers/json HTTP/1.1', [['X-Portcullis-To\u212Aen', stack.tokens.ops!]])
    expect(answer.status).toBe(400)
  })

  it('a body on a route that takes none is refused even without a form type, naming the caller', async () => {
    const since = await headSeq(stack.plugin)
    const answer = await raw('POST /v1.41/containers/pay-1/restart?wire=body HTTP/1.1', [token('alice'), ['Content-Type', 'text/plain'], ['Content-Length', '3']], 'a=b')
    expect(answer.status).toBe(403)
    expect(await lastDecision(since, 'wire=body')).toMatchObject({ user: 'alice', action: 'container.restart', code: 'AMBIGUOUS_REQUEST' })
  })
})

describe('class 1: honest docker CLI calls still pass', () => {
  const dir = (): string => path.join(stack.dir, 'wire-ctx')

  it('run (attached and detached), exec, stop, start, kill', async () => {
    const out = await stack.docker('alice', ['run', '--rm', '--network', 'none', '--label', 'portcullis.project=payments', TEST_IMAGE, 'echo', 'hello'])
    expectOk(out)
    expect(out.stdout).toContain('hello')
    expectOk(await stack.docker('alice', ['exec', 'pay-1', 'true']))
    expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', '--label', 'portcullis.project=payments', '--name', 'wire-honest', TEST_IMAGE, 'sleep', '600']))
    expectOk(await stack.docker('alice', ['stop', '-t', '0', 'wire-honest']))
    expectOk(await stack.docker('alice', ['start', 'wire-honest']))
    expectOk(await stack.docker('alice', ['kill', 'wire-honest']))
  })

  it('pull of a local tag is allowed (the registry, not portcullis, answers)', async () => {
    const since = await headSeq(stack.plugin)
    const result = await stack.docker('alice', ['pull', TEST_IMAGE])
    expect(result.stderr).not.toContain('authorization denied')
    expect(await lastDecision(since, '/images/create?fromImage=busybox')).toMatchObject({ user: 'alice', action: 'image.pull', decision: 'allow' })
  })

  it('build, cp into a container, save, load, import and commit', async () => {
    mkdirSync(dir(), { recursive: true })
    writeFileSync(path.join(dir(), 'Dockerfile'), `FROM ${TEST_IMAGE}\nRUN echo built > /built\n`)
    expectOk(await stack.docker('alice', ['build', '--network', 'none', '--label', 'portcullis.project=payments', '--build-arg', 'A=1', '-t', 'payments/wire-built:1', dir()], { timeoutMs: 120_000 }))
    writeFileSync(path.join(dir(), 'file.txt'), 'copied')
    expectOk(await stack.docker('alice', ['cp', path.join(dir(), 'file.txt'), 'pay-1:/tmp/file.txt']))
    const read = await stack.docker('alice', ['exec', 'pay-1', 'cat', '/tmp/file.txt'])
    expect(read.stdout).toBe('copied')
    const tar = path.join(dir(), 'image.tar')
    expectOk(await stack.docker('carol', ['save', '-o', tar, TEST_IMAGE]))
    // The names a load writes are inside the tarball, so loads are for global roles (issue 10, class 10).
    expectOk(await stack.docker('ops', ['load', '-i', tar]))
    expectOk(await stack.docker('carol', ['import', tar, 'payments/wire-imported:1']))
    expectOk(await stack.docker('carol', ['commit', 'pay-1', 'payments/wire-committed:1']))
  })
})

describe('class 11: one caller cannot make portcullis hold or do too much', () => {
  it(`a create naming 20,000 VolumesFrom containers is refused before any look-up while others' calls flow`, async () => {
    const since = await headSeq(stack.plugin)
    const names = Array.from({ length: 20_000 }, (_, i) => `ghost-${i}`)
    const body = JSON.stringify({ Image: TEST_IMAGE, Labels: { 'portcullis.project': 'payments' }, HostConfig: { VolumesFrom: names, NetworkMode: 'none' } })
    const floods = Array.from({ length: 4 }, () => raw('POST /v1.41/containers/create?name=wire-flood HTTP/1.1', [
      token('alice'), ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]
    ], body))
    const others = Array.from({ length: 4 }, () => stack.docker('carol', ['inspect', '--format', '{{.Name}}', 'pay-1']))
    const [flooded, honest] = await Promise.all([Promise.all(floods), Promise.all(others)])
    for (const answer of flooded) {
      expect(answer.status).toBe(403)
      expect(answer.body).toContain(`portcullis looks up at most ${MAX_REFERENCES} per request`)
    }
    for (const result of honest) expectOk(result)
    const records = (await auditRecords(stack.plugin)).filter((r) => r.seq > since && r.kind === 'decision')
    const refused = records.filter((r) => (r.uri ?? '').includes('name=wire-flood'))
    expect(refused).toHaveLength(4)
    for (const r of refused) expect(r).toMatchObject({ user: 'alice', code: 'TOO_MANY_REFERENCES', decision: 'deny' })
    // No container was looked up for them: portcullis's own look-ups are recorded as `internal` decisions.
    const lookups = records.filter((r) => r.authMethod === 'internal' && (r.uri ?? '').includes('ghost-'))
    expect(lookups).toHaveLength(0)
  })

  it(`up to ${MAX_REFERENCES} references are looked up; one more is refused`, async () => {
    const since = await headSeq(stack.plugin)
    const create = async (count: number, name: string): Promise<RawAnswer> => {
      const body = JSON.stringify({ Image: TEST_IMAGE, Labels: { 'portcullis.project': 'payments' }, HostConfig: { VolumesFrom: Array.from({ length: count }, (_, i) => `ghost-${i}`), NetworkMode: 'none' } })
      return raw(`POST /v1.41/containers/create?name=${name} HTTP/1.1`, [token('alice'), ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]], body)
    }
    const ok = await create(MAX_REFERENCES, 'wire-max')
    expect(ok.body).not.toContain('authorization denied')
    expect(await lastDecision(since, 'name=wire-max')).toMatchObject({ decision: 'allow' })
    expect((await create(MAX_REFERENCES + 1, 'wire-over')).status).toBe(403)
    expect(await lastDecision(since, 'name=wire-over')).toMatchObject({ code: 'TOO_MANY_REFERENCES' })
  })

  it('1,000 long anonymous pings keep the plugin\'s memory and its store bounded; the record keeps a prefix and says what was cut', async () => {
    const pid = stack.plugin.pid!
    const rss = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
    const storeBytes = (): number => Number(execFileSync('du', ['-sb', stack.plugin.dataDir]).toString().split('\t')[0])
    const longUri = (i: number): string => `/_ping?n=${i}&pad=${'a'.repeat(MAX_URI_LENGTH - 200)}`
    // A first round lets the heap reach its working size; the bound is on what 1,000 more add.
    for (let start = 0; start < 200; start += 8) await Promise.all(Array.from({ length: 8 }, (_, j) => raw(`GET /_ping?warm=${start + j}&pad=${'c'.repeat(MAX_URI_LENGTH - 200)} HTTP/1.1`, [])))
    const since = await headSeq(stack.plugin)
    const rssBefore = rss()
    const storeBefore = storeBytes()
    // /_ping takes no parameters, so each is refused (UNKNOWN_PARAMETER): recorded all the same, which is the point.
    let answered = 0
    for (let start = 0; start < 1000; start += 8) {
      const answers = await Promise.all(Array.from({ length: 8 }, (_, j) => raw(`GET ${longUri(start + j)} HTTP/1.1`, [])))
      answered += answers.filter((a) => a.status === 403).length
    }
    expect(answered).toBe(1000)
    // Beyond the documented limit (dockerd itself takes ~1 MiB): refused before it is parsed, recorded cut.
    const huge = await raw(`GET /_ping?pad=${'b'.repeat(900_000)} HTTP/1.1`, [])
    expect(huge.status).toBe(403)
    expect(huge.body).toContain(`portcullis judges URIs of at most ${MAX_URI_LENGTH}`)

    const rssGrowth = rss() - rssBefore
    const storeGrowth = storeBytes() - storeBefore
    console.log(`1,000 pings of ${longUri(0).length} characters: plugin RSS grew ${rssGrowth} bytes, store ${storeGrowth} bytes`)
    // Unbounded, this was ~1,000 × 64 KiB twice over in the route cache, and twice that on disk.
    expect(rssGrowth, `RSS grew ${rssGrowth} bytes`).toBeLessThan(32 * 1024 * 1024)
    expect(storeGrowth, `store grew ${storeGrowth} bytes`).toBeLessThan(16 * 1024 * 1024)

    const records = (await auditRecords(stack.plugin)).filter((r) => r.seq > since && r.kind === 'decision')
    const ping = records.find((r) => (r.uri ?? '').startsWith('/_ping?n=0&'))!
    expect(ping).toMatchObject({ user: null, decision: 'deny', code: 'UNKNOWN_PARAMETER', action: 'system.ping' })
    expect(ping.uri!.length).toBeLessThanOrEqual(1025)
    expect(ping.fields).toMatchObject({ cut: [{ at: 'uri', length: longUri(0).length, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }] })
    const refusal = records.find((r) => r.code === 'REQUEST_TOO_LARGE')!
    expect(refusal).toMatchObject({ user: null, decision: 'deny' })
    expect(refusal.uri!.length).toBeLessThanOrEqual(1025)
  })
})
