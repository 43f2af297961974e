// Every route of the Docker Engine API (20.10 / API 1.41, plus PUT /volumes/{name} from 1.42), in the
// order dockerd registers them (cmd/dockerd/daemon.go initRouter, then api/server/router/*/).
// gorilla/mux tries routes in that order and the first match wins, so the order here is part of the
// meaning: the checkpoint DELETE must come before DELETE /containers/{name:.*}, /containers/json
// before /containers/{name:.*}/json, and so on. dockerd also registers each route under
// /v{version:[0-9.]+}; normalizeUri strips that prefix, so patterns are written without it.

import type { ResourceKind } from '../core/types.js'

/** A JSON body the policy must read (and that must be present) to judge the request. */
export type BodyKind =
  | 'container-create'
  | 'exec-create'
  | 'container-update'
  | 'network-create'
  | 'network-connect'
  | 'network-disconnect'
  | 'volume-create'

/** Where a route finds the existing object it acts on. */
interface TargetSpec {
  kind: ResourceKind
  /** `path`: a `{variable}` of the pattern. `query`: the first value of a parameter, as Go's Form.Get. */
  from: 'path' | 'query'
  name: string
}

export interface Route {
  /** HTTP method exactly as Go's mux compares it, or `*` for routes registered without a method. */
  method: string
  /** The path template as moby writes it, e.g. `/containers/{name:.*}/json`. */
  pattern: string
  /** `resource.verb`. */
  action: string
  target?: TargetSpec
  /** Further existing objects named by every value of a query parameter (GET /images/get?names=). */
  references?: { kind: ResourceKind, query: string }
  /** The row applies only when this query parameter's first value is non-empty (the handler branches on it). */
  whenQuery?: string
  body?: BodyKind
  /** By its nature the call reaches the host (or hands out control of it): `unsafe` roles only. */
  hostReaching?: true
  why?: string
}

const CONTAINER: TargetSpec = { kind: 'container', from: 'path', name: 'name' }
const IMAGE: TargetSpec = { kind: 'image', from: 'path', name: 'name' }
const VOLUME: TargetSpec = { kind: 'volume', from: 'path', name: 'name' }
const NETWORK: TargetSpec = { kind: 'network', from: 'path', name: 'id' }
const PLUGIN: TargetSpec = { kind: 'plugin', from: 'path', name: 'name' }

const DEBUG_WHY = 'expvar/pprof of dockerd itself (any method, never under /v…): memory, goroutines, command line, CPU profiles.'
const SERVICE_SPEC_WHY = 'A service spec is a container spec (mounts, capabilities, devices) that portcullis does not inspect, run on every node swarm picks.'

