// The allowlist readers: query parameters per route, body fields per body type, and what they ask of grants.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { AuthZRequest, Identity, RequestFacts } from '../../src/core/types.js'
import { readRequest } from '../../src/authz/read-request.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { decide } from '../../src/core/decide.js'
import { cidrContains, parseCidr, parseIp } from '../../src/core/cidr.js'
import { ungrantedNeeds } from '../../src/core/project-grants.js'
import { decodeAs, goString, goStruct, structOf, type UnknownKey } from '../../src/request/godecode.js'
import { parseGoJson } from '../../src/request/gojson.js'

const example = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
const policy = compilePolicy(example)
const as = (user: string): Identity => ({ user, method: 'jwt' })

/** The request as dockerd shows it: a JSON body with its type and length; a build with the tar type the CLI sends. */
function read (method: string, uri: string, body?: unknown): RequestFacts {
  const req: AuthZRequest = { RequestMethod: method, RequestUri: uri, RequestHeaders: {} }
  if (body !== undefined) {
    const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
    req.RequestBody = bytes.toString('base64')
    req.RequestHeaders = { 'Content-Type': 'application/json', 'Content-Length': String(bytes.length) }
  } else if (uri.includes('/build')) {
    req.RequestHeaders = { 'Content-Type': 'application/x-tar' }
  }
  return readRequest(req)
}

const create = (hostConfig: Record<string, unknown>, top: Record<string, unknown> = {}): RequestFacts =>
  read('POST', '/v1.41/containers/create', { Image: 'busybox', Labels: { 'portcullis.project': 'payments' }, ...top, HostConfig: hostConfig })
const settings = (facts: RequestFacts): string[] => facts.escapes.map((e) => e.setting)

describe('the decoder reports keys Go would skip', () => {
  it('with their path and last raw value, at every depth', () => {
    const inner = goStruct('Inner', { A: goString })
    const outer = goStruct('Outer', { In: structOf(inner) })
    const unknown: UnknownKey[] = []
    decodeAs(outer, parseGoJson(Buffer.from('{"In":{"A":"x","B":1},"C":null}')), unknown)
    expect(unknown.map((u) => u.path)).toEqual(['In.B', 'C'])
  })
})

describe('query parameters', () => {
  it('an unknown parameter is reported; known ones are not', () => {
    expect(read('GET', '/v1.41/containers/json?all=1&filters=%7B%7D').unknownParameters).toBeUndefined()
    expect(read('GET', '/v1.41/containers/json?all=1&evil=1').unknownParameters).toEqual(['evil'])
    expect(read('GET', '/v1.41/_ping?x=1').unknownParameters).toEqual(['x'])
  })
  it('names are case-sensitive, as Go\'s r.Form is', () => {
    expect(read('POST', '/v1.41/build?NetworkMode=host').unknownParameters).toEqual(['NetworkMode'])
  })
  it('build: host network, cgroup parent, remote, isolation and any extra host are escapes; defaults are not', () => {
    expect(settings(read('POST', '/v1.41/build?networkmode=host'))).toContain('net-namespace')
    expect(settings(read('POST', '/v1.41/build?cgroupparent=x'))).toEqual(['cgroup-parent'])
    expect(settings(read('POST', '/v1.41/build?remote=http://x/'))).toEqual(['build-remote'])
    expect(settings(read('POST', '/v1.41/build?isolation=hyperv'))).toEqual(['isolation'])
    // The classic builder's layer cache ignores extra hosts: a step built against chosen hosts is reused by every project.
    expect(settings(read('POST', '/v1.41/build?extrahosts=a:host-gateway&extrahosts=b:1.2.3.4'))).toEqual(['build-extra-hosts', 'build-extra-hosts'])
    expect(settings(read('POST', '/v1.41/build?remote=client-session'))).toEqual([])
    expect(read('POST', '/v1.41/build?networkmode=default&cgroupparent=&isolation=default&remote=&extrahosts=&q=1').escapes).toEqual([])
  })
  it('build: container:<x> and network names are references', () => {
    expect(read('POST', '/v1.41/build?networkmode=container:web-1').references).toEqual([{ kind: 'container', ref: 'web-1' }])
    expect(read('POST', '/v1.41/build?networkmode=pay-net').references).toEqual([{ kind: 'network', ref: 'pay-net' }])
  })
  it('start with a checkpoint is unsafe', () => {
    expect(settings(read('POST', '/v1.41/containers/x/start?checkpoint=c1'))).toEqual(['checkpoint'])
  })
})

