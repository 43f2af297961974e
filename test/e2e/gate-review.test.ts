// An outside review of the issue-10 build found these ways through, each now refused: BuildKit `outputs` naming an
// image in another project's repository, the daemon fetching from host loopback through distribution inspect, plugin
// privileges, BuildKit `cachefrom` and `BUILDKIT_SYNTAX`, and `volume create` claiming an existing volume; one
// must-work regression (BuildKit's remote=client-session); and a few refusals no other suite covers.
// examples/policy.json: alice developer of payments (bridge-only), carol operator of payments, bob developer of web
// and viewer of payments, ops admin.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decisions, headSeq } from '../helpers/audit.js'
import { daemonRequest } from '../helpers/daemon-http.js'
import { waitFor } from '../helpers/wait.js'
import { expectDenied, expectOk, startStack, TEST_IMAGE, TOKEN_HEADER, type DockerResult, type Stack } from '../helpers/index.js'

const policy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack

const label = (project: string): string[] => ['--label', `portcullis.project=${project}`]

beforeAll(async () => {
  stack = await startStack({ policy, users: ['alice', 'bob', 'carol', 'ops'], importAs: 'ops' })
}, 180_000)

afterAll(async () => {
  await stack?.stop()
})

const denied = (result: DockerResult, message?: string | RegExp): void => expectDenied(result, stack.plugin.name, message)

interface Answer { status: number, body: string }

/** One raw call on the daemon socket as `user` (null: anonymous). */
function raw (user: string | null, method: string, urlPath: string, body?: Buffer | string, extra: Record<string, string> = {}): Promise<Answer> {
  const headers = user === null ? extra : { ...extra, [TOKEN_HEADER]: stack.tokens[user]! }
  return daemonRequest(stack.dockerd.socket, { method, path: urlPath, headers, body, timeoutMs: 120_000 })
}

const json = (value: unknown): [string, Record<string, string>] => [JSON.stringify(value), { 'Content-Type': 'application/json' }]

/** A TCP listener on the host's loopback that counts the connections the daemon makes to it. */
async function loopbackListener (): Promise<{ port: number, connections: () => number, close: () => Promise<void> }> {
  let count = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    count++
    sockets.add(socket)
    socket.on('error', () => {})
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
    setTimeout(() => socket.destroy(), 200) // the daemon may keep its end open; the listener does not wait on it
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return { port, connections: () => count, close: () => new Promise((resolve) => { for (const socket of sockets) socket.destroy(); server.close(() => resolve()) }) }
}

async function imageExists (name: string): Promise<boolean> {
  return (await stack.docker('ops', ['image', 'inspect', name])).code === 0
}

describe('class 10: a BuildKit build names its image through `outputs`, which portcullis calls harmless', () => {
  it('a developer of payments cannot write web\'s repository with outputs=[{"Type":"moby","Attrs":{"name":…}}]', async () => {
    const dir = path.join(stack.dir, 'review-outputs')
    mkdirSync(dir, { recursive: true })
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /planted\n')
    const tar = execFileSync('tar', ['-C', dir, '-cf', '-', 'Dockerfile'])
    // The control: -t into web's repository is refused.
    const viaT = await raw('alice', 'POST', `/v1.41/build?version=2&t=web/stolen:t&labels=${encodeURIComponent('{"portcullis.project":"payments"}')}`, tar, { 'Content-Type': 'application/x-tar' })
    expect(viaT.status).toBe(403)
    const since = await headSeq(stack.plugin)
    const outputs = encodeURIComponent(JSON.stringify([{ Type: 'moby', Attrs: { name: 'docker.io/web/stolen:latest' } }]))
    const answer = await raw('alice', 'POST', `/v1.41/build?version=2&outputs=${outputs}`, tar, { 'Content-Type': 'application/x-tar' })
    const planted = await imageExists('web/stolen:latest')
    const record = (await decisions(stack.plugin, { uriIncludes: 'outputs=' }, since)).at(-1)
    expect({ status: answer.status, planted, decision: record?.decision }, answer.body.slice(-400)).toEqual({ status: 403, planted: false, decision: 'deny' })
  }, 180_000)
})

