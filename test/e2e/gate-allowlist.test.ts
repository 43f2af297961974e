// Issue 10, classes 2 and 3: every query parameter and body field is on an allowlist (docs/request-allowlist.md),
// against a real dockerd 20.10 and the real docker CLI (raw HTTP on the daemon socket where the CLI cannot say it).
// Ports, log drivers and subnets need a project grant (examples/policy.json grants payments 127.0.0.1:8000-8099,
// syslog and 10.210.0.0/16) or an unsafe role; unknown parameters and non-zero unknown fields are refused.
import http from 'node:http'
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectDenied, expectOk, removeDirSync, startStack, TEST_IMAGE, TOKEN_HEADER, type Stack } from '../helpers/index.js'
import { decisions, headSeq } from '../helpers/audit.js'

const policy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack
let contextDir: string

const PAY = ['--label', 'portcullis.project=payments']
const WEB = ['--label', 'portcullis.project=web']

beforeAll(async () => {
  stack = await startStack({ policy, users: ['alice', 'bob', 'carol', 'ops'], importAs: 'ops' })
  contextDir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-build-'))
  writeFileSync(path.join(contextDir, 'Dockerfile'), `FROM ${TEST_IMAGE}\nRUN true\n`)
  expectOk(await stack.docker('alice', ['network', 'create', ...PAY, '--subnet', '10.210.5.0/24', 'pay-net']))
  expectOk(await stack.docker('bob', ['run', '-d', '--network', 'none', ...WEB, '--name', 'web-1', TEST_IMAGE, 'sleep', '600']))
  expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', ...PAY, '--name', 'pay-1', TEST_IMAGE, 'sleep', '600']))
})

afterAll(async () => {
  await stack?.stop()
  if (contextDir !== undefined) removeDirSync(contextDir)
})

const denied = (result: Parameters<typeof expectDenied>[0], message?: string | RegExp): void => expectDenied(result, stack.plugin.name, message)

interface Answer { status: number, body: string }

