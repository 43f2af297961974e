import { describe, expect, it } from 'vitest'
import type { ResourceRef } from '../../src/core/types.js'
import { routeTableMarkdown } from '../../src/routes/markdown.js'
import { matchRoute, type RouteMatch } from '../../src/routes/match.js'
import { normalizeUri } from '../../src/routes/normalize.js'
import { KNOWN_ACTIONS, ROUTES } from '../../src/routes/table.js'

function route (method: string, uri: string): RouteMatch | null {
  const { path, query } = normalizeUri(uri)
  return matchRoute(method, path, query)
}

const container = (ref: string): ResourceRef => ({ kind: 'container', ref })
const exec = (ref: string): ResourceRef => ({ kind: 'exec', ref })
const image = (ref: string): ResourceRef => ({ kind: 'image', ref })
const volume = (ref: string): ResourceRef => ({ kind: 'volume', ref })
const network = (ref: string): ResourceRef => ({ kind: 'network', ref })
const plugin = (ref: string): ResourceRef => ({ kind: 'plugin', ref })

// [method, uri, action, target]: one request for every action, through the whole pipeline.
const EVERY_ACTION: Array<[string, string, string, ResourceRef?]> = [
  ['POST', '/v1.41/containers/create?name=web', 'container.create'],
  ['POST', '/v1.41/containers/web/start', 'container.start', container('web')],
  ['POST', '/v1.41/containers/web/stop?t=5', 'container.stop', container('web')],
  ['POST', '/v1.41/containers/web/kill?signal=KILL', 'container.kill', container('web')],
  ['DELETE', '/v1.41/containers/web?force=1', 'container.remove', container('web')],
  ['GET', '/v1.41/containers/web/json', 'container.inspect', container('web')],
  ['GET', '/v1.41/containers/json?all=1', 'container.list'],
  ['GET', '/v1.41/containers/web/logs?follow=1', 'container.logs', container('web')],
  ['POST', '/v1.41/containers/web/exec', 'container.exec', container('web')],
  ['POST', '/v1.41/containers/web/attach?stream=1', 'container.attach', container('web')],
  ['GET', '/v1.41/containers/web/attach/ws', 'container.attach', container('web')],
  ['GET', '/v1.41/containers/web/archive?path=/etc', 'container.archive', container('web')],
  ['HEAD', '/v1.41/containers/web/archive?path=/etc', 'container.archive', container('web')],
  ['POST', '/v1.23/containers/web/copy', 'container.archive', container('web')],
  ['PUT', '/v1.41/containers/web/archive?path=/tmp', 'container.put-archive', container('web')],
  ['POST', '/v1.41/containers/web/restart', 'container.restart', container('web')],
  ['POST', '/v1.41/containers/web/pause', 'container.pause', container('web')],
  ['POST', '/v1.41/containers/web/unpause', 'container.unpause', container('web')],
  ['POST', '/v1.41/containers/web/wait', 'container.wait', container('web')],
  ['POST', '/v1.41/containers/web/resize?h=40&w=80', 'container.resize', container('web')],
  ['POST', '/v1.41/containers/web/rename?name=web2', 'container.rename', container('web')],
  ['POST', '/v1.41/containers/web/update', 'container.update', container('web')],
  ['GET', '/v1.41/containers/web/top', 'container.top', container('web')],
  ['GET', '/v1.41/containers/web/stats?stream=0', 'container.stats', container('web')],
  ['GET', '/v1.41/containers/web/changes', 'container.changes', container('web')],
  ['GET', '/v1.41/containers/web/export', 'container.export', container('web')],
  ['POST', '/v1.41/commit?container=web&repo=x', 'container.commit', container('web')],
  ['POST', '/v1.41/containers/prune', 'container.prune'],
  ['GET', '/v1.41/containers/web/checkpoints', 'container.checkpoint-list', container('web')],
  ['POST', '/v1.41/containers/web/checkpoints', 'container.checkpoint-create', container('web')],
  ['DELETE', '/v1.41/containers/web/checkpoints/cp1', 'container.checkpoint-remove', container('web')],
  ['POST', '/v1.41/exec/e1/start', 'exec.start', exec('e1')],
  ['GET', '/v1.41/exec/e1/json', 'exec.inspect', exec('e1')],
  ['POST', '/v1.41/exec/e1/resize?h=1&w=1', 'exec.resize', exec('e1')],
  ['GET', '/v1.41/images/json', 'image.list'],
  ['GET', '/v1.41/images/alpine/json', 'image.inspect', image('alpine')],
  ['GET', '/v1.41/images/alpine/history', 'image.history', image('alpine')],
  ['GET', '/v1.41/images/search?term=alpine', 'image.search'],
  ['POST', '/v1.41/images/create?fromImage=alpine&tag=3', 'image.pull'],
  ['POST', '/v1.41/images/create?fromSrc=-&repo=x', 'image.import'],
  ['POST', '/v1.41/images/alpine/push?tag=3', 'image.push', image('alpine')],
  ['POST', '/v1.41/images/alpine/tag?repo=mine&tag=1', 'image.tag', image('alpine')],
  ['DELETE', '/v1.41/images/alpine', 'image.remove', image('alpine')],
  ['POST', '/v1.41/images/prune', 'image.prune'],
  ['POST', '/v1.41/images/load', 'image.load'],
  ['GET', '/v1.41/images/alpine/get', 'image.export', image('alpine')],
  ['POST', '/v1.41/build?t=x', 'image.build'],
  ['POST', '/v1.41/build/prune', 'image.build-prune'],
  ['POST', '/v1.41/build/cancel?id=b1', 'image.build-cancel'],
  ['POST', '/v1.41/session', 'image.build-session'],
  ['GET', '/v1.41/distribution/alpine/json', 'distribution.inspect'],
  ['GET', '/v1.41/volumes', 'volume.list'],
  ['GET', '/v1.41/volumes/data', 'volume.inspect', volume('data')],
  ['POST', '/v1.41/volumes/create', 'volume.create'],
  ['DELETE', '/v1.41/volumes/data', 'volume.remove', volume('data')],
  ['POST', '/v1.41/volumes/prune', 'volume.prune'],
  ['PUT', '/v1.42/volumes/data?version=3', 'volume.update', volume('data')],
  ['GET', '/v1.41/networks', 'network.list'],
  ['GET', '/v1.41/networks/front', 'network.inspect', network('front')],
  ['POST', '/v1.41/networks/create', 'network.create'],
  ['DELETE', '/v1.41/networks/front', 'network.remove', network('front')],
  ['POST', '/v1.41/networks/front/connect', 'network.connect', network('front')],
  ['POST', '/v1.41/networks/front/disconnect', 'network.disconnect', network('front')],
  ['POST', '/v1.41/networks/prune', 'network.prune'],
  ['GET', '/v1.41/plugins', 'plugin.list'],
  ['GET', '/v1.41/plugins/vieux/sshfs:latest/json', 'plugin.inspect', plugin('vieux/sshfs:latest')],
  ['GET', '/v1.41/plugins/privileges?remote=vieux/sshfs', 'plugin.privileges'],
  ['POST', '/v1.41/plugins/pull?remote=vieux/sshfs', 'plugin.install'],
  ['POST', '/v1.41/plugins/create?name=p', 'plugin.create'],
  ['POST', '/v1.41/plugins/vieux/sshfs/enable', 'plugin.enable', plugin('vieux/sshfs')],
  ['POST', '/v1.41/plugins/vieux/sshfs/disable', 'plugin.disable', plugin('vieux/sshfs')],
  ['DELETE', '/v1.41/plugins/vieux/sshfs', 'plugin.remove', plugin('vieux/sshfs')],
  ['POST', '/v1.41/plugins/vieux/sshfs/push', 'plugin.push', plugin('vieux/sshfs')],
  ['POST', '/v1.41/plugins/vieux/sshfs/upgrade?remote=x', 'plugin.upgrade', plugin('vieux/sshfs')],
  ['POST', '/v1.41/plugins/vieux/sshfs/set', 'plugin.set', plugin('vieux/sshfs')],
  ['GET', '/v1.41/_ping', 'system.ping'],
  ['HEAD', '/_ping', 'system.ping'],
  ['OPTIONS', '/v1.41/containers/web/start', 'system.ping'],
  ['GET', '/v1.41/version', 'system.version'],
  ['GET', '/v1.41/info', 'system.info'],
  ['GET', '/v1.41/events?since=0', 'system.events'],
  ['GET', '/v1.41/system/df', 'system.df'],
  ['POST', '/v1.41/auth', 'system.auth'],
  ['GET', '/debug/pprof/goroutine', 'system.debug'],
  ['POST', '/v1.41/grpc', 'image.build-session'],
  ['POST', '/v1.41/swarm/init', 'swarm.init'],
  ['POST', '/v1.41/swarm/join', 'swarm.join'],
  ['POST', '/v1.41/swarm/leave?force=1', 'swarm.leave'],
  ['GET', '/v1.41/swarm', 'swarm.inspect'],
  ['POST', '/v1.41/swarm/update?version=1', 'swarm.update'],
  ['GET', '/v1.41/swarm/unlockkey', 'swarm.unlockkey'],
  ['POST', '/v1.41/swarm/unlock', 'swarm.unlock'],
  ['GET', '/v1.41/nodes', 'node.list'],
  ['GET', '/v1.41/nodes/n1', 'node.inspect'],
  ['POST', '/v1.41/nodes/n1/update?version=1', 'node.update'],
  ['DELETE', '/v1.41/nodes/n1', 'node.remove'],
  ['GET', '/v1.41/services', 'service.list'],
  ['GET', '/v1.41/services/s1', 'service.inspect'],
  ['POST', '/v1.41/services/create', 'service.create'],
  ['POST', '/v1.41/services/s1/update?version=1', 'service.update'],
  ['DELETE', '/v1.41/services/s1', 'service.remove'],
  ['GET', '/v1.41/services/s1/logs', 'service.logs'],
  ['GET', '/v1.41/tasks', 'task.list'],
  ['GET', '/v1.41/tasks/t1', 'task.inspect'],
  ['GET', '/v1.41/tasks/t1/logs', 'task.logs'],
  ['GET', '/v1.41/secrets', 'secret.list'],
  ['GET', '/v1.41/secrets/s1', 'secret.inspect'],
  ['POST', '/v1.41/secrets/create', 'secret.create'],
  ['POST', '/v1.41/secrets/s1/update?version=1', 'secret.update'],
  ['DELETE', '/v1.41/secrets/s1', 'secret.remove'],
  ['GET', '/v1.41/configs', 'config.list'],
  ['GET', '/v1.41/configs/c1', 'config.inspect'],
  ['POST', '/v1.41/configs/create', 'config.create'],
  ['POST', '/v1.41/configs/c1/update?version=1', 'config.update'],
  ['DELETE', '/v1.41/configs/c1', 'config.remove']
]