describe('the daemon as a client of host-loopback services, for roles without unsafe', () => {
  /** Sends the call, gives the daemon a few seconds to connect, then reports the status (0: still waiting). */
  async function probe (user: string, urlPath: string): Promise<{ status: number, connections: number, body: string }> {
    const listener = await loopbackListener()
    try {
      const call = raw(user, 'GET', urlPath.replace('PORT', String(listener.port))).catch(() => ({ status: 0, body: '' }))
      // A bound, not a sleep: a refused call answers at once; one let through hangs while the daemon connects.
      const answer = await Promise.race([call, new Promise<Answer>((resolve) => setTimeout(() => resolve({ status: 0, body: '(no answer yet)' }), 8000))])
      return { status: answer.status, connections: listener.connections(), body: answer.body }
    } finally {
      await listener.close()
    }
  }

  it('a viewer\'s distribution inspect does not make the daemon connect to 127.0.0.1: the registry is judged against images.registries', async () => {
    const since = await headSeq(stack.plugin)
    const found = await probe('bob', '/v1.41/distribution/127.0.0.1:PORT/probe/x/json')
    const record = (await decisions(stack.plugin, { uriIncludes: '/distribution/127.0.0.1' }, since)).at(-1)
    expect({ status: found.status, connections: found.connections, decision: record?.decision }, found.body).toEqual({ status: 403, connections: 0, decision: 'deny' })
  })

  it('an operator\'s plugin privileges query does not make the daemon connect to 127.0.0.1', async () => {
    const since = await headSeq(stack.plugin)
    const found = await probe('carol', '/v1.41/plugins/privileges?remote=127.0.0.1:PORT/probe/plugin:latest')
    const record = (await decisions(stack.plugin, { uriIncludes: '/plugins/privileges' }, since)).at(-1)
    expect({ status: found.status, connections: found.connections, decision: record?.decision }, found.body).toEqual({ status: 403, connections: 0, decision: 'deny' })
  })

  it('control: a pull from 127.0.0.1 is refused by images.registries', async () => {
    const answer = await raw('alice', 'POST', '/v1.41/images/create?fromImage=127.0.0.1:9/probe/x&tag=1')
    expect(answer.status).toBe(403)
  })
})

describe('BuildKit query parameters that make the daemon fetch from any registry', () => {
  async function buildProbe (query: (port: number) => string): Promise<{ connections: number, decision?: string | null }> {
    const dir = path.join(stack.dir, 'review-bk')
    mkdirSync(dir, { recursive: true })
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /x\n')
    const tar = execFileSync('tar', ['-C', dir, '-cf', '-', 'Dockerfile'])
    const listener = await loopbackListener()
    try {
      const since = await headSeq(stack.plugin)
      const q = query(listener.port)
      // A bound, not a sleep: a refused build answers at once; one let through hangs while the daemon connects.
      await Promise.race([raw('alice', 'POST', `/v1.41/build?version=2&${q}`, tar, { 'Content-Type': 'application/x-tar' }).catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 8000))])
      const record = (await decisions(stack.plugin, { uriIncludes: '/build?version=2' }, since)).at(-1)
      return { connections: listener.connections(), decision: record?.decision }
    } finally {
      await listener.close()
    }
  }

  it('cachefrom=127.0.0.1:PORT/… (a registry cache import) is judged by images.registries and refused', async () => {
    const found = await buildProbe((port) => `cachefrom=${encodeURIComponent(JSON.stringify([`127.0.0.1:${port}/probe/cache:1`]))}`)
    expect(found).toEqual({ connections: 0, decision: 'deny' })
  })

  it('buildargs BUILDKIT_SYNTAX=127.0.0.1:PORT/… (a frontend image the daemon pulls and runs) is refused', async () => {
    const found = await buildProbe((port) => `buildargs=${encodeURIComponent(JSON.stringify({ BUILDKIT_SYNTAX: `127.0.0.1:${port}/probe/frontend:1` }))}`)
    expect(found).toEqual({ connections: 0, decision: 'deny' })
  })
})