export const ROUTES: readonly Route[] = Object.freeze([
  // checkpoint router: registered first so that its DELETE is not masked by DELETE /containers/{name:.*}.
  { method: 'GET', pattern: '/containers/{name:.*}/checkpoints', action: 'container.checkpoint-list', target: CONTAINER, hostReaching: true, why: 'Experimental (CRIU). The `dir` query names a host directory the daemon lists.' },
  { method: 'POST', pattern: '/containers/{name:.*}/checkpoints', action: 'container.checkpoint-create', target: CONTAINER, hostReaching: true, why: 'Experimental (CRIU). The body\'s CheckpointDir is a host directory the daemon writes to.' },
  { method: 'DELETE', pattern: '/containers/{name}/checkpoints/{checkpoint}', action: 'container.checkpoint-remove', target: CONTAINER, hostReaching: true, why: 'Experimental (CRIU). The `dir` query names a host directory the daemon deletes from.' },

  // container router
  { method: 'HEAD', pattern: '/containers/{name:.*}/archive', action: 'container.archive', target: CONTAINER, why: 'Stats a path inside the container: the same read access as GET archive.' },
  { method: 'GET', pattern: '/containers/json', action: 'container.list', why: 'Lists every container on the daemon; dockerd does not filter the answer by project.' },
  { method: 'GET', pattern: '/containers/{name:.*}/export', action: 'container.export', target: CONTAINER, why: 'Streams the whole filesystem of the container.' },
  { method: 'GET', pattern: '/containers/{name:.*}/changes', action: 'container.changes', target: CONTAINER },
  { method: 'GET', pattern: '/containers/{name:.*}/json', action: 'container.inspect', target: CONTAINER, why: 'Shows the environment, which may hold secrets. /containers/json/json inspects a container named `json`.' },
  { method: 'GET', pattern: '/containers/{name:.*}/top', action: 'container.top', target: CONTAINER },
  { method: 'GET', pattern: '/containers/{name:.*}/logs', action: 'container.logs', target: CONTAINER },
  { method: 'GET', pattern: '/containers/{name:.*}/stats', action: 'container.stats', target: CONTAINER },
  { method: 'GET', pattern: '/containers/{name:.*}/attach/ws', action: 'container.attach', target: CONTAINER, why: 'WebSocket attach: the same streams as POST attach, stdin included.' },
  { method: 'GET', pattern: '/exec/{id:.*}/json', action: 'exec.inspect', target: { kind: 'exec', from: 'path', name: 'id' } },
  { method: 'GET', pattern: '/containers/{name:.*}/archive', action: 'container.archive', target: CONTAINER, why: 'Reads files out of the container.' },
  { method: 'POST', pattern: '/containers/create', action: 'container.create', body: 'container-create', why: 'The body (binds, privileged, devices, namespaces, capabilities…) decides whether it reaches the host; the `name` query is the new name, not an existing object.' },
  { method: 'POST', pattern: '/containers/{name:.*}/kill', action: 'container.kill', target: CONTAINER },
  { method: 'POST', pattern: '/containers/{name:.*}/pause', action: 'container.pause', target: CONTAINER },
  { method: 'POST', pattern: '/containers/{name:.*}/unpause', action: 'container.unpause', target: CONTAINER },
  { method: 'POST', pattern: '/containers/{name:.*}/restart', action: 'container.restart', target: CONTAINER },
  { method: 'POST', pattern: '/containers/{name:.*}/start', action: 'container.start', target: CONTAINER, why: 'Beware: the `checkpoint-dir` query (experimental) restores from a host directory, and below API 1.24 dockerd applies a HostConfig body sent here.' },
  { method: 'POST', pattern: '/containers/{name:.*}/stop', action: 'container.stop', target: CONTAINER },
  { method: 'POST', pattern: '/containers/{name:.*}/wait', action: 'container.wait', target: CONTAINER },
  { method: 'POST', pattern: '/containers/{name:.*}/resize', action: 'container.resize', target: CONTAINER },
  { method: 'POST', pattern: '/containers/{name:.*}/attach', action: 'container.attach', target: CONTAINER, why: 'Hijacked stream: stdin goes to the container\'s main process.' },
  { method: 'POST', pattern: '/containers/{name:.*}/copy', action: 'container.archive', target: CONTAINER, why: 'Legacy copy-out (API < 1.24): reads a path out of the container like GET archive.' },
  { method: 'POST', pattern: '/containers/{name:.*}/exec', action: 'container.exec', target: CONTAINER, body: 'exec-create', why: 'Creates an exec; its body (Cmd, User, Privileged, Env) is judged here, not at exec start.' },
  { method: 'POST', pattern: '/exec/{name:.*}/start', action: 'exec.start', target: { kind: 'exec', from: 'path', name: 'name' }, why: 'Runs what exec create prepared; the exec ID ties it to its container.' },
  { method: 'POST', pattern: '/exec/{name:.*}/resize', action: 'exec.resize', target: { kind: 'exec', from: 'path', name: 'name' } },
  { method: 'POST', pattern: '/containers/{name:.*}/rename', action: 'container.rename', target: CONTAINER, why: 'The `name` query is the new name.' },
  { method: 'POST', pattern: '/containers/{name:.*}/update', action: 'container.update', target: CONTAINER, body: 'container-update', why: 'The body changes resources (devices, cgroup rules) and the restart policy.' },
  { method: 'POST', pattern: '/containers/prune', action: 'container.prune', why: 'Removes every stopped container on the daemon, whatever its project.' },
  { method: 'POST', pattern: '/commit', action: 'container.commit', target: { kind: 'container', from: 'query', name: 'container' }, why: 'The container is the `container` query parameter; without one dockerd fails the call.' },
  { method: 'PUT', pattern: '/containers/{name:.*}/archive', action: 'container.put-archive', target: CONTAINER, why: 'Writes files into the container\'s filesystem.' },
  { method: 'DELETE', pattern: '/containers/{name:.*}', action: 'container.remove', target: CONTAINER, why: '`v=1` also removes its anonymous volumes; `link=1` removes a link of that name instead.' },

  // image router
  { method: 'GET', pattern: '/images/json', action: 'image.list' },
  { method: 'GET', pattern: '/images/search', action: 'image.search', why: 'Asks a registry; touches no local object.' },
  { method: 'GET', pattern: '/images/get', action: 'image.export', references: { kind: 'image', query: 'names' }, why: 'Exports every image named by a `names` parameter.' },
  { method: 'GET', pattern: '/images/{name:.*}/get', action: 'image.export', target: IMAGE, why: 'With a name in the path dockerd ignores `names`.' },
  { method: 'GET', pattern: '/images/{name:.*}/history', action: 'image.history', target: IMAGE },
  { method: 'GET', pattern: '/images/{name:.*}/json', action: 'image.inspect', target: IMAGE, why: 'Names may hold `/` and a registry port: /images/localhost:5000/a/b:1/json.' },
  { method: 'POST', pattern: '/images/load', action: 'image.load', why: 'Loads images from the tarball in the body; may retag names other projects use. Not host reaching.' },
  { method: 'POST', pattern: '/images/create', whenQuery: 'fromImage', action: 'image.pull', why: 'dockerd pulls when the first `fromImage` value is non-empty…' },
  { method: 'POST', pattern: '/images/create', action: 'image.import', why: '…and imports otherwise: `fromSrc` is `-` (the body) or a URL the daemon itself downloads.' },
  { method: 'POST', pattern: '/images/{name:.*}/push', action: 'image.push', target: IMAGE, why: 'Sends the image to a registry, with the credentials in X-Registry-Auth.' },
  { method: 'POST', pattern: '/images/{name:.*}/tag', action: 'image.tag', target: IMAGE, why: 'The `repo`/`tag` query is the new name; it may move a tag that others use.' },
  { method: 'POST', pattern: '/images/prune', action: 'image.prune', why: 'Removes unused images of every project.' },
  { method: 'DELETE', pattern: '/images/{name:.*}', action: 'image.remove', target: IMAGE },

  // system router
  { method: 'OPTIONS', pattern: '/{anyroute:.*}', action: 'system.ping', why: 'dockerd answers OPTIONS on any path with an empty 200 (CORS preflight) and does nothing else.' },
  { method: 'GET', pattern: '/_ping', action: 'system.ping' },
  { method: 'HEAD', pattern: '/_ping', action: 'system.ping' },
  { method: 'GET', pattern: '/events', action: 'system.events', why: 'Streams events about every object on the daemon unless filtered.' },
  { method: 'GET', pattern: '/info', action: 'system.info' },
  { method: 'GET', pattern: '/version', action: 'system.version' },
  { method: 'GET', pattern: '/system/df', action: 'system.df' },
  { method: 'POST', pattern: '/auth', action: 'system.auth', why: 'Checks registry credentials; dockerd never forwards this body to plugins.' },

  // volume router
  { method: 'GET', pattern: '/volumes', action: 'volume.list' },
  { method: 'GET', pattern: '/volumes/{name:.*}', action: 'volume.inspect', target: VOLUME },
  { method: 'POST', pattern: '/volumes/create', action: 'volume.create', body: 'volume-create', why: 'Driver options can bind a host path (local driver, `o=bind`, `device=/…`): the body is judged.' },
  { method: 'POST', pattern: '/volumes/prune', action: 'volume.prune', why: 'Removes unused volumes of every project.' },
  { method: 'PUT', pattern: '/volumes/{name:.*}', action: 'volume.update', target: VOLUME, why: 'API 1.42+: changes the spec of a swarm cluster (CSI) volume; plain volumes refuse it.' },
  { method: 'DELETE', pattern: '/volumes/{name:.*}', action: 'volume.remove', target: VOLUME },

  // build router
  { method: 'POST', pattern: '/build', action: 'image.build', why: 'The query carries the risky parts (networkmode, a `remote` URL the daemon fetches, extrahosts, cgroupparent); the policy must judge them.' },
  { method: 'POST', pattern: '/build/prune', action: 'image.build-prune', why: 'Clears the build cache of every project.' },
  { method: 'POST', pattern: '/build/cancel', action: 'image.build-cancel' },

  // session router
  { method: 'POST', pattern: '/session', action: 'image.build-session', why: 'Hijacked stream the builder calls back into the client through (files, credentials, SSH, secrets); it cannot start a build by itself.' },

  // swarm router
  { method: 'POST', pattern: '/swarm/init', action: 'swarm.init', hostReaching: true, why: 'Makes this daemon a swarm manager listening on the network.' },
  { method: 'POST', pattern: '/swarm/join', action: 'swarm.join', hostReaching: true, why: 'Hands this host to a cluster whose managers can then run anything here.' },
  { method: 'POST', pattern: '/swarm/leave', action: 'swarm.leave', hostReaching: true, why: 'Takes the host out of its cluster (force may break the quorum).' },
  { method: 'GET', pattern: '/swarm', action: 'swarm.inspect', hostReaching: true, why: 'Returns the join tokens: the manager token lets anyone join a manager and run services here.' },
  { method: 'GET', pattern: '/swarm/unlockkey', action: 'swarm.unlockkey', hostReaching: true, why: 'Returns the key that decrypts the managers\' Raft data, secrets included.' },
  { method: 'POST', pattern: '/swarm/update', action: 'swarm.update', hostReaching: true, why: 'Changes cluster-wide settings: CA, token rotation, autolock.' },
  { method: 'POST', pattern: '/swarm/unlock', action: 'swarm.unlock', hostReaching: true, why: 'Unlocks a locked manager with its key.' },

  { method: 'GET', pattern: '/services', action: 'service.list' },
  { method: 'GET', pattern: '/services/{id}', action: 'service.inspect' },
  { method: 'POST', pattern: '/services/create', action: 'service.create', hostReaching: true, why: SERVICE_SPEC_WHY },
  { method: 'POST', pattern: '/services/{id}/update', action: 'service.update', hostReaching: true, why: SERVICE_SPEC_WHY },
  { method: 'DELETE', pattern: '/services/{id}', action: 'service.remove' },
  { method: 'GET', pattern: '/services/{id}/logs', action: 'service.logs' },

  { method: 'GET', pattern: '/nodes', action: 'node.list' },
  { method: 'GET', pattern: '/nodes/{id}', action: 'node.inspect' },
  { method: 'DELETE', pattern: '/nodes/{id}', action: 'node.remove', hostReaching: true, why: 'Removes a host from the cluster.' },
  { method: 'POST', pattern: '/nodes/{id}/update', action: 'node.update', hostReaching: true, why: 'Promotes, demotes or drains a host, or changes the labels that place services on it.' },

  { method: 'GET', pattern: '/tasks', action: 'task.list' },
  { method: 'GET', pattern: '/tasks/{id}', action: 'task.inspect' },
  { method: 'GET', pattern: '/tasks/{id}/logs', action: 'task.logs' },

  { method: 'GET', pattern: '/secrets', action: 'secret.list' },
  { method: 'POST', pattern: '/secrets/create', action: 'secret.create' },
  { method: 'DELETE', pattern: '/secrets/{id}', action: 'secret.remove' },
  { method: 'GET', pattern: '/secrets/{id}', action: 'secret.inspect', why: 'Metadata only: dockerd never returns secret data.' },
  { method: 'POST', pattern: '/secrets/{id}/update', action: 'secret.update' },

  { method: 'GET', pattern: '/configs', action: 'config.list' },
  { method: 'POST', pattern: '/configs/create', action: 'config.create' },
  { method: 'DELETE', pattern: '/configs/{id}', action: 'config.remove' },
  { method: 'GET', pattern: '/configs/{id}', action: 'config.inspect' },
  { method: 'POST', pattern: '/configs/{id}/update', action: 'config.update' },

  // plugin router
  { method: 'GET', pattern: '/plugins', action: 'plugin.list' },
  { method: 'GET', pattern: '/plugins/{name:.*}/json', action: 'plugin.inspect', target: PLUGIN },
  { method: 'GET', pattern: '/plugins/privileges', action: 'plugin.privileges', why: 'Asks a registry which privileges a plugin wants; installs nothing.' },
  { method: 'DELETE', pattern: '/plugins/{name:.*}', action: 'plugin.remove', target: PLUGIN },
  { method: 'POST', pattern: '/plugins/{name:.*}/enable', action: 'plugin.enable', target: PLUGIN, hostReaching: true, why: 'Starts the plugin, which runs with the host privileges it was granted (mounts, devices, capabilities).' },
  { method: 'POST', pattern: '/plugins/{name:.*}/disable', action: 'plugin.disable', target: PLUGIN },
  { method: 'POST', pattern: '/plugins/pull', action: 'plugin.install', hostReaching: true, why: 'Installs a plugin and grants it the host privileges listed in the body.' },
  { method: 'POST', pattern: '/plugins/{name:.*}/push', action: 'plugin.push', target: PLUGIN },
  { method: 'POST', pattern: '/plugins/{name:.*}/upgrade', action: 'plugin.upgrade', target: PLUGIN, hostReaching: true, why: 'Replaces the plugin\'s code and privileges.' },
  { method: 'POST', pattern: '/plugins/{name:.*}/set', action: 'plugin.set', target: PLUGIN, hostReaching: true, why: 'Settings can point the plugin\'s mounts and devices at host paths.' },
  { method: 'POST', pattern: '/plugins/create', action: 'plugin.create', hostReaching: true, why: 'Creates a plugin from a rootfs and a config (privileges included) sent in the body.' },

  // distribution router
  { method: 'GET', pattern: '/distribution/{name:.*}/json', action: 'distribution.inspect', why: 'Asks the registry for an image\'s manifest; no local object.' },

  // grpc router
  { method: 'POST', pattern: '/grpc', action: 'image.build-session', hostReaching: true, why: 'BuildKit\'s whole control API over a hijacked h2c stream (buildx\'s docker driver): builds and their entitlements, such as network.host which dockerd grants by default, pass where portcullis cannot see them.' },

  // network router (registered last, only when the network controller is enabled)
  { method: 'GET', pattern: '/networks', action: 'network.list' },
  { method: 'GET', pattern: '/networks/', action: 'network.list' },
  { method: 'GET', pattern: '/networks/{id:.+}', action: 'network.inspect', target: NETWORK },
  { method: 'POST', pattern: '/networks/create', action: 'network.create', body: 'network-create', why: 'The body chooses the driver and options (macvlan/ipvlan parent interfaces reach host networking).' },
  { method: 'POST', pattern: '/networks/{id:.*}/connect', action: 'network.connect', target: NETWORK, body: 'network-connect', why: 'The body names the container to connect; it must belong to the project too.' },
  { method: 'POST', pattern: '/networks/{id:.*}/disconnect', action: 'network.disconnect', target: NETWORK, body: 'network-disconnect', why: 'The body names the container to disconnect.' },
  { method: 'POST', pattern: '/networks/prune', action: 'network.prune', why: 'Removes unused networks of every project.' },
  { method: 'DELETE', pattern: '/networks/{id:.*}', action: 'network.remove', target: NETWORK },

  // debug router: added by the API server after all others, for every method, without a version prefix
  { method: '*', pattern: '/debug/vars', action: 'system.debug', hostReaching: true, why: DEBUG_WHY },
  { method: '*', pattern: '/debug/pprof/', action: 'system.debug', hostReaching: true, why: DEBUG_WHY },
  { method: '*', pattern: '/debug/pprof/cmdline', action: 'system.debug', hostReaching: true, why: DEBUG_WHY },
  { method: '*', pattern: '/debug/pprof/profile', action: 'system.debug', hostReaching: true, why: DEBUG_WHY },
  { method: '*', pattern: '/debug/pprof/symbol', action: 'system.debug', hostReaching: true, why: DEBUG_WHY },
  { method: '*', pattern: '/debug/pprof/trace', action: 'system.debug', hostReaching: true, why: DEBUG_WHY },
  { method: '*', pattern: '/debug/pprof/{name}', action: 'system.debug', hostReaching: true, why: DEBUG_WHY }
] satisfies Route[])

// Frozen so that no caller can change what a route means at run time.
for (const route of ROUTES) {
  Object.freeze(route)
  if (route.target !== undefined) Object.freeze(route.target)
  if (route.references !== undefined) Object.freeze(route.references)
}

/** Every action a route can yield, each once, in table order (policy patterns are checked against it). */
export const KNOWN_ACTIONS: readonly string[] = Object.freeze([...new Set(ROUTES.map(route => route.action))])