describe('route table: every action', () => {
  it.each(EVERY_ACTION)('%s %s is %s', (method, uri, action, target) => {
    const match = route(method, uri)
    expect(match?.action).toBe(action)
    expect(match?.target).toEqual(target)
  })

  it('reaches every action the table knows', () => {
    const reached = new Set(EVERY_ACTION.map(([, , action]) => action))
    expect(KNOWN_ACTIONS.filter(action => !reached.has(action))).toEqual([])
  })

  it('matches the same with and without a version prefix', () => {
    for (const [method, uri] of EVERY_ACTION) {
      const plain = uri.replace(/^\/v[0-9.]+\//, '/')
      expect(route(method, plain), `${method} ${plain}`).toEqual(route(method, uri))
    }
  })

  it('names each action resource.verb', () => {
    for (const action of KNOWN_ACTIONS) expect(action).toMatch(/^[a-z]+\.[a-z]+(-[a-z]+)*$/)
    expect(new Set(KNOWN_ACTIONS).size).toBe(KNOWN_ACTIONS.length)
  })
})

describe('route table: names with slashes, ports and escapes', () => {
  it('takes an image name with registry port, path and tag from the path', () => {
    expect(route('GET', '/images/localhost:5000/a/b:1/json')).toMatchObject({ action: 'image.inspect', target: image('localhost:5000/a/b:1') })
    expect(route('GET', '/v1.41/images/localhost%3A5000%2Fa%2Fb%3A1/json')?.target).toEqual(image('localhost:5000/a/b:1'))
    expect(route('DELETE', '/v1.41/images/localhost:5000/a/b@sha256:abc')?.target).toEqual(image('localhost:5000/a/b@sha256:abc'))
    expect(route('POST', '/images/registry.example.com/team/app/push?tag=2')?.target).toEqual(image('registry.example.com/team/app'))
  })

  it('decodes %2F in container names exactly as dockerd does', () => {
    expect(route('POST', '/containers/a%2Fb/start')?.target).toEqual(container('a/b'))
  })

  it('takes the longest name when the name itself ends like a route', () => {
    expect(route('GET', '/images/x/json/json')?.target).toEqual(image('x/json'))
    expect(route('GET', '/containers/a/start/json')).toMatchObject({ action: 'container.inspect', target: container('a/start') })
  })
})

describe('route table: literal routes before {name:.*} routes', () => {
  it('lists at /containers/json and inspects a container named json at /containers/json/json', () => {
    expect(route('GET', '/containers/json')).toEqual({ action: 'container.list', pattern: '/containers/json' })
    expect(route('GET', '/containers/json/json')).toMatchObject({ action: 'container.inspect', target: container('json') })
  })

  it('creates at /containers/create and starts a container named create elsewhere', () => {
    expect(route('POST', '/containers/create')?.action).toBe('container.create')
    expect(route('POST', '/containers/create/start')).toMatchObject({ action: 'container.start', target: container('create') })
  })

  it('exports at /images/get and /images/{name}/get', () => {
    expect(route('GET', '/images/get?names=a&names=b')).toEqual({
      action: 'image.export', pattern: '/images/get', references: [image('a'), image('b')]
    })
    expect(route('GET', '/images/get/get?names=other')).toEqual({ action: 'image.export', pattern: '/images/{name:.*}/get', target: image('get') })
    expect(route('GET', '/images/search/json')?.target).toEqual(image('search'))
  })

  it('installs at /plugins/pull and enables a plugin named pull', () => {
    expect(route('POST', '/plugins/pull')?.action).toBe('plugin.install')
    expect(route('POST', '/plugins/pull/enable')).toMatchObject({ action: 'plugin.enable', target: plugin('pull') })
  })

  it('removes a checkpoint before DELETE /containers/{name:.*} can take it, as in dockerd', () => {
    expect(route('DELETE', '/containers/web/checkpoints/cp1')).toMatchObject({ action: 'container.checkpoint-remove', target: container('web') })
    // {name} without a pattern stops at a slash, so a deeper path falls through to container removal.
    expect(route('DELETE', '/containers/web/checkpoints/cp1/x')).toMatchObject({ action: 'container.remove', target: container('web/checkpoints/cp1/x') })
  })

  it('lists networks at /networks and /networks/', () => {
    expect(route('GET', '/networks/')?.action).toBe('network.list')
    expect(route('GET', '/networks')?.action).toBe('network.list')
    expect(route('POST', '/networks/create')?.action).toBe('network.create')
    expect(route('POST', '/networks/prune')?.action).toBe('network.prune')
  })

  it('answers OPTIONS on any path, known or not', () => {
    expect(route('OPTIONS', '/anything/at/all')?.action).toBe('system.ping')
    expect(route('OPTIONS', '/')?.action).toBe('system.ping')
  })
})

describe('route table: query decides', () => {
  it('takes the commit target from the container query parameter (first value)', () => {
    expect(route('POST', '/commit?container=web&container=other')?.target).toEqual(container('web'))
    expect(route('POST', '/commit?container=a%2Fb')?.target).toEqual(container('a/b'))
  })

  it('gives a commit without container no target rather than a guess', () => {
    expect(route('POST', '/commit')).toEqual({ action: 'container.commit', pattern: '/commit' })
    expect(route('POST', '/commit?container=')?.target).toBeUndefined()
  })

  it('pulls only when the first fromImage is non-empty, and imports otherwise', () => {
    expect(route('POST', '/images/create?fromImage=alpine')?.action).toBe('image.pull')
    expect(route('POST', '/images/create?fromImage=alpine&fromSrc=-')?.action).toBe('image.pull')
    expect(route('POST', '/images/create?fromImage=&fromImage=alpine')?.action).toBe('image.import')
    expect(route('POST', '/images/create?fromSrc=http://example.com/x.tar')?.action).toBe('image.import')
    expect(route('POST', '/images/create')?.action).toBe('image.import')
  })

  it('gives GET /images/get without names no references', () => {
    expect(route('GET', '/images/get')).toEqual({ action: 'image.export', pattern: '/images/get' })
  })

  it('ignores query parameters inherited from Object.prototype', () => {
    expect(matchRoute('POST', '/commit', {})?.target).toBeUndefined()
    expect(matchRoute('POST', '/images/create', {})?.action).toBe('image.import')
  })
})

describe('route table: bodies and host-reaching actions', () => {
  it('asks for the body of every call whose body decides', () => {
    expect(route('POST', '/containers/create')?.body).toBe('container-create')
    expect(route('POST', '/containers/web/exec')?.body).toBe('exec-create')
    expect(route('POST', '/containers/web/update')?.body).toBe('container-update')
    expect(route('POST', '/networks/create')?.body).toBe('network-create')
    expect(route('POST', '/networks/front/connect')?.body).toBe('network-connect')
    expect(route('POST', '/networks/front/disconnect')?.body).toBe('network-disconnect')
    expect(route('POST', '/volumes/create')?.body).toBe('volume-create')
  })

  it('asks for no body elsewhere', () => {
    expect(route('POST', '/containers/web/start')?.body).toBeUndefined()
    expect(route('POST', '/exec/e1/start')?.body).toBeUndefined()
  })

  it('marks the actions that reach the host whatever their body', () => {
    const hostReaching = [
      ['POST', '/plugins/pull'], ['POST', '/plugins/create'], ['POST', '/plugins/p/upgrade'], ['POST', '/plugins/p/set'],
      ['POST', '/plugins/p/enable'], ['POST', '/swarm/init'], ['POST', '/swarm/join'], ['POST', '/swarm/leave'],
      ['POST', '/swarm/update'], ['POST', '/swarm/unlock'], ['POST', '/services/create'], ['POST', '/services/s/update'],
      ['POST', '/nodes/n/update'], ['DELETE', '/nodes/n'], ['POST', '/containers/web/checkpoints'], ['GET', '/debug/vars'],
      ['POST', '/grpc']
    ]
    for (const [method, uri] of hostReaching) expect(route(method!, uri!)?.hostReaching, `${method} ${uri}`).toBe(true)
  })

  it('does not mark ordinary actions', () => {
    const ordinary = [
      ['POST', '/images/load'], ['POST', '/containers/create'], ['POST', '/secrets/create'], ['DELETE', '/services/s'],
      ['POST', '/plugins/p/disable'], ['POST', '/session'], ['GET', '/containers/json']
    ]
    for (const [method, uri] of ordinary) expect(route(method!, uri!)?.hostReaching, `${method} ${uri}`).toBeUndefined()
  })

  it('explains every host-reaching route', () => {
    for (const r of ROUTES) if (r.hostReaching) expect(r.why, `${r.method} ${r.pattern}`).toBeTruthy()
  })
})

describe('route table: unknown routes', () => {
  it.each([
    ['GET', '/'],
    ['GET', '/containers'],
    ['GET', '/containers/web'],
    ['POST', '/containers/json'],
    ['GET', '/containers/web/start'],
    ['PATCH', '/containers/web/update'],
    ['GET', '/images/alpine'],
    ['POST', '/v1.41/v1.40/containers/create'],
    ['GET', '/v1.41'],
    ['GET', '/nodes/a/b'],
    ['POST', '/services/a/b/update'],
    ['GET', '/exec'],
    ['GET', '/debug/pprof/a/b'],
    ['GET', '/something/new']
  ])('%s %s has no route', (method, uri) => {
    expect(route(method, uri)).toBeNull()
  })

  it('compares methods exactly, as Go does', () => {
    expect(route('get', '/containers/json')).toBeNull()
    expect(route('Post', '/containers/create')).toBeNull()
  })

  it('matches debug routes for any method, as dockerd registers them without one', () => {
    expect(route('DELETE', '/debug/pprof/heap')?.action).toBe('system.debug')
    expect(route('get', '/debug/vars')?.action).toBe('system.debug')
  })

  it('does not let a newline stand in for a name (Go\'s . stops at \\n)', () => {
    expect(matchRoute('GET', '/containers/a\nb/json', {})).toBeNull()
    expect(matchRoute('OPTIONS', '/a\nb', {})).toBeNull()
    expect(matchRoute('GET', '/containers/a\rb/json', {})?.target).toEqual(container('a\rb'))
  })
})

describe('route table: shape', () => {
  it('is frozen', () => {
    expect(Object.isFrozen(ROUTES)).toBe(true)
    expect(Object.isFrozen(ROUTES[0])).toBe(true)
  })

  it('renders one Markdown row per route after the header', () => {
    const lines = routeTableMarkdown().trimEnd().split('\n')
    expect(lines[0]).toBe('| Method | Path | Action | Target | Body inspected | Unsafe only |')
    expect(lines).toHaveLength(ROUTES.length + 2)
    expect(lines).toContain('| `POST` | `/containers/create` | `container.create` |  | `container-create` |  |')
    expect(lines).toContain('| `POST` | `/commit` | `container.commit` | container `?container=` |  |  |')
    expect(lines).toContain('| `POST` | `/plugins/pull` | `plugin.install` |  |  | yes |')
    expect(lines).toContain('| `POST` | `/images/create` when `fromImage` is non-empty | `image.pull` |  |  |  |')
    expect(lines).toContain('| any | `/debug/vars` | `system.debug` |  |  | yes |')
  })
})