/** One raw call on the daemon socket as `user`. */
function api (user: string, method: string, uri: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
    const headers: http.OutgoingHttpHeaders = { [TOKEN_HEADER]: stack.tokens[user]! }
    if (payload !== undefined) {
      // An empty body (build, import) goes without a type, as nothing the plugin must read.
      if (payload.length > 0) headers['Content-Type'] = 'application/json'
      headers['Content-Length'] = payload.length
    }
    const req = http.request({ socketPath: stack.dockerd.socket, method, path: uri, headers, agent: false, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

function expectRefused (answer: Answer, message: string | RegExp): void {
  expect(answer.status, answer.body).toBe(403)
  expect(answer.body).toContain(`authorization denied by plugin ${stack.plugin.name}`)
  if (typeof message === 'string') expect(answer.body).toContain(message)
  else expect(answer.body).toMatch(message)
}

/** The one decision record since `since` for `user` with `code`, and its fields. */
async function refusalRecord (since: number, user: string, code: string): Promise<Record<string, unknown>> {
  const found = await decisions(stack.plugin, { user, code, decision: 'deny' }, since)
  expect(found.length, `a ${code} record for ${user}`).toBeGreaterThan(0)
  return found.at(-1)!.fields ?? {}
}

describe('the docker CLI\'s ordinary calls pass the allowlist (it sends many zero-valued fields)', () => {
  it('run, create, exec, update, network create/connect/disconnect, volume create and build', async () => {
    expectOk(await stack.docker('alice', ['create', '--network', 'pay-net', ...PAY, '--name', 'pay-plain', '-e', 'A=1', '--memory', '64m', '--restart', 'on-failure:2', TEST_IMAGE, 'true']))
    const out = await stack.docker('alice', ['exec', 'pay-1', 'cat', '/etc/hostname'])
    expectOk(out)
    expectOk(await stack.docker('carol', ['update', '--cpus', '0.5', '--memory', '96m', '--memory-swap', '128m', '--restart', 'no', 'pay-1']))
    expectOk(await stack.docker('alice', ['volume', 'create', ...PAY, 'pay-vol']))
    expectOk(await stack.docker('alice', ['network', 'create', ...PAY, 'pay-net-2']))
    expectOk(await stack.docker('alice', ['network', 'connect', '--alias', 'db', 'pay-net-2', 'pay-plain']))
    expectOk(await stack.docker('alice', ['network', 'disconnect', 'pay-net-2', 'pay-plain']))
    expectOk(await stack.docker('alice', ['build', '-q', contextDir], { timeoutMs: 120_000 }))
    expectOk(await stack.docker('alice', ['run', '--rm', '--network', 'none', ...PAY, '--log-driver', 'json-file', '--log-opt', 'max-size=1m', '--runtime', 'runc', TEST_IMAGE, 'true']))
    expectOk(await stack.docker('alice', ['create', '--network', 'pay-net', '--ip', '10.210.5.60', '--tmpfs', '/run', '--init', '--cap-drop', 'ALL', '--ulimit', 'nofile=1024:1024', ...PAY, TEST_IMAGE, 'true']))
  })

  it('container update and exec create judge their fields too', async () => {
    expectRefused(await api('carol', 'POST', '/v1.41/containers/pay-1/update', { CpuRealtimeRuntime: 1000 }), 'CpuRealtimeRuntime')
    expectRefused(await api('carol', 'POST', '/v1.41/containers/pay-1/update', { OomKillDisable: true }), 'OomKillDisable')
    expectRefused(await api('carol', 'POST', '/v1.41/containers/pay-1/update', { Memory: 100000000, Future: 1 }), 'Future')
    expect((await api('carol', 'POST', '/v1.41/containers/pay-1/update', { Memory: 100000000, MemorySwap: 200000000, OomKillDisable: false })).status).toBe(200)
    expectRefused(await api('alice', 'POST', '/v1.41/containers/pay-1/exec', { Cmd: ['true'], Future: 'x' }), 'Future')
  })
})

describe('published ports need a ports grant', () => {
  it('a developer of payments publishes inside the grant (127.0.0.1:8000-8099)', async () => {
    expectOk(await stack.docker('alice', ['create', '--network', 'pay-net', ...PAY, '-p', '127.0.0.1:8080:80', TEST_IMAGE, 'true']))
  })

  it('every address, another port, a random port or -P is refused, naming the grant', async () => {
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['create', '--network', 'pay-net', ...PAY, '-p', '8080:80', TEST_IMAGE, 'true']), /GRANT|grants\.ports|projects\.payments\.grants\.ports/)
    denied(await stack.docker('alice', ['create', '--network', 'pay-net', ...PAY, '-p', '127.0.0.1:9000:80', TEST_IMAGE, 'true']), 'projects.payments.grants.ports')
    denied(await stack.docker('alice', ['create', '--network', 'pay-net', ...PAY, '-p', '127.0.0.1::80', TEST_IMAGE, 'true']), 'projects.payments.grants.ports')
    denied(await stack.docker('alice', ['create', '--network', 'pay-net', ...PAY, '--expose', '80', '-P', TEST_IMAGE, 'true']), 'every exposed port')
    const fields = await refusalRecord(since, 'alice', 'GRANT_REQUIRED')
    expect(fields.grantNeeds).toBeDefined()
  })

  it('a project without the grant is refused; the unsafe admin needs none', async () => {
    denied(await stack.docker('bob', ['create', '--network', 'none', ...WEB, '-p', '127.0.0.1:8080:80', TEST_IMAGE, 'true']), 'projects.web.grants.ports')
    expectOk(await stack.docker('ops', ['create', '--network', 'pay-net', ...PAY, '-p', '8081:80', '-P', '--expose', '81', TEST_IMAGE, 'true']))
  })
})

describe('log drivers other than json-file, local and none need a logDrivers grant', () => {
  it('syslog is granted to payments; gelf is not; web has no grant; the admin needs none', async () => {
    expectOk(await stack.docker('alice', ['create', '--network', 'none', ...PAY, '--log-driver', 'syslog', '--log-opt', 'syslog-address=udp://127.0.0.1:5514', TEST_IMAGE, 'true']))
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['create', '--network', 'none', ...PAY, '--log-driver', 'gelf', '--log-opt', 'gelf-address=udp://127.0.0.1:12201', TEST_IMAGE, 'true']), 'log driver gelf (add "gelf" to projects.payments.grants.logDrivers)')
    await refusalRecord(since, 'alice', 'GRANT_REQUIRED')
    denied(await stack.docker('bob', ['create', '--network', 'none', ...WEB, '--log-driver', 'syslog', '--log-opt', 'syslog-address=udp://127.0.0.1:5514', TEST_IMAGE, 'true']), 'projects.web.grants.logDrivers')
    expectOk(await stack.docker('ops', ['create', '--network', 'none', ...PAY, '--log-driver', 'gelf', '--log-opt', 'gelf-address=udp://127.0.0.1:12201', TEST_IMAGE, 'true']))
  })

  it('options the daemon\'s default driver does not take are refused without a driver name', async () => {
    const answer = await api('alice', 'POST', '/v1.41/containers/create', {
      Image: TEST_IMAGE, Labels: { 'portcullis.project': 'payments' }, HostConfig: { NetworkMode: 'none', LogConfig: { Type: '', Config: { 'syslog-address': 'tcp://10.0.0.1:514' } } }
    })
    expectRefused(answer, 'log-options')
  })
})