describe('class 7/9: a volume name taken before its project creates it', () => {
  it('a volume made on the fly by another project\'s container cannot be claimed by volume create', async () => {
    // alice's container makes `web-cache` on the fly (unowned), and keeps it mounted.
    expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', ...label('payments'), '--name', 'squatter', '-v', 'web-cache:/d', TEST_IMAGE, 'sleep', '600']))
    // bob "creates" web's volume: dockerd answers 201 with the existing one.
    const create = await stack.docker('bob', ['volume', 'create', ...label('web'), 'web-cache'])
    // Then web's data goes where payments reads it (observed: alice reads "web-secret").
    const write = await stack.docker('bob', ['run', '--rm', '--network', 'none', ...label('web'), '-v', 'web-cache:/d', TEST_IMAGE, 'sh', '-c', 'echo web-secret > /d/s'])
    const read = await stack.docker('alice', ['exec', 'squatter', 'cat', '/d/s'])
    // (docker run exits 125 when the daemon refuses the create, docker volume create 1.)
    expect({ created: create.code === 0, wrote: write.code === 0, aliceReads: read.stdout.trim() }).toEqual({ created: false, wrote: false, aliceReads: expect.not.stringContaining('web-secret') })
    denied(create)
  })

  it('a volume another project created cannot be re-claimed by a second create of the same name', async () => {
    expectOk(await stack.docker('alice', ['volume', 'create', ...label('payments'), 'shared-name']))
    expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', ...label('payments'), '--name', 'squatter2', '-v', 'shared-name:/d', TEST_IMAGE, 'sleep', '600']))
    const create = await stack.docker('bob', ['volume', 'create', ...label('web'), 'shared-name'])
    // Observed: the create answers 201, the registry files payments' volume under web, and bob mounts it.
    const use = await stack.docker('bob', ['run', '--rm', '--network', 'none', ...label('web'), '-v', 'shared-name:/d', TEST_IMAGE, 'true'])
    expect({ created: create.code === 0, bobMounts: use.code === 0 }).toEqual({ created: false, bobMounts: false })
    denied(create)
  })
})

describe('refused correctly: query keys spelled another way, repeated, or an old API version', () => {
  beforeAll(async () => {
    expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', ...label('payments'), '--name', 'rv-app', TEST_IMAGE, 'sleep', '600']))
  })

  it('attach: a percent-encoded key (%73tdin), stdin=1 before stdin=0, and a case-changed key (Stdin) are all refused', async () => {
    for (const query of ['%73tdin=1&stream=1&stdout=1', 'stdin=1&stdin=0&stream=1&stdout=1', 'Stdin=1&stream=1&stdout=1']) {
      const answer = await raw('alice', 'POST', `/v1.41/containers/rv-app/attach?${query}`)
      expect(answer.status, query).toBe(403)
    }
  })

  it('build: %6Eetworkmode=host and networkmode=default&networkmode=host are refused', async () => {
    const tar = execFileSync('tar', ['-C', stack.dir, '-cf', '-', '--files-from', '/dev/null'])
    for (const query of ['%6Eetworkmode=host', 'networkmode=default&networkmode=host', 'Networkmode=host']) {
      const answer = await raw('alice', 'POST', `/v1.41/build?${query}`, tar, { 'Content-Type': 'application/x-tar' })
      expect(answer.status, query).toBe(403)
    }
  })

  it('an old API version (/v1.23, /v01.023) start with a HostConfig binding / is refused', async () => {
    expectOk(await stack.docker('alice', ['create', '--network', 'none', ...label('payments'), '--name', 'rv-old', TEST_IMAGE, 'sleep', '600']))
    for (const version of ['v1.23', 'v01.023', 'v1.12']) {
      const [body, headers] = json({ Binds: ['/:/host'] })
      const answer = await raw('alice', 'POST', `/${version}/containers/rv-old/start`, body, headers)
      expect(answer.status, version).toBe(403)
    }
    expect((await stack.docker('ops', ['inspect', '--format', '{{.State.Running}}', 'rv-old'])).stdout.trim()).toBe('false')
  })

  it('another project\'s volume cannot be mounted through Mounts, a deprecated top-level Binds, or lower-case keys', async () => {
    expectOk(await stack.docker('bob', ['volume', 'create', ...label('web'), 'rv-web-vol']))
    for (const [name, body] of [
      ['rv-m1', { Image: TEST_IMAGE, Labels: { 'portcullis.project': 'payments' }, HostConfig: { NetworkMode: 'none', Mounts: [{ Type: 'volume', Source: 'rv-web-vol', Target: '/d' }] } }],
      ['rv-m2', { Image: TEST_IMAGE, Labels: { 'portcullis.project': 'payments' }, NetworkMode: 'none', Binds: ['rv-web-vol:/d'] }],
      ['rv-m3', { Image: TEST_IMAGE, Labels: { 'portcullis.project': 'payments' }, hostconfig: { NetworkMode: 'none', binds: ['rv-web-vol:/d'] } }]
    ] as const) {
      const [text, headers] = json(body)
      const answer = await raw('alice', 'POST', `/v1.41/containers/create?name=${name}`, text, headers)
      expect(answer.status, name).toBe(403)
    }
  })
})

