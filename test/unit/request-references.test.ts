import { describe, expect, it } from 'vitest'
import { extractFacts, readBody, type BodyKind, type BodyFacts } from '../../src/request/facts.js'

const json = { 'Content-Type': 'application/json' }

function factsOf (kind: BodyKind, body: string): BodyFacts {
  const result = readBody(kind, Buffer.from(body, 'utf8').toString('base64'), json)
  if ('problem' in result) throw new Error(`${result.problem}: ${result.detail}`)
  return extractFacts(kind, result.value)
}

describe('references', () => {
  it('names containers whose namespaces, links or volumes a new container borrows', () => {
    const facts = factsOf('container-create', JSON.stringify({
      HostConfig: {
        NetworkMode: 'container:netowner',
        PidMode: 'container:/pidowner',
        IpcMode: 'container:ipcowner',
        Cgroup: 'container:cgowner',
        Links: ['db:database', '/cache:/me/cache', 'plain'],
        VolumesFrom: ['data:ro', 'more']
      }
    }))
    expect(facts.references).toEqual([
      { kind: 'container', ref: 'netowner' },
      { kind: 'container', ref: 'pidowner' },
      { kind: 'container', ref: 'ipcowner' },
      { kind: 'container', ref: 'cgowner' },
      { kind: 'container', ref: 'db' },
      { kind: 'container', ref: 'cache' },
      { kind: 'container', ref: 'plain' },
      { kind: 'container', ref: 'data' },
      { kind: 'container', ref: 'more' }
    ])
  })

  it('names user-defined networks from NetworkMode and EndpointsConfig, skipping built-in ones', () => {
    const facts = factsOf('container-create', JSON.stringify({
      HostConfig: { NetworkMode: 'appnet' },
      NetworkingConfig: {
        EndpointsConfig: {
          appnet: { Aliases: ['web'] },
          bridge: {},
          none: null,
          host: {},
          default: {},
          backend: { NetworkID: 'f00d', Links: ['api:api'] }
        }
      }
    }))
    expect(facts.references).toEqual([
      { kind: 'network', ref: 'appnet' },
      { kind: 'network', ref: 'backend' },
      { kind: 'network', ref: 'f00d' },
      { kind: 'container', ref: 'api' }
    ])
    for (const mode of ['bridge', 'host', 'none', 'default', '']) {
      expect(factsOf('container-create', `{"HostConfig":{"NetworkMode":"${mode}"}}`).references, mode).toEqual([])
    }
  })

  it('names volumes from Binds and volume Mounts, but not host paths or anonymous volumes', () => {
    const facts = factsOf('container-create', JSON.stringify({
      HostConfig: {
        Binds: ['data:/data', 'logs:/logs:ro', '/host:/h', '/anon'],
        Mounts: [
          { Type: 'volume', Source: 'cache', Target: '/c' },
          { Type: 'volume', Target: '/anon2' },
          { Type: 'bind', Source: '/etc', Target: '/e' },
          { Type: 'tmpfs', Target: '/t' }
        ]
      }
    }))
    expect(facts.references).toEqual([
      { kind: 'volume', ref: 'data' },
      { kind: 'volume', ref: 'logs' },
      { kind: 'volume', ref: 'cache' }
    ])
  })

  it('reads top-level host settings too, without repeating a reference', () => {
    const facts = factsOf('container-create', '{"VolumesFrom":["a"],"HostConfig":{"VolumesFrom":["a","b"]}}')
    expect(facts.references).toEqual([{ kind: 'container', ref: 'a' }, { kind: 'container', ref: 'b' }])
  })

  it('network connect and disconnect name their container', () => {
    expect(factsOf('network-connect', '{"Container":"web","EndpointConfig":{"NetworkID":"other","Links":["db"]}}').references).toEqual([
      { kind: 'container', ref: 'web' },
      { kind: 'network', ref: 'other' },
      { kind: 'container', ref: 'db' }
    ])
    expect(factsOf('network-disconnect', '{"container":"web","Force":true}').references).toEqual([{ kind: 'container', ref: 'web' }])
    expect(factsOf('network-disconnect', '{}').references).toEqual([])
  })

  it('network create names the network it copies its configuration from', () => {
    expect(factsOf('network-create', '{"Name":"n","ConfigFrom":{"Network":"cfg"}}').references).toEqual([{ kind: 'network', ref: 'cfg' }])
  })
})

describe('project label', () => {
  it('reads portcullis.project from container labels (exact key)', () => {
    expect(factsOf('container-create', '{"Labels":{"portcullis.project":"web"}}').labelProject).toBe('web')
    expect(factsOf('container-create', '{"Labels":{"Portcullis.Project":"web"}}').labelProject).toBeNull()
    expect(factsOf('container-create', '{"Image":"x"}').labelProject).toBeNull()
    expect(factsOf('container-create', '{"Labels":null}').labelProject).toBeNull()
  })

  it('merges duplicate label maps with case-sensitive keys', () => {
    expect(factsOf('container-create', '{"Labels":{"portcullis.project":"a"},"labels":{"other":"x"}}').labelProject).toBe('a')
    expect(factsOf('container-create', '{"Labels":{"portcullis.project":"a"},"Labels":{"portcullis.project":"b"}}').labelProject).toBe('b')
    expect(factsOf('container-create', '{"Labels":{"portcullis.project":"a","PORTCULLIS.PROJECT":"b"}}').labelProject).toBe('a')
    expect(factsOf('container-create', '{"Labels":{"portcullis.project":"a"},"Labels":null,"Labels":{"x":"y"}}').labelProject).toBeNull()
  })

  it('keeps an explicitly empty or null label value as the empty string, as Docker stores it', () => {
    expect(factsOf('container-create', '{"Labels":{"portcullis.project":null}}').labelProject).toBe('')
  })

  it('ignores Labels inside HostConfig, which has no such field', () => {
    expect(factsOf('container-create', '{"HostConfig":{"Labels":{"portcullis.project":"x"}}}').labelProject).toBeNull()
  })

  it('reads network and volume labels', () => {
    expect(factsOf('network-create', '{"Name":"n","Labels":{"portcullis.project":"p"}}').labelProject).toBe('p')
    expect(factsOf('volume-create', '{"Name":"v","Labels":{"portcullis.project":"p"}}').labelProject).toBe('p')
    expect(factsOf('volume-create', '{"Name":"v"}').labelProject).toBeNull()
  })

  it('is not set for bodies that create nothing', () => {
    expect(factsOf('exec-create', '{"Cmd":["sh"]}').labelProject).toBeUndefined()
    expect(factsOf('network-connect', '{"Container":"c"}').labelProject).toBeUndefined()
  })
})
