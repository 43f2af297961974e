// The resolver's object facts (host reach, how a name was read, networks at start) from the daemon's inspect answers.
// The daemon is stood in for by a table of answers: this tests how the resolver reads them, not the daemon.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { RequestFacts } from '../../src/core/types.js'
import { ResourceResolver } from '../../src/docker/resolver.js'
import { TableDocker } from '../fakes/docker.js'

const ID = 'f'.repeat(64)
const NET_ID = 'ab12'.padEnd(64, '0')
const plainHostConfig = { NetworkMode: 'none', CgroupnsMode: 'host', IpcMode: 'private' }

function resolverWith (answers: Record<string, unknown>): { resolver: ResourceResolver, asked: string[] } {
  const docker = new TableDocker(answers)
  return { resolver: new ResourceResolver(docker, { logger: pino({ level: 'silent' }) }), asked: docker.asked }
}

const request = (action: string, extra: Partial<RequestFacts> = {}): RequestFacts =>
  ({ method: 'POST', uri: '/x', path: '/x', query: {}, action, escapes: [], references: [], auditFields: {}, ...extra })

describe('how a reference was read', () => {
  const container = { Id: ID, Name: '/abc1', Config: { Labels: { 'portcullis.project': 'payments' } }, HostConfig: plainHostConfig, Mounts: [] }
  it('an all-hex reference found by name is marked, the same container by full ID is not', async () => {
    const { resolver } = resolverWith({ '/containers/abc1/json': container, [`/containers/${ID}/json`]: container })
    expect(await resolver.lookup({ kind: 'container', ref: 'abc1' })).toMatchObject({ exists: true, readAsId: 'name' })
    const byId = await resolver.lookup({ kind: 'container', ref: ID })
    expect(byId.readAsId).toBeUndefined()
  })
  it('an all-hex reference that matches nothing is marked; other names and volumes are not', async () => {
    const { resolver } = resolverWith({})
    expect(await resolver.lookup({ kind: 'container', ref: 'beef' })).toMatchObject({ exists: false, readAsId: 'nothing' })
    expect((await resolver.lookup({ kind: 'container', ref: 'Beef' })).readAsId).toBeUndefined()
    expect((await resolver.lookup({ kind: 'volume', ref: 'beef' })).readAsId).toBeUndefined()
  })
  it('a network found by ID prefix is marked as such', async () => {
    const { resolver } = resolverWith({ '/networks/ab12': { Id: NET_ID, Name: 'pay-net', Driver: 'bridge', Labels: {} } })
    expect(await resolver.lookup({ kind: 'network', ref: 'ab12' })).toMatchObject({ name: 'pay-net', readAsId: 'prefix' })
  })
})

describe('host reach', () => {
  it('a container carries its own escapes and those of the volumes it mounts; its execs carry the same', async () => {
    const { resolver } = resolverWith({
      '/containers/hostly/json': {
        Id: ID, Name: '/hostly', Config: { Labels: { 'portcullis.project': 'payments' } },
        HostConfig: { ...plainHostConfig, PidMode: 'host' },
        Mounts: [{ Type: 'volume', Name: 'etc', Destination: '/v' }]
      },
      '/volumes/etc': { Name: 'etc', Driver: 'local', Options: { type: 'none', o: 'bind', device: '/etc' }, Labels: {} },
      '/exec/e1/json': { ID: 'e1', ContainerID: ID },
      [`/containers/${ID}/json`]: { Id: ID, Name: '/hostly', Config: { Labels: {} }, HostConfig: plainHostConfig, Mounts: [] }
    })
    const found = await resolver.lookup({ kind: 'container', ref: 'hostly' })
    expect(found.hostReach?.map((e) => e.setting)).toEqual(['pid-namespace', 'bind-like-volume'])
    expect(found.hostReach?.[1]?.detail).toContain('volume etc: driver options type=none')
    // The exec's container is found by full ID, answered from what the name look-up learnt.
    expect((await resolver.lookup({ kind: 'exec', ref: 'e1' })).hostReach).toEqual(found.hostReach)
  })
})

describe('networks at start', () => {
  it('a start looks up the stored networks afresh: NetworkID when set, else the stored name, built-ins skipped', async () => {
    const { resolver, asked } = resolverWith({
      '/containers/app/json': {
        Id: ID, Name: '/app', Config: { Labels: { 'portcullis.project': 'payments' } }, HostConfig: plainHostConfig, Mounts: [],
        NetworkSettings: { Networks: { shared: { NetworkID: '' }, none: { NetworkID: 'e'.repeat(64) } } }
      },
      [`/containers/${ID}/json`]: {
        Id: ID, Name: '/app', Config: { Labels: { 'portcullis.project': 'payments' } }, HostConfig: plainHostConfig, Mounts: [],
        NetworkSettings: { Networks: { shared: { NetworkID: '' }, none: { NetworkID: 'e'.repeat(64) } } }
      },
      '/networks/shared': { Id: NET_ID, Name: 'shared', Driver: 'bridge', Labels: { 'portcullis.project': 'web' } }
    })
    const facts = await resolver.resolve(request('container.start', { target: { kind: 'container', ref: 'app' } }))
    expect(facts.references).toEqual([expect.objectContaining({ ref: { kind: 'network', ref: 'shared' }, project: 'web' })])
    expect(asked).toContain(`/containers/${ID}/json`)
    const stop = await resolver.resolve(request('container.stop', { target: { kind: 'container', ref: 'app' } }))
    expect(stop.references).toEqual([])
  })
})
