// The policy core's rules for prune scope, ID-like names and references, and host reach inherited from objects.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { Escape, Identity, RequestFacts, ResolvedResource, ResourceFacts } from '../../src/core/types.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { decide } from '../../src/core/decide.js'
import { containerReach, networkReach, volumeReach } from '../../src/docker/host-reach.js'
import { networksToFind } from '../../src/docker/start-networks.js'
import { idLikeNewName, readsBothWays } from '../../src/request/object-names.js'
import { pruneFacts } from '../../src/request/prune-filters.js'
import { readRequest } from '../../src/authz/read-request.js'

const policy = compilePolicy(JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8')))
const options = { pluginName: 'portcullis' }
const as = (user: string): Identity => ({ user, method: 'jwt' })
const none: ResourceFacts = { references: [] }

function request (action: string, extra: Partial<RequestFacts> = {}): RequestFacts {
  return { method: 'POST', uri: '/x', path: '/x', query: {}, action, escapes: [], references: [], auditFields: {}, ...extra }
}
const prune = (action: string, filters?: string): RequestFacts =>
  request(action, { prune: pruneFacts(action, filters === undefined ? {} : { filters: [filters] }) })
const confined = (project: string): string => JSON.stringify({ label: { [`portcullis.project=${project}`]: true } })

describe('prune is judged in the project its filters confine it to', () => {
  it('an operator of payments may prune payments\' containers, volumes and networks', () => {
    for (const action of ['container.prune', 'volume.prune', 'network.prune']) {
      expect(decide(policy, as('carol'), prune(action, confined('payments')), none, options)).toMatchObject({ allow: true, project: 'payments', role: 'operator' })
    }
  })
  it('without a confining filter it is refused, naming the exact filter', () => {
    const d = decide(policy, as('carol'), prune('volume.prune'), none, options)
    expect(d).toMatchObject({ allow: false, code: 'PRUNE_UNCONFINED' })
    expect(d.reason).toContain('--filter label=portcullis.project=payments')
    expect(d.reason).toContain('unused volumes of every project')
  })
  it('a project where the caller does not hold the action is refused like any call there', () => {
    expect(decide(policy, as('carol'), prune('container.prune', confined('web')), none, options)).toMatchObject({ allow: false, code: 'ROLE_DENIES', project: 'web' })
    expect(decide(policy, as('alice'), prune('container.prune', confined('web')), none, options)).toMatchObject({ allow: false, code: 'NOT_MEMBER' })
    expect(decide(policy, as('alice'), prune('container.prune', confined('payments')), none, options)).toMatchObject({ allow: false, code: 'ROLE_DENIES' })
    expect(decide(policy, as('carol'), prune('container.prune', confined('nope')), none, options)).toMatchObject({ allow: false, code: 'UNKNOWN_PROJECT' })
  })
  it('several projects, unreadable filters and key-only filters are refused', () => {
    const both = JSON.stringify({ label: { 'portcullis.project=payments': true, 'portcullis.project=web': true } })
    expect(decide(policy, as('carol'), prune('container.prune', both), none, options).reason).toContain('names several projects')
    expect(decide(policy, as('carol'), prune('container.prune', '{'), none, options)).toMatchObject({ code: 'PRUNE_UNCONFINED' })
    expect(decide(policy, as('carol'), prune('container.prune', '{"label":["portcullis.project"]}'), none, options)).toMatchObject({ code: 'PRUNE_UNCONFINED' })
  })
  it('images and the build cache: global roles only, whatever the filter', () => {
    for (const action of ['image.prune', 'image.build-prune']) {
      const d = decide(policy, as('carol'), prune(action, confined('payments')), none, options)
      expect(d).toMatchObject({ allow: false, code: 'PRUNE_GLOBAL_ONLY' })
      expect(d.reason).toContain('ops')
      expect(decide(policy, as('ops'), prune(action), none, options)).toMatchObject({ allow: true, project: null })
    }
  })
  it('a global role that does not hold the action still gets the filter that would help', () => {
    const mixed = compilePolicy({
      roles: { watcher: { allow: ['container.list'] }, keeper: { allow: ['volume.prune'] } },
      projects: { payments: { members: { dana: 'keeper' } } },
      global: { members: { dana: 'watcher' } }
    })
    const d = decide(mixed, as('dana'), prune('volume.prune'), none, options)
    expect(d).toMatchObject({ allow: false, code: 'PRUNE_UNCONFINED' })
    expect(d.reason).toContain('--filter label=portcullis.project=payments')
    expect(decide(mixed, as('dana'), prune('volume.prune', confined('payments')), none, options)).toMatchObject({ allow: true, role: 'keeper' })
  })
  it('a global admin may prune every project', () => {
    expect(decide(policy, as('ops'), prune('container.prune'), none, options)).toMatchObject({ allow: true, project: null, role: 'admin' })
  })
})

describe('names the daemon could read as IDs', () => {
  it('knows which names and references read both ways', () => {
    expect(readsBothWays('abc')).toBe(true)
    expect(readsBothWays('ABC')).toBe(false)
    expect(readsBothWays('abc-1')).toBe(false)
    expect(readsBothWays('a'.repeat(64))).toBe(false)
  })
  it('finds all-hex new names in every name query value and in network/volume bodies', () => {
    expect(idLikeNewName('container.create', { name: ['web', '/cafe'] }, undefined)).toBe('/cafe')
    expect(idLikeNewName('container.rename', { name: ['deadbeef'] }, undefined)).toBe('deadbeef')
    expect(idLikeNewName('container.create', { name: ['Cafe'] }, undefined)).toBeUndefined()
    expect(idLikeNewName('network.create', {}, '0123')).toBe('0123')
    expect(idLikeNewName('volume.create', {}, 'data')).toBeUndefined()
    expect(idLikeNewName('container.kill', { name: ['abc'] }, undefined)).toBeUndefined()
  })
  it('reads a network\'s Name case-insensitively from the decoded body', () => {
    const body = Buffer.from('{"name":"beef","Labels":{"portcullis.project":"payments"}}').toString('base64')
    const facts = readRequest({ RequestMethod: 'POST', RequestUri: '/v1.41/networks/create', RequestBody: body, RequestHeaders: { 'Content-Type': 'application/json', 'Content-Length': '40' } })
    expect(facts.idLikeName).toBe('beef')
    expect(decide(policy, as('ops'), facts, none, options)).toMatchObject({ allow: false, code: 'ID_LIKE_NAME' })
  })
  it('refuses an all-hex reference found by name or matching nothing, for everyone', () => {
    const byName: ResolvedResource = { ref: { kind: 'container', ref: 'abc1' }, exists: true, project: 'payments', name: 'abc1', id: 'f'.repeat(64), readAsId: 'name' }
    const d = decide(policy, as('ops'), request('container.kill'), { target: byName, references: [] }, options)
    expect(d).toMatchObject({ allow: false, code: 'AMBIGUOUS_REFERENCE' })
    expect(d.reason).toContain('full ID')
    const nothing: ResolvedResource = { ref: { kind: 'container', ref: 'abc1' }, exists: false, project: null, readAsId: 'nothing' }
    expect(decide(policy, as('alice'), request('container.kill'), { target: nothing, references: [] }, options)).toMatchObject({ code: 'AMBIGUOUS_REFERENCE' })
  })
  it('refuses a network named by ID prefix in a create (the daemon looks it up again at start), not elsewhere', () => {
    const net: ResolvedResource = { ref: { kind: 'network', ref: 'ab12' }, exists: true, project: 'payments', name: 'pay-net', id: 'ab12'.padEnd(64, '0'), readAsId: 'prefix' }
    const create = request('container.create', { labelProject: 'payments' })
    expect(decide(policy, as('alice'), create, { references: [net] }, options)).toMatchObject({ allow: false, code: 'AMBIGUOUS_REFERENCE' })
    expect(decide(policy, as('alice'), request('network.connect'), { target: net, references: [] }, options)).toMatchObject({ allow: true })
  })
})

describe('host reach inherited from an existing object', () => {
  const reach: Escape[] = [{ setting: 'bind-mount', detail: 'Binds: /etc:/h' }]
  const hostly: ResolvedResource = { ref: { kind: 'container', ref: 'hostly' }, exists: true, project: 'payments', name: 'hostly', id: 'a'.repeat(64), hostReach: reach }
  for (const action of ['container.exec', 'exec.start', 'container.archive', 'container.put-archive', 'container.commit', 'container.export', 'container.attach']) {
    it(`${action} on a host-reaching container needs an unsafe role`, () => {
      // An exec ID resolves with what the exec runs and who made it (here: carol's own, plain exec).
      const target: ResolvedResource = action === 'exec.start'
        ? { ...hostly, exec: { cmd: ['ls'], tty: false, stdin: false, privileged: false, user: '', creator: { user: 'carol' } } }
        : hostly
      const d = decide(policy, as('carol'), request(action), { target, references: [] }, options)
      expect(d).toMatchObject({ allow: false, code: 'UNSAFE_REQUIRED' })
      expect(d.reason).toContain('container hostly (aaaaaaaaaaaa), which reaches the host: bind-mount (Binds: /etc:/h)')
      expect(decide(policy, as('ops'), request(action), { target, references: [] }, options)).toMatchObject({ allow: true })
    })
  }
  it('inspect, logs, stop and start stay as they were', () => {
    for (const action of ['container.inspect', 'container.logs', 'container.stop', 'container.start']) {
      expect(decide(policy, as('carol'), request(action), { target: hostly, references: [] }, options)).toMatchObject({ allow: true })
    }
  })
  it('a create taking from a host-reaching container, volume or network needs an unsafe role', () => {
    const create = request('container.create', { labelProject: 'payments' })
    const volume: ResolvedResource = { ref: { kind: 'volume', ref: 'etc' }, exists: true, project: 'payments', name: 'etc', hostReach: volumeReach({ type: 'none', o: 'bind', device: '/etc' }) }
    const network: ResolvedResource = { ref: { kind: 'network', ref: 'lan' }, exists: true, project: 'payments', name: 'lan', hostReach: networkReach('macvlan') }
    for (const ref of [hostly, volume, network]) {
      expect(decide(policy, as('carol'), create, { references: [ref] }, options)).toMatchObject({ allow: false, code: 'UNSAFE_REQUIRED' })
    }
    expect(decide(policy, as('carol'), request('network.connect'), { target: network, references: [] }, options)).toMatchObject({ allow: false, code: 'UNSAFE_REQUIRED' })
  })
})

describe('networksToFind: what a start looks up again', () => {
  it('the NetworkID once the container has run, else the stored name; built-in networks are skipped', () => {
    expect(networksToFind({ shared: { NetworkID: '' }, known: { NetworkID: 'f'.repeat(64) }, none: { NetworkID: 'e'.repeat(64) }, bridge: null })).toEqual([
      { kind: 'network', ref: 'shared' }, { kind: 'network', ref: 'f'.repeat(64) }
    ])
    expect(networksToFind(null)).toEqual([])
  })
})

describe('containerReach reads an inspected container', () => {
  // What dockerd 20.10 on a cgroup v1 host answers for `docker create --network none busybox` (every default filled in):
  // whatever new escape hostConfigEscapes learns must not find one here, or every container would look host-reaching.
  const defaults = JSON.parse('{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{}},"NetworkMode":"none","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"CapAdd":null,"CapDrop":null,"CgroupnsMode":"host","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"private","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":67108864,"Runtime":"runc","ConsoleSize":[0,0],"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"KernelMemory":0,"KernelMemoryTCP":0,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":false,"PidsLimit":null,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware"],"ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}') as Record<string, unknown>
  it('a default container reaches nothing (daemon defaults are not escapes)', () => {
    expect(containerReach(defaults, [])).toEqual({ reach: [], volumes: [] })
  })
  it('finds its own escapes, inherited bind mounts and the volumes to look up', () => {
    const { reach, volumes } = containerReach({ ...defaults, PidMode: 'host', MaskedPaths: [] }, [
      { Type: 'bind', Source: '/etc', Destination: '/h' }, { Type: 'volume', Name: 'data' }, { Type: 'tmpfs', Destination: '/t' }
    ])
    expect(reach.map((e) => e.setting)).toEqual(['pid-namespace', 'masked-paths', 'bind-mount'])
    expect(volumes).toEqual(['data'])
  })
})
