// Who is calling, as the real daemon tells the plugin: no token (anonymous), a token that is expired, forged,
// for another audience or not a token at all (refused, never downgraded to anonymous), and a TLS client
// certificate on a second daemon that listens on TCP with --tlsverify.
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import jwt from 'jsonwebtoken'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decisions, headSeq } from '../helpers/audit.js'
import {
  deniedMessage, describeResult, expectDenied, expectOk, portcullisCliOk, startDockerd, startStack,
  type Docker, type DockerResult, type Dockerd, type Stack,
} from '../helpers/index.js'
import { createTlsDocker, freeTcpPort, makeTlsFiles } from '../helpers/tls.js'
import { waitUntil } from '../helpers/wait.js'

const policy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack

beforeAll(async () => {
  stack = await startStack({ policy, users: ['alice', 'carol', 'ops'], importAs: 'ops' })
})

afterAll(async () => {
  await stack?.stop()
})

const denied = (result: DockerResult, message?: string | RegExp): void => expectDenied(result, stack.plugin.name, message)

/** `docker ps` sent with `token` in the X-Portcullis-Token header. */
const psWithToken = (token: string): Promise<DockerResult> => stack.docker(null, ['ps'], { token })

/** The one decision record for `docker ps` made after `since`; the CLI's ping is recorded too, but as system.ping. */
async function listDecision(since: number) {
  const found = await decisions(stack.plugin, { action: 'container.list' }, since)
  expect(found, JSON.stringify(found, null, 2)).toHaveLength(1)
  return found[0]!
}

async function issueToken(keysDir: string, user: string, ttl: string): Promise<string> {
  return (await portcullisCliOk(['token', 'issue', '--keys', keysDir, '--user', user, '--ttl', ttl])).trim()
}

describe('callers without a token are anonymous', () => {
  it('may ask for the version', async () => {
    const since = await headSeq(stack.plugin)
    const version = await stack.docker(null, ['version', '--format', '{{.Server.APIVersion}}'])
    expectOk(version)
    expect(version.stdout.trim()).toMatch(/^1\.\d+$/)
    const [record] = await decisions(stack.plugin, { action: 'system.version' }, since)
    expect(record).toMatchObject({ decision: 'allow', user: null, authMethod: 'anonymous' })
  })

  it('may not list containers, and are told how to get a token', async () => {
    const since = await headSeq(stack.plugin)
    const ps = await stack.docker(null, ['ps'])
    denied(ps, 'anonymous callers may not container.list')
    const message = deniedMessage(ps, stack.plugin.name)!
    expect(message).toContain('portcullis token issue')
    expect(message).toContain('X-Portcullis-Token')
    expect(await listDecision(since)).toMatchObject({ decision: 'deny', code: 'ANONYMOUS', user: null, authMethod: 'anonymous' })
  })
})

describe('a token that is present but bad is refused, not treated as anonymous', () => {
  it('a good token names its user (the control for the cases below)', async () => {
    const since = await headSeq(stack.plugin)
    expectOk(await stack.docker('alice', ['ps']))
    expect(await listDecision(since)).toMatchObject({ decision: 'allow', user: 'alice', authMethod: 'jwt' })
  })

  // Each case: the token, what the CLI must show, and what the audit reason must say.
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['an expired token', async () => {
      const token = await issueToken(stack.keysDir, 'alice', '1')
      const { exp } = jwt.decode(token) as { exp: number }
      // The plugin reads a token as expired from the second its exp names (whole seconds, no tolerance).
      await waitUntil('the one-second token expiring', () => Date.now() >= exp * 1000, { timeoutMs: 5_000 })
      return token
    }, /the token expired at \d{4}-\d\d-\d\dT[\d:.]+Z; get a new one/],
    ['a token signed by another key pair', async () => {
      const otherKeys = path.join(stack.dir, 'other-keys')
      await portcullisCliOk(['keys', 'init', '--keys', otherKeys])
      return issueToken(otherKeys, 'alice', '1h')
    }, /invalid signature/],
    ['a token signed by the right key for another audience', async () => {
      const privateKey = await readFile(path.join(stack.keysDir, 'token.key'), 'utf8')
      const settings = JSON.parse(await readFile(path.join(stack.keysDir, 'token.json'), 'utf8')) as { algorithm: jwt.Algorithm, issuer: string }
      return jwt.sign({}, privateKey, { algorithm: settings.algorithm, issuer: settings.issuer, audience: 'k8s', subject: 'alice', expiresIn: 3600 })
    }, /jwt audience invalid/],
    ['garbage in the header', async () => 'not-a-jwt', /jwt malformed/],
  ]

  for (const [what, makeToken, reason] of cases) {
    it(`${what} is denied with the reason, and recorded as BAD_TOKEN`, async () => {
      const token = await makeToken()
      const since = await headSeq(stack.plugin)
      const ps = await psWithToken(token)
      denied(ps, reason)
      // The way out is the same as for anonymous callers: get a (new) token.
      expect(deniedMessage(ps, stack.plugin.name)).toContain('portcullis token issue')
      const record = await listDecision(since)
      // No identity was established, so the record names neither user nor method; the reason says what was wrong.
      expect(record).toMatchObject({ decision: 'deny', code: 'BAD_TOKEN', user: null, authMethod: 'jwt', tokenId: expect.stringMatching(/^sha256:[0-9a-f]{16}$/) })
      expect(record.reason).toMatch(reason)
    })
  }
})

describe('a TLS client certificate names the user', () => {
  let tlsDockerd: Dockerd | undefined
  let carol: Docker
  let host: string

  beforeAll(async () => {
    const tls = await makeTlsFiles(path.join(stack.dir, 'tls'), { serverIp: '127.0.0.1', users: ['carol'] })
    host = `tcp://127.0.0.1:${await freeTcpPort()}`
    // A second daemon with the same plugin, also listening on TCP; only it sees client certificates.
    tlsDockerd = await startDockerd({
      dir: path.join(stack.dir, 'dockerd-tls'),
      authorizationPlugin: stack.plugin.name,
      tls: { host, caCert: tls.caCert, cert: tls.serverCert, key: tls.serverKey },
    })
    carol = createTlsDocker({ host, caCert: tls.caCert, client: tls.clients.carol!, configDir: path.join(stack.dir, 'tls', 'docker-config') })
  })

  afterAll(async () => {
    await tlsDockerd?.stop()
  })

  it('carol, with no token, lists containers as operator of payments; the record says tls', async () => {
    const since = await headSeq(stack.plugin)
    const ps = await carol(['ps'])
    expectOk(ps)
    expect(ps.stdout, describeResult(ps)).toContain('CONTAINER ID')
    expect(await listDecision(since)).toMatchObject({ decision: 'allow', user: 'carol', authMethod: 'tls' })
  })

  it('the policy still applies to her: carol is only a viewer of web', async () => {
    const since = await headSeq(stack.plugin)
    denied(await carol(['create', '--label', 'portcullis.project=web', '--network', 'none', 'busybox:portcullis']), 'carol may not container.create in project web')
    const [record] = await decisions(stack.plugin, { action: 'container.create' }, since)
    expect(record).toMatchObject({ decision: 'deny', user: 'carol', authMethod: 'tls', project: 'web', code: 'ROLE_DENIES' })
  })
})