describe('body fields', () => {
  it('the docker CLI\'s zero-valued create passes untouched', () => {
    const facts = create({
      Binds: null, ContainerIDFile: '', LogConfig: { Type: '', Config: {} }, NetworkMode: 'default', PortBindings: {}, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      AutoRemove: false, VolumeDriver: '', VolumesFrom: null, CapAdd: null, CapDrop: null, CgroupnsMode: '', Dns: [], DnsOptions: [], DnsSearch: [], ExtraHosts: null,
      GroupAdd: null, IpcMode: '', Cgroup: '', Links: null, OomScoreAdj: 0, PidMode: '', Privileged: false, PublishAllPorts: false, ReadonlyRootfs: false, SecurityOpt: null,
      UTSMode: '', UsernsMode: '', ShmSize: 0, ConsoleSize: [0, 0], Isolation: '', CpuShares: 0, Memory: 0, NanoCpus: 0, CgroupParent: '', BlkioWeight: 0,
      BlkioWeightDevice: [], BlkioDeviceReadBps: null, BlkioDeviceWriteBps: null, BlkioDeviceReadIOps: null, BlkioDeviceWriteIOps: null, CpuPeriod: 0, CpuQuota: 0,
      CpuRealtimePeriod: 0, CpuRealtimeRuntime: 0, CpusetCpus: '', CpusetMems: '', Devices: [], DeviceCgroupRules: null, DeviceRequests: null, KernelMemory: 0,
      KernelMemoryTCP: 0, MemoryReservation: 0, MemorySwap: 0, MemorySwappiness: null, OomKillDisable: false, PidsLimit: null, Ulimits: null, CpuCount: 0,
      CpuPercent: 0, IOMaximumIOps: 0, IOMaximumBandwidth: 0, MaskedPaths: null, ReadonlyPaths: null, Runtime: 'runc'
    }, { Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false, OpenStdin: false, StdinOnce: false, Env: [], Cmd: ['true'], Volumes: {}, WorkingDir: '', Entrypoint: null, OnBuild: null, NetworkingConfig: { EndpointsConfig: {} } })
    expect(facts.bodyProblem).toBeUndefined()
    expect(facts.escapes).toEqual([])
    expect(facts.unknownFields).toBeUndefined()
    expect(facts.grantNeeds).toBeUndefined()
  })
  it('unsafe fields off their default are escapes, at the top level and under HostConfig', () => {
    expect(settings(create({ OomScoreAdj: -500 }))).toEqual(['unsafe-field'])
    expect(create({ Runtime: 'kata' }).escapes[0]?.detail).toBe('HostConfig.Runtime: kata')
    expect(settings(create({}, { OomScoreAdj: 5 }))).toEqual(['unsafe-field'])
    expect(settings(create({ VolumeDriver: 'nfsplugin' }))).toEqual(['volume-driver'])
    expect(settings(create({ StorageOpt: { size: '' } }))).toEqual(['unsafe-field'])
    expect(settings(create({ BlkioDeviceReadBps: [{ Path: '/dev/sda', Rate: 1 }] }))).toEqual(['unsafe-field'])
    expect(settings(create({ ExtraHosts: ['h:host-gateway'] }))).toEqual(['host-gateway'])
  })
  it('Go\'s merge of duplicate keys cannot hide a value: an earlier HostConfig field survives a later HostConfig', () => {
    const facts = read('POST', '/v1.41/containers/create', '{"Image":"b","Labels":{"portcullis.project":"payments"},"HostConfig":{"OomScoreAdj":-900},"hostconfig":{"Memory":1}}')
    expect(settings(facts)).toEqual(['unsafe-field'])
  })
  it('an unknown key is reported unless its value is zero', () => {
    expect(create({ Future: 'x' }).unknownFields).toEqual(['HostConfig.Future'])
    expect(create({ Future: { a: 0 } }).unknownFields).toEqual(['HostConfig.Future'])
    for (const zero of [null, false, 0, '', [], {}]) expect(create({ Future: zero }).unknownFields).toBeUndefined()
    expect(create({ Mounts: [{ Type: 'tmpfs', Target: '/t', Odd: 1 }] }).unknownFields).toEqual(['HostConfig.Mounts[0].Odd'])
  })
  it('ports, log drivers and subnets become grant needs', () => {
    const ports = create({ PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }, { HostIp: '', HostPort: '' }] }, PublishAllPorts: true }).grantNeeds!.ports
    expect(ports.map((p) => [p.hostIp, p.from, p.to])).toEqual([['127.0.0.1', 8080, 8080], ['', 32768, 60999], ['', 32768, 60999]])
    expect(create({ LogConfig: { Type: 'syslog', Config: {} } }).grantNeeds!.logDrivers).toEqual(['syslog'])
    expect(create({ LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } } }).grantNeeds).toBeUndefined()
    expect(settings(create({ LogConfig: { Type: '', Config: { 'syslog-address': 'tcp://x' } } }))).toEqual(['log-options'])
    const net = read('POST', '/v1.41/networks/create', { Name: 'n', Labels: { 'portcullis.project': 'payments' }, IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: '10.210.1.0/24', Gateway: '10.210.1.1' }] } })
    expect(net.grantNeeds!.subnets).toEqual(['10.210.1.0/24'])
    expect(net.escapes).toEqual([])
  })
  it('network create: gateways outside the subnet, pools without one, options, plugins and ingress are unsafe', () => {
    const net = (extra: Record<string, unknown>): string[] => settings(read('POST', '/v1.41/networks/create', { Name: 'n', ...extra }))
    expect(net({ IPAM: { Config: [{ Subnet: '10.210.1.0/24', Gateway: '10.9.9.9' }] } })).toEqual(['ipam-config'])
    expect(net({ IPAM: { Config: [{ IPRange: '10.0.0.0/8' }] } })).toEqual(['ipam-config'])
    expect(net({ Options: { 'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0' } })).toEqual(['network-driver-options'])
    expect(net({ Driver: 'weave' })).toEqual(['network-driver'])
    expect(net({ Driver: 'macvlan' })).toEqual(['host-network-driver'])
    expect(net({ Ingress: true })).toEqual(['ingress-network'])
    expect(net({ Driver: 'bridge', Options: {}, IPAM: { Driver: 'default', Options: {}, Config: [] }, CheckDuplicate: true })).toEqual([])
  })
  it('local volume options other than tmpfs are unsafe: overlay with a host lowerdir is not a bind but reaches the host', () => {
    const volume = (opts: Record<string, string>): string[] => settings(read('POST', '/v1.41/volumes/create', { Name: 'v', DriverOpts: opts }))
    expect(volume({ type: 'overlay', o: 'lowerdir=/etc,upperdir=/tmp/u,workdir=/tmp/w' })).toEqual(['volume-driver-opts'])
    expect(volume({ type: 'nfs', o: 'addr=10.0.0.1' })).toEqual(['volume-driver-opts'])
    expect(volume({ type: 'tmpfs', device: 'tmpfs', o: 'size=1m' })).toEqual([])
    expect(volume({ type: 'none', o: 'bind', device: '/etc' })).toEqual(['bind-like-volume'])
    expect(settings(create({ Mounts: [{ Type: 'volume', Target: '/d', VolumeOptions: { DriverConfig: { Name: 'local', Options: { type: 'overlay', o: 'lowerdir=/etc' } } } }] })))
      .toEqual(['volume-driver-opts'])
  })
  it('exec start and commit bodies are judged when forwarded', () => {
    expect(read('POST', '/v1.41/exec/abc/start', { Detach: false, Tty: true, ConsoleSize: [1, 2] }).unknownFields).toEqual(['ConsoleSize'])
    expect(read('POST', '/v1.41/exec/abc/start', { Detach: false, Tty: true }).unknownFields).toBeUndefined()
    expect(read('POST', '/v1.41/commit?container=x', { Cmd: ['sh'], Evil: 1 }).unknownFields).toEqual(['Evil'])
    expect(read('POST', '/v1.41/exec/abc/start', 'not json').bodyProblem).toBe('invalid-json')
  })
})