describe('network subnets need a subnets grant; IPAM and driver options need an unsafe role', () => {
  it('a subnet outside the grant is refused; the admin may', async () => {
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['network', 'create', ...PAY, '--subnet', '10.99.0.0/24', 'pay-wide']), 'subnet 10.99.0.0/24 (add a range that holds it to projects.payments.grants.subnets)')
    await refusalRecord(since, 'alice', 'GRANT_REQUIRED')
    denied(await stack.docker('bob', ['network', 'create', ...WEB, '--subnet', '10.210.9.0/24', 'web-net']), 'projects.web.grants.subnets')
    expectOk(await stack.docker('ops', ['network', 'create', ...PAY, '--subnet', '10.99.0.0/24', 'ops-net']))
  })

  it('a gateway outside the subnet, driver options and IPAM options are unsafe', async () => {
    // The CLI checks the gateway itself; the daemon's API is the way around it.
    const ipam = (pool: Record<string, unknown>): unknown => ({ Name: 'pay-gw', Labels: { 'portcullis.project': 'payments' }, IPAM: { Config: [pool] } })
    expectRefused(await api('alice', 'POST', '/v1.41/networks/create', ipam({ Subnet: '10.210.6.0/24', Gateway: '192.168.1.1' })), 'ipam-config')
    expectRefused(await api('alice', 'POST', '/v1.41/networks/create', ipam({ Subnet: '10.210.6.0/24', IPRange: '10.0.0.0/8' })), 'ipam-config')
    expectRefused(await api('alice', 'POST', '/v1.41/networks/create', ipam({ Subnet: '10.210.6.0/24', AuxiliaryAddresses: { h: '10.1.2.3' } })), 'ipam-config')
    expectRefused(await api('alice', 'POST', '/v1.41/networks/create', ipam({ Gateway: '10.210.6.1' })), 'ipam-config')
    expectRefused(await api('alice', 'POST', '/v1.41/networks/create', { ...(ipam({ Subnet: '10.210.7.0/24' }) as object), Ingress: true }), 'ingress-network')
    denied(await stack.docker('alice', ['network', 'create', ...PAY, '-o', 'com.docker.network.bridge.name=eth9', 'pay-opt']), 'network-driver-options')
    denied(await stack.docker('alice', ['network', 'create', ...PAY, '--ipam-opt', 'x=y', 'pay-ipam']), 'ipam-options')
    denied(await stack.docker('alice', ['network', 'create', ...PAY, '--ipam-driver', 'someplugin', 'pay-ipamd']), 'ipam-driver')
    denied(await stack.docker('alice', ['network', 'create', ...PAY, '--driver', 'someplugin', 'pay-drv']), 'network-driver')
  })

  it('network connect: endpoint driver options are unsafe', async () => {
    denied(await stack.docker('alice', ['network', 'connect', '--driver-opt', 'com.docker.network.endpoint.sysctls=x', 'pay-net', 'pay-1']), 'endpoint-driver-opts')
  })
})