describe('must work: the 20.10 CLI\'s BuildKit build (DOCKER_BUILDKIT=1) sends remote=client-session', () => {
  // What `DOCKER_BUILDKIT=1 docker build -t payments/app --build-arg BUILDKIT_CACHE_MOUNT_NS=payments .` sends: the
  // context comes through the session, not a URL.
  const buildKit = async (marker: string, buildargs: string): Promise<{ decision?: string | null, code?: string, reason?: string | null }> => {
    const since = await headSeq(stack.plugin)
    const query = `version=2&remote=client-session&session=${marker}&t=payments/app&labels=${encodeURIComponent('{"portcullis.project":"payments"}')}` +
      (buildargs === '' ? '' : `&buildargs=${encodeURIComponent(buildargs)}`)
    // An allowed build waits for a session that never comes, so the answer is not the event: its decision record is.
    void raw('alice', 'POST', `/v1.41/build?${query}`, '', { 'Content-Type': 'application/x-tar' }).catch(() => undefined)
    const record = await waitFor(`the decision record of the build with session=${marker}`,
      async () => (await decisions(stack.plugin, { uriIncludes: `session=${marker}` }, since)).at(-1), { intervalMs: 200 })
    return { decision: record?.decision, code: record?.code ?? undefined, reason: record?.reason }
  }

  it('a developer\'s BuildKit build of her own repository, naming its cache namespace, is not refused as a build from a URL', async () => {
    expect(await buildKit('rvsession1', '{"BUILDKIT_CACHE_MOUNT_NS":"payments"}')).toMatchObject({ decision: 'allow', code: undefined })
  })

  it('without the cache namespace it is refused, naming the build argument to add; another project\'s namespace too', async () => {
    const bare = await buildKit('rvsession2', '')
    expect(bare).toMatchObject({ decision: 'deny', code: 'BUILD_CACHE_NAMESPACE' })
    expect(bare.reason).toContain('--build-arg BUILDKIT_CACHE_MOUNT_NS=<project>')
    expect(await buildKit('rvsession3', '{"BUILDKIT_CACHE_MOUNT_NS":"web"}')).toMatchObject({ decision: 'deny', code: 'BUILD_CACHE_NAMESPACE' })
  })
})

describe('another project\'s container named with the leading slash dockerd stores names with', () => {
  beforeAll(async () => {
    expectOk(await stack.docker('bob', ['run', '-d', '--network', 'none', ...label('web'), '--name', 'rv-web', TEST_IMAGE, 'sleep', '600']))
    expectOk(await stack.docker('alice', ['network', 'create', ...label('payments'), 'rv-net']))
  })

  it('network connect, commit and build networkmode=container: of "/rv-web" are refused like "rv-web"', async () => {
    for (const name of ['rv-web', '/rv-web']) {
      const [body, headers] = json({ Container: name })
      const answer = await raw('alice', 'POST', '/v1.41/networks/rv-net/connect', body, headers)
      expect(answer.status, `connect ${name}: ${answer.body}`).toBe(403)
    }
    const commit = await raw('carol', 'POST', `/v1.41/commit?container=${encodeURIComponent('/rv-web')}&repo=payments/rv-stolen`, '{}', { 'Content-Type': 'application/json' })
    expect(commit.status, commit.body).toBe(403)
    const build = await raw('alice', 'POST', `/v1.41/build?networkmode=${encodeURIComponent('container:/rv-web')}`, execFileSync('tar', ['-cf', '-', '--files-from', '/dev/null']), { 'Content-Type': 'application/x-tar' })
    expect(build.status, build.body).toBe(403)
  })
})