describe('project grants', () => {
  const needs = (ports: Array<[string, number, number]>, logDrivers: string[] = [], subnets: string[] = []) =>
    ({ ports: ports.map(([hostIp, from, to]) => ({ hostIp, from, to, field: 'f' })), logDrivers, subnets })
  it('cover ports by address and range; an empty HostIp needs a grant for every address', () => {
    expect(ungrantedNeeds(example, 'payments', needs([['127.0.0.1', 8000, 8099]]))).toEqual([])
    expect(ungrantedNeeds(example, 'payments', needs([['127.0.0.1', 8099, 8100]]))).toHaveLength(1)
    expect(ungrantedNeeds(example, 'payments', needs([['', 8080, 8080]]))[0]).toContain('"hostIp": ""')
    expect(ungrantedNeeds(example, 'payments', needs([['10.0.0.1', 8080, 8080]]))).toHaveLength(1)
    expect(ungrantedNeeds(example, 'web', needs([['127.0.0.1', 8080, 8080]]))[0]).toContain('projects.web.grants.ports')
    const wide = { projects: { p: { grants: { ports: [{ hostIp: '0.0.0.0', ports: '1-65535' }] } } } }
    expect(ungrantedNeeds(wide, 'p', needs([['192.168.0.4', 80, 80]]))).toEqual([])
    expect(ungrantedNeeds(wide, 'p', needs([['::1', 80, 80]]))).toHaveLength(1)
    expect(ungrantedNeeds(wide, 'p', needs([['', 80, 80]]))).toHaveLength(1)
  })
  it('cover log drivers by exact name and subnets by CIDR containment', () => {
    expect(ungrantedNeeds(example, 'payments', needs([], ['syslog'], ['10.210.3.0/24']))).toEqual([])
    expect(ungrantedNeeds(example, 'payments', needs([], ['Syslog'], ['10.0.0.0/8', '10.210.0.0/15']))).toHaveLength(3)
    expect(ungrantedNeeds(example, null, needs([], ['syslog']))[0]).toContain('label the object')
  })
  it('the decision names the grant; an unsafe role needs none', () => {
    const facts = create({ PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '80' }] } })
    const none = { references: [] }
    const d = decide(policy, as('alice'), facts, none, { pluginName: 'portcullis' })
    expect(d).toMatchObject({ allow: false, code: 'GRANT_REQUIRED' })
    expect(d.reason).toContain('projects.payments.grants.ports')
    expect(decide(policy, as('ops'), facts, none, { pluginName: 'portcullis' })).toMatchObject({ allow: true })
  })
  it('bad grants are refused when the policy loads', () => {
    const bad = structuredClone(example)
    bad.projects.payments.grants = { ports: [{ hostIp: 'localhost', ports: '9000-8000' }], subnets: ['10.0.0.0'] }
    expect(() => compilePolicy(bad)).toThrow(/hostIp[\s\S]*|ports[\s\S]*subnets/)
  })
})