describe('container fields that are unsafe unless default', () => {
  it('OomScoreAdj, Runtime, OomKillDisable, VolumeDriver, StorageOpt, blkio devices, real-time CPU, host-gateway', async () => {
    const create = (...flags: string[]): string[] => ['create', '--network', 'none', ...PAY, ...flags, TEST_IMAGE, 'true']
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', create('--oom-score-adj', '-500')), 'OomScoreAdj')
    denied(await stack.docker('alice', create('--runtime', 'io.containerd.runc.v2')), 'Runtime')
    denied(await stack.docker('alice', create('--oom-kill-disable')), 'OomKillDisable')
    denied(await stack.docker('alice', create('--volume-driver', 'someplugin')), 'volume-driver')
    denied(await stack.docker('alice', create('--storage-opt', 'size=1G')), 'StorageOpt')
    denied(await stack.docker('alice', create('--device-read-bps', '/dev/null:1mb')), 'BlkioDeviceReadBps')
    denied(await stack.docker('alice', create('--cpu-rt-runtime', '950000')), 'CpuRealtimeRuntime')
    denied(await stack.docker('alice', create('--add-host', 'h:host-gateway')), 'host-gateway')
    const fields = await refusalRecord(since, 'alice', 'UNSAFE_REQUIRED')
    expect(JSON.stringify(fields.escapes)).toContain('host-gateway')
    expectOk(await stack.docker('ops', create('--oom-score-adj', '500', '--add-host', 'h:host-gateway')))
  })

  it('a mount\'s volume driver and nfs-like local driver options are unsafe', async () => {
    denied(await stack.docker('alice', ['create', '--network', 'none', ...PAY, '--mount', 'type=volume,target=/d,volume-driver=someplugin', TEST_IMAGE, 'true']), 'volume-driver')
    denied(await stack.docker('alice', ['volume', 'create', ...PAY, '--opt', 'type=nfs', '--opt', 'o=addr=127.0.0.1', '--opt', 'device=:/x', 'pay-nfs']), /bind-like-volume|volume-driver-opts/)
    denied(await stack.docker('alice', ['volume', 'create', ...PAY, '--opt', 'type=nfs', '--opt', 'o=addr=127.0.0.1', 'pay-nfs']), 'volume-driver-opts')
    denied(await stack.docker('alice', ['volume', 'create', ...PAY, '--driver', 'someplugin', 'pay-plug']), 'volume-driver')
    expectOk(await stack.docker('alice', ['volume', 'create', ...PAY, '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=1m', 'pay-tmp']))
  })
})

