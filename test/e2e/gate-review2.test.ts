// A second outside review of the issue-10 build, attacks the first review (gate-review.test.ts) did not try, each
// now refused:
// - BuildKit `RUN --mount=type=cache` directories are one store for the daemon, keyed by their target path, so one
//   project's build wrote the package cache another project's build read. A BuildKit build by a role that is not
//   unsafe must name its project with BUILDKIT_CACHE_MOUNT_NS (the Dockerfile frontend prefixes every cache id with
//   it), and is judged in that project.
// - The classic builder reuses a RUN layer whatever `extrahosts` the build that made it had: build `extrahosts`
//   needs an unsafe role.
// - A build's `networkmode=container:<x>` joined an admin's `--network host` container: builds now inherit the host
//   reach of what they join, as creates do.
// Not held, and written down in docs/security-model.md rather than tested here: a Dockerfile's `ADD <url>` is
// fetched by dockerd from the host's network namespace (the plugin never sees the Dockerfile).
// Refused correctly (kept short, not covered elsewhere): network connect by another project's container ID prefix,
// archive/logs by full ID, attach stdin spelled " 1"/TRUE/yes/2/on, an IPv6 subnet outside the grant, exec create
// with PRIVILEGED, a mount's overlay driver options, links to another project's container.
//
// examples/policy.json: alice developer of payments (bridge-only), carol operator of payments, bob developer of web
// and viewer of payments, ops admin.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decisions, headSeq } from '../helpers/audit.js'
import { daemonRequest } from '../helpers/daemon-http.js'
import { expectOk, startStack, TEST_IMAGE, TOKEN_HEADER, type Stack } from '../helpers/index.js'

const policy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack

const label = (project: string): string[] => ['--label', `portcullis.project=${project}`]

interface Answer { status: number, body: string }

/** One raw call on the daemon socket as `user`. */
function raw (user: string, method: string, urlPath: string, body?: Buffer | string, extra: Record<string, string> = {}): Promise<Answer> {
  return daemonRequest(stack.dockerd.socket, { method, path: urlPath, headers: { ...extra, [TOKEN_HEADER]: stack.tokens[user]! }, body, timeoutMs: 100_000 })
}

/** A hijacked call (attach): only the status matters; the socket is closed at once. */
function hijackStatus (user: string, urlPath: string): Promise<number> {
  return new Promise((resolve) => {
    const headers = { [TOKEN_HEADER]: stack.tokens[user]!, Connection: 'Upgrade', Upgrade: 'tcp' }
    const req = http.request({ socketPath: stack.dockerd.socket, method: 'POST', path: urlPath, headers })
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode ?? 0) })
    req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', () => resolve(0))
    req.setTimeout(10_000, () => { req.destroy(); resolve(0) }) // a bound on an unanswered call (status 0), not a pause
    req.end()
  })
}

const post = (user: string, urlPath: string, value: unknown): Promise<Answer> =>
  raw(user, 'POST', urlPath, JSON.stringify(value), { 'Content-Type': 'application/json' })

/** A build context holding only `dockerfile`, as a tar. */
function context (name: string, dockerfile: string): Buffer {
  const dir = path.join(stack.dir, name)
  mkdirSync(dir, { recursive: true })
  writeFileSync(path.join(dir, 'Dockerfile'), dockerfile)
  return execFileSync('tar', ['-C', dir, '-cf', '-', 'Dockerfile'])
}

const projectLabels = (project: string): string => encodeURIComponent(JSON.stringify({ 'portcullis.project': project }))

beforeAll(async () => {
  stack = await startStack({ policy, users: ['alice', 'bob', 'carol', 'ops'], importAs: 'ops' })
}, 180_000)

afterAll(async () => {
  await stack?.stop()
})