describe('CIDR arithmetic', () => {
  it('parses IPv4, IPv6 (compressed, with an IPv4 tail) and containment', () => {
    expect(parseIp('::ffff:10.0.0.1')?.value).toBe(0xffff0a000001n)
    expect(parseIp('fe80::1%eth0')).toBeNull()
    expect(cidrContains(parseCidr('fd00::/8')!, parseCidr('fd12:3456::/64')!)).toBe(true)
    expect(cidrContains(parseCidr('10.210.0.0/16')!, parseCidr('10.211.0.0/24')!)).toBe(false)
    expect(cidrContains(parseCidr('10.210.0.0/16')!, parseCidr('10.210.0.0/8')!)).toBe(false)
    expect(parseCidr('10.0.0.0/33')).toBeNull()
  })
})

describe('setting names', () => {
  it('every setting a table names is documented', async () => {
    const { ALLOWLIST_SETTINGS } = await import('../../src/request/allowlist.js')
    const { ESCAPE_SETTINGS } = await import('../../src/request/escapes.js')
    const { BODY_TABLES } = await import('../../src/request/fields/index.js')
    const { flatten } = await import('../../src/request/fields/table.js')
    const { QUERY_PARAMS } = await import('../../src/request/query-params.js')
    const known = new Set<string>([...Object.keys(ALLOWLIST_SETTINGS), ...ESCAPE_SETTINGS])
    const named = [
      ...Object.values(BODY_TABLES).flatMap((t) => flatten(t).map(([, spec]) => spec.setting)),
      ...Object.values(QUERY_PARAMS).flatMap((params) => Object.values(params).map((spec) => spec.setting))
    ].filter((s): s is string => s !== undefined)
    expect(named.filter((s) => !known.has(s))).toEqual([])
  })
})