describe('unknown query parameters and body fields', () => {
  it('an unknown query parameter is refused on any route, for everyone', async () => {
    const since = await headSeq(stack.plugin)
    expectRefused(await api('alice', 'GET', '/v1.41/containers/json?all=1&fancy=1'), 'fancy')
    const fields = await refusalRecord(since, 'alice', 'UNKNOWN_PARAMETER')
    expect(fields.unknownParameters).toEqual(['fancy'])
    expectRefused(await api('ops', 'GET', '/v1.41/containers/json?Filters=%7B%7D'), 'Filters')
    expect((await api('alice', 'GET', '/v1.41/containers/json?all=1&filters=%7B%7D')).status).toBe(200)
  })

  it('an unknown body field with a value is refused; with a zero value it is tolerated', async () => {
    const body = (extra: Record<string, unknown>): unknown => ({ Image: TEST_IMAGE, Labels: { 'portcullis.project': 'payments' }, HostConfig: { NetworkMode: 'none', ...extra } })
    const since = await headSeq(stack.plugin)
    expectRefused(await api('alice', 'POST', '/v1.41/containers/create', body({ FutureEscape: 'host' })), 'HostConfig.FutureEscape')
    const fields = await refusalRecord(since, 'alice', 'UNKNOWN_FIELD')
    expect(fields.unknownFields).toEqual(['HostConfig.FutureEscape'])
    expectRefused(await api('ops', 'POST', '/v1.41/containers/create', body({ FutureEscape: { on: true } })), 'FutureEscape')
    for (const zero of [null, false, 0, '', [], {}]) {
      const answer = await api('alice', 'POST', '/v1.41/containers/create', body({ FutureEscape: zero }))
      expect(answer.status, answer.body).toBe(201)
    }
    expectRefused(await api('alice', 'POST', '/v1.41/containers/pay-1/exec', { Cmd: ['true'], ConsoleSize: [10, 10] }), 'ConsoleSize')
    expectRefused(await api('alice', 'POST', '/v1.41/volumes/create', { Name: 'pay-x', Labels: { 'portcullis.project': 'payments' }, ClusterVolumeSpec: { Group: 'g' } }), 'ClusterVolumeSpec')
  })

  it('keys are folded as Go folds them: a long-s or odd-case spelling is still judged', async () => {
    const answer = await api('alice', 'POST', '/v1.41/containers/create', {
      Image: TEST_IMAGE, Labels: { 'portcullis.project': 'payments' }, HostConfig: { NetworkMode: 'none', oomscoreadj: -900, 'ſtorageOpt': { size: '1G' } }
    })
    expectRefused(answer, /OomScoreAdj: -900.*StorageOpt/)
  })
})

describe('POST /build query parameters', () => {
  const build = (user: string, query: string): Promise<Answer> => api(user, 'POST', `/v1.41/build?${query}`, '')

  it('networkmode=host, cgroupparent, remote, isolation and extrahosts host-gateway need an unsafe role', async () => {
    expectRefused(await build('alice', 'networkmode=host'), 'net-namespace')
    expectRefused(await build('alice', 'cgroupparent=%2Fhost.slice'), 'cgroup-parent')
    expectRefused(await build('alice', 'remote=http%3A%2F%2F127.0.0.1%3A2375%2Fversion'), 'build-remote')
    expectRefused(await build('alice', 'isolation=hyperv'), 'isolation')
    expectRefused(await build('alice', 'extrahosts=h%3Ahost-gateway'), 'host-gateway')
    expectRefused(await build('alice', 'networkmode=default&networkmode=host'), 'net-namespace')
  })

  it('networkmode=container:<another project\'s container> is judged in that project, where she is no member', async () => {
    expectRefused(await build('alice', 'networkmode=container%3Aweb-1'), 'alice is not a member of project web')
  })

  it('a build on the network of its own project\'s container or network is judged in that project', async () => {
    expectOk(await stack.docker('alice', ['build', '-q', '--network', 'container:pay-1', contextDir], { timeoutMs: 120_000 }))
    expectOk(await stack.docker('alice', ['build', '-q', '--network', 'pay-net', contextDir], { timeoutMs: 120_000 }))
    denied(await stack.docker('bob', ['build', '-q', '--network', 'pay-net', contextDir], { timeoutMs: 120_000 }), /not a member of project payments|may not image.build in project payments/)
  })

  it('an unknown build parameter is refused', async () => {
    expectRefused(await build('alice', 'dockerfile=Dockerfile&entitlements=network.host'), 'entitlements')
  })

  it('the unsafe admin may build on the host network', async () => {
    expectOk(await stack.docker('ops', ['build', '-q', '--network', 'host', contextDir], { timeoutMs: 120_000 }))
  })

  it('POST /images/create?fromSrc=<url> stays unsafe', async () => {
    expectRefused(await api('carol', 'POST', '/v1.41/images/create?fromSrc=http%3A%2F%2F127.0.0.1%3A1%2Fx.tar&repo=payments%2Fx', ''), 'import-from-url')
  })
})