describe('class 10: the build cache every project shares', () => {
  it('a BuildKit build names its project\'s cache namespace: payments\' cache mount is not the one web\'s build reads', async () => {
    // What the docker CLI sends for DOCKER_BUILDKIT=1 (the sandbox has no bridge, hence networkmode=none).
    const build = (user: string, project: string, tag: string, dockerfile: string, namespace?: string): Promise<Answer> =>
      raw(user, 'POST', `/v1.41/build?version=2&networkmode=none&t=${encodeURIComponent(tag)}&labels=${projectLabels(project)}` +
        (namespace === undefined ? '' : `&buildargs=${encodeURIComponent(JSON.stringify({ BUILDKIT_CACHE_MOUNT_NS: namespace }))}`),
      context(`r2-bk-${user}`, dockerfile), { 'Content-Type': 'application/x-tar' })
    const poisoner = `FROM ${TEST_IMAGE}\nRUN --mount=type=cache,target=/cache echo poisoned-by-payments > /cache/pkg\n`
    const since = await headSeq(stack.plugin)
    // Without a namespace (the cache every project would share): refused, naming the build argument.
    await build('alice', 'payments', 'payments/r2-poison:1', poisoner)
    const bare = (await decisions(stack.plugin, { uriIncludes: 'r2-poison' }, since)).at(-1)
    expect(bare).toMatchObject({ decision: 'deny', code: 'BUILD_CACHE_NAMESPACE' })
    expect(bare?.reason).toContain('--build-arg BUILDKIT_CACHE_MOUNT_NS=<project>')
    // Naming web's namespace from a payments build: refused too.
    await build('alice', 'payments', 'payments/r2-poison:2', poisoner, 'web')
    expect((await decisions(stack.plugin, { uriIncludes: 'r2-poison%3A2' }, since)).at(-1)).toMatchObject({ decision: 'deny', code: 'BUILD_CACHE_NAMESPACE' })
    // Each in its own namespace: payments writes its cache, web's identical cache mount does not see it.
    const poison = await build('alice', 'payments', 'payments/r2-poison:3', poisoner, 'payments')
    expect((await decisions(stack.plugin, { uriIncludes: 'r2-poison%3A3' }, since)).at(-1)).toMatchObject({ decision: 'allow', project: 'payments' })
    const web = await build('bob', 'web', 'web/r2-app:1',
      `FROM ${TEST_IMAGE}\nRUN --mount=type=cache,target=/cache cat /cache/pkg > /pkg 2>/dev/null || echo clean > /pkg\n`, 'web')
    const shipped = await stack.docker('ops', ['run', '--rm', '--network', 'none', ...label('web'), 'web/r2-app:1', 'cat', '/pkg'])
    expect(shipped.stdout.trim(), `${poison.body.slice(-300)}\n${web.body.slice(-300)}`).toBe('clean')
  }, 120_000)

  it('a build may not choose extrahosts, so no classic-builder layer made against chosen hosts reaches web\'s identical step', async () => {
    // web's real step would be `RUN wget http://downloads.example.com/app.tgz`; reading /etc/hosts shows the same
    // thing without a network: the cache key (the RUN line and its parent) leaves out extrahosts and networkmode.
    const tar = context('r2-classic', `FROM ${TEST_IMAGE}\nRUN grep downloads.example.com /etc/hosts > /resolved || echo clean > /resolved\n`)
    const since = await headSeq(stack.plugin)
    const poison = await raw('alice', 'POST', `/v1.41/build?networkmode=none&extrahosts=${encodeURIComponent('downloads.example.com:10.66.66.66')}` +
      `&t=payments/r2-pre:1&labels=${projectLabels('payments')}`, tar, { 'Content-Type': 'application/x-tar' })
    const aliceRecord = (await decisions(stack.plugin, { uriIncludes: 'r2-pre' }, since)).at(-1)
    const web = await raw('bob', 'POST', `/v1.41/build?networkmode=none&t=web/r2-site:1&labels=${projectLabels('web')}`, tar, { 'Content-Type': 'application/x-tar' })
    const shipped = await stack.docker('ops', ['run', '--rm', '--network', 'none', ...label('web'), 'web/r2-site:1', 'cat', '/resolved'])
    // Observed: alice's build is allowed, bob's says "Using cache" for the RUN step, and web's image resolves
    // downloads.example.com to 10.66.66.66.
    expect({ aliceDecision: aliceRecord?.decision, webImage: shipped.stdout.trim() }, `${poison.body.slice(-300)}\n${web.body.slice(-300)}`)
      .toEqual({ aliceDecision: 'deny', webImage: expect.not.stringContaining('10.66.66.66') })
  }, 120_000)
})