describe('builds that join another object\'s network', () => {
  const build = (ref: { kind: 'container' | 'network', ref: string }, project: string | null) =>
    ({ references: [{ ref, exists: true, project }] })
  const facts = (): RequestFacts => read('POST', '/v1.41/build?networkmode=container:pay-1')
  it('are judged in that object\'s project', () => {
    expect(decide(policy, as('alice'), facts(), build({ kind: 'container', ref: 'pay-1' }, 'payments'), { pluginName: 'portcullis' }))
      .toMatchObject({ allow: true, project: 'payments' })
    expect(decide(policy, as('alice'), facts(), build({ kind: 'container', ref: 'web-1' }, 'web'), { pluginName: 'portcullis' }))
      .toMatchObject({ allow: false, code: 'NOT_MEMBER' })
    expect(decide(policy, as('alice'), facts(), build({ kind: 'container', ref: 'x' }, null), { pluginName: 'portcullis' }))
      .toMatchObject({ allow: false, code: 'CROSS_PROJECT' })
  })
})

describe('bounds', () => {
  it('thousands of repeated fields make a short message and record, and are all still judged', () => {
    const bindings = Array.from({ length: 5000 }, (_, i) => ({ HostIp: '127.0.0.1', HostPort: String(8000 + (i % 100)) }))
    bindings.push({ HostIp: '', HostPort: '80' })
    const facts = create({ PortBindings: { '80/tcp': bindings }, ExtraHosts: Array.from({ length: 3000 }, () => 'h:host-gateway') },
      Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`Future${i}`, 1])))
    expect(facts.unknownFields).toHaveLength(21)
    expect(facts.escapes.length).toBeLessThanOrEqual(21)
    expect(facts.grantNeeds!.ports).toHaveLength(5001)
    const d = decide(policy, as('ops'), { ...facts, unknownFields: undefined }, { references: [] }, { pluginName: 'portcullis' })
    expect(d.allow).toBe(true)
    const refused = decide(policy, as('alice'), { ...facts, unknownFields: undefined, escapes: [] }, { references: [] }, { pluginName: 'portcullis' })
    expect(refused).toMatchObject({ allow: false, code: 'GRANT_REQUIRED' })
    expect(refused.reason.length).toBeLessThan(2000)
  })
})