describe('class 8: a build joins the network namespace of a host-reaching container', () => {
  it('a build may not join an admin\'s --network host container (networkmode=container:<x>): it inherits x\'s host reach, as a create does', async () => {
    expectOk(await stack.docker('ops', ['run', '-d', '--network', 'host', ...label('payments'), '--name', 'r2-hostnet', TEST_IMAGE, 'sleep', '600']))
    let connections = 0
    const server = http.createServer((req, res) => { connections++; res.end('host-loopback-secret\n') })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    try {
      // Control: a container create joining it is refused (UNSAFE_REQUIRED: takes from a host-reaching container).
      const control = await post('alice', '/v1.41/containers/create?name=r2-join', { Image: TEST_IMAGE, Labels: { 'portcullis.project': 'payments' }, HostConfig: { NetworkMode: 'container:r2-hostnet' } })
      expect(control.status).toBe(403)
      const tar = context('r2-join', `FROM ${TEST_IMAGE}\nRUN wget -q -O /loot http://127.0.0.1:${port}/join || echo none > /loot\n`)
      const since = await headSeq(stack.plugin)
      const build = await raw('alice', 'POST', `/v1.41/build?networkmode=${encodeURIComponent('container:r2-hostnet')}&t=payments/r2-join:1&labels=${projectLabels('payments')}`, tar, { 'Content-Type': 'application/x-tar' })
      const record = (await decisions(stack.plugin, { uriIncludes: 'r2-join' }, since)).at(-1)
      const loot = await stack.docker('alice', ['run', '--rm', '--network', 'none', ...label('payments'), 'payments/r2-join:1', 'cat', '/loot'])
      // Observed: allowed; the RUN step connected to 127.0.0.1 on the host and alice reads "host-loopback-secret".
      expect({ decision: record?.decision, connections, aliceReads: loot.stdout.trim() }, build.body.slice(-400))
        .toEqual({ decision: 'deny', connections: 0, aliceReads: expect.not.stringContaining('secret') })
    } finally {
      server.close()
    }
  }, 120_000)
})

describe('refused correctly (attempts no other suite covers)', () => {
  beforeAll(async () => {
    expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', ...label('payments'), '--name', 'r2-pay', TEST_IMAGE, 'sleep', '600']))
    expectOk(await stack.docker('bob', ['run', '-d', '--network', 'none', ...label('web'), '--name', 'r2-web', TEST_IMAGE, 'sleep', '600']))
    expectOk(await stack.docker('carol', ['run', '-dit', '--network', 'none', ...label('payments'), '--name', 'r2-tty', TEST_IMAGE, 'sh']))
    expectOk(await stack.docker('alice', ['network', 'create', ...label('payments'), 'r2-net']))
  }, 60_000)

  it('another project\'s container by ID prefix (network connect) and by full ID (archive, logs)', async () => {
    const web = (await stack.docker('ops', ['inspect', '--format', '{{.Id}}', 'r2-web'])).stdout.trim()
    expect((await post('alice', '/v1.41/networks/r2-net/connect', { Container: web.slice(0, 12) })).status).toBe(403)
    expect((await raw('alice', 'GET', `/v1.41/containers/${web}/archive?path=/etc/hostname`)).status).toBe(403)
    expect((await raw('alice', 'GET', `/v1.41/containers/${web}/logs?stdout=1`)).status).toBe(403)
  })

  it('attach stdin in the spellings httputils.BoolValue reads as true (" 1", TRUE, yes, 2, on)', async () => {
    for (const value of ['%201', 'TRUE', 'yes', '2', 'on']) {
      expect(await hijackStatus('alice', `/v1.41/containers/r2-tty/attach?stream=1&stdout=1&stdin=${value}`), value).toBe(403)
    }
  })

  it('an IPv6 subnet outside the grant, PRIVILEGED in exec create, overlay options in a mount, a link to web', async () => {
    const payments = { 'portcullis.project': 'payments' }
    expect((await post('alice', '/v1.41/networks/create', { Name: 'r2-v6', EnableIPv6: true, IPAM: { Config: [{ Subnet: '10.210.7.0/24' }, { Subnet: 'fd00:77::/64' }] }, Labels: payments })).status).toBe(403)
    expect((await post('alice', '/v1.41/containers/r2-pay/exec', { Cmd: ['true'], PRIVILEGED: true })).status).toBe(403)
    const overlay = { Type: 'volume', Source: 'r2-ovl', Target: '/d', VolumeOptions: { DriverConfig: { Options: { type: 'overlay', device: 'overlay', o: 'lowerdir=/etc' } } } }
    expect((await post('alice', '/v1.41/containers/create?name=r2-ov', { Image: TEST_IMAGE, Labels: payments, HostConfig: { NetworkMode: 'none', Mounts: [overlay] } })).status).toBe(403)
    expect((await post('alice', '/v1.41/containers/create?name=r2-link', { Image: TEST_IMAGE, Labels: payments, HostConfig: { NetworkMode: 'none', Links: ['r2-web:db'] } })).status).toBe(403)
  })
})
