// Every query parameter dockerd 20.10 (API 1.41) reads, per route (keyed `METHOD pattern` as in table.ts), with
// the rule that judges it (src/request/fields/rules.ts). A parameter a route does not list is denied: the daemon
// may read it tomorrow. Go's r.Form keys are case-sensitive, and so is this table.

import type { Rule } from './fields/rules.js'

export interface ParamSpec {
  readonly rule: Rule
  /** The escape setting an `unsafe` parameter is reported under (default `unsafe-parameter`). */
  readonly setting?: string
  /** For `unsafe`: values besides the empty string that ask for nothing. */
  readonly defaults?: readonly string[]
  readonly note?: string
}

const h: ParamSpec = { rule: 'harmless' }
const hostRoute: ParamSpec = { rule: 'route-unsafe' }
const named = (rule: Rule, note?: string): ParamSpec => note === undefined ? { rule } : { rule, note }
const unsafe = (setting: string, note: string, defaults?: string[]): ParamSpec => ({ rule: 'unsafe', setting, note, ...(defaults === undefined ? {} : { defaults }) })

const filters = { filters: h }
const logs = { follow: h, stdout: h, stderr: h, since: h, until: h, timestamps: h, tail: h, details: h }
const swarmLogs = { details: h, follow: h, stdout: h, stderr: h, since: h, timestamps: h, tail: h }
const attach = { detachKeys: h, logs: h, stream: h, stdin: named('interactive', 'stdin=1 streams the caller\'s input to the main process.'), stdout: h, stderr: h }
const imageCreate = {
  fromImage: named('registry'),
  fromSrc: named('import-source'),
  repo: named('image-repository'),
  tag: named('image-repository'),
  message: h,
  changes: h,
  platform: h
}
const version = { version: hostRoute }
const debug = { seconds: hostRoute, debug: hostRoute, gc: hostRoute }

export const QUERY_PARAMS: Readonly<Record<string, Readonly<Record<string, ParamSpec>>>> = Object.freeze({
  'GET /containers/{name:.*}/checkpoints': { dir: hostRoute },
  'POST /containers/{name:.*}/checkpoints': {},
  'DELETE /containers/{name}/checkpoints/{checkpoint}': { dir: hostRoute },

  'HEAD /containers/{name:.*}/archive': { path: h },
  'GET /containers/json': { all: h, limit: h, size: h, filters: h, since: h, before: h },
  'GET /containers/{name:.*}/export': {},
  'GET /containers/{name:.*}/changes': {},
  'GET /containers/{name:.*}/json': { size: h },
  'GET /containers/{name:.*}/top': { ps_args: named('harmless', 'Arguments of the host\'s ps; only the container\'s processes are returned.') },
  'GET /containers/{name:.*}/logs': logs,
  'GET /containers/{name:.*}/stats': { stream: h, 'one-shot': h },
  // The WebSocket attach always attaches stdin (UseStdin: true): the route itself is interactive.
  'GET /containers/{name:.*}/attach/ws': {
    detachKeys: h,
    logs: h,
    stream: h,
    // wsContainersAttach ignores these (it always attaches stdin, stdout and stderr): the route itself is interactive.
    stdin: named('interactive', 'Ignored by dockerd: the websocket attach always streams the caller\'s input.'),
    stdout: named('harmless', 'Ignored by dockerd: the websocket attach always attaches stdout.'),
    stderr: named('harmless', 'Ignored by dockerd: the websocket attach always attaches stderr.')
  },
  'GET /exec/{id:.*}/json': {},
  'GET /containers/{name:.*}/archive': { path: h },
  'POST /containers/create': { name: named('object-name'), platform: h },
  'POST /containers/{name:.*}/kill': { signal: h },
  'POST /containers/{name:.*}/pause': {},
  'POST /containers/{name:.*}/unpause': {},
  'POST /containers/{name:.*}/restart': { t: h },
  'POST /containers/{name:.*}/start': {
    detachKeys: h,
    checkpoint: unsafe('checkpoint', 'Restores process state from a CRIU checkpoint on the host (experimental).'),
    'checkpoint-dir': named('checkpoint-dir')
  },
  'POST /containers/{name:.*}/stop': { t: h },
  'POST /containers/{name:.*}/wait': { condition: h },
  'POST /containers/{name:.*}/resize': { h, w: h },
  'POST /containers/{name:.*}/attach': attach,
  'POST /containers/{name:.*}/copy': {},
  'POST /containers/{name:.*}/exec': {},
  'POST /exec/{name:.*}/start': {},
  'POST /exec/{name:.*}/resize': { h, w: h },
  'POST /containers/{name:.*}/rename': { name: named('object-name') },
  'POST /containers/{name:.*}/update': {},
  'POST /containers/prune': { filters: named('prune-filters') },
  'POST /commit': {
    container: named('reference'),
    repo: named('image-repository'),
    tag: named('image-repository'),
    comment: h,
    author: h,
    pause: h,
    changes: h
  },
  'PUT /containers/{name:.*}/archive': { path: h, noOverwriteDirNonDir: h, copyUIDGID: h },
  'DELETE /containers/{name:.*}': { v: h, force: h, link: h },

  'GET /images/json': { all: h, filters: h, digests: h, filter: named('harmless', 'Deprecated reference filter.') },
  'GET /images/search': { term: named('registry', 'The daemon asks the registry the term names (Docker Hub without one).'), limit: h, filters: h },
  'GET /images/get': { names: named('reference') },
  'GET /images/{name:.*}/get': { names: named('harmless', 'Ignored when the path names the image.') },
  'GET /images/{name:.*}/history': {},
  'GET /images/{name:.*}/json': {},
  'POST /images/load': { quiet: h },
  'POST /images/create': imageCreate,
  'POST /images/{name:.*}/push': { tag: h },
  'POST /images/{name:.*}/tag': { repo: named('image-repository'), tag: named('image-repository') },
  'POST /images/prune': { filters: named('prune-filters') },
  'DELETE /images/{name:.*}': { force: h, noprune: h },

  'OPTIONS /{anyroute:.*}': {},
  'GET /_ping': {},
  'HEAD /_ping': {},
  'GET /events': { since: h, until: h, filters: h },
  'GET /info': {},
  'GET /version': {},
  'GET /system/df': {},
  'POST /auth': {},

  'GET /volumes': filters,
  'GET /volumes/{name:.*}': {},
  'POST /volumes/create': {},
  'POST /volumes/prune': { filters: named('prune-filters') },
  'PUT /volumes/{name:.*}': { version: h },
  'DELETE /volumes/{name:.*}': { force: h },

  'POST /build': {
    dockerfile: h,
    t: named('image-repository'),
    extrahosts: unsafe('build-extra-hosts', 'The classic builder\'s layer cache keys a RUN step on its line and parent, not on the hosts it resolved: a step built with chosen hosts would be reused by every project\'s identical step.'),
    remote: unsafe('build-remote', 'The daemon itself fetches the URL (or git repository) from the host\'s network; `client-session` (the context comes through the BuildKit session, as `DOCKER_BUILDKIT=1 docker build` sends it) asks for nothing.', ['client-session']),
    q: h,
    nocache: h,
    cachefrom: named('registry', 'Images BuildKit imports cache from: each is fetched from its registry.'),
    pull: h,
    rm: h,
    forcerm: h,
    memory: h,
    memswap: h,
    cpushares: h,
    cpusetcpus: h,
    cpusetmems: h,
    cpuperiod: h,
    cpuquota: h,
    buildargs: named('registry', 'Build arguments; BUILDKIT_SYNTAX names a frontend image BuildKit fetches and runs.'),
    shmsize: h,
    squash: h,
    labels: named('project-label'),
    networkmode: named('build-network-mode'),
    platform: h,
    target: h,
    outputs: named('build-outputs'),
    version: h,
    cgroupparent: unsafe('cgroup-parent', 'The build containers\' cgroup on the host.'),
    isolation: unsafe('isolation', 'Windows isolation; Linux daemons refuse other values.', ['default']),
    ulimits: h,
    securityopt: unsafe('security-opt', 'Linux daemons refuse security options on build.'),
    session: h,
    buildid: h
  },
  'POST /build/prune': { 'keep-storage': h, all: h, filters: named('prune-filters') },
  'POST /build/cancel': { id: h },
  'POST /session': {},

  'POST /swarm/init': {},
  'POST /swarm/join': {},
  'POST /swarm/leave': { force: hostRoute },
  'GET /swarm': {},
  'GET /swarm/unlockkey': {},
  'POST /swarm/update': { version: hostRoute, rotateWorkerToken: hostRoute, rotateManagerToken: hostRoute, rotateManagerUnlockKey: hostRoute },
  'POST /swarm/unlock': {},

  'GET /services': { filters: h, status: h },
  'GET /services/{id}': { insertDefaults: h },
  'POST /services/create': {},
  'POST /services/{id}/update': { version: hostRoute, registryAuthFrom: hostRoute, rollback: hostRoute },
  'DELETE /services/{id}': {},
  'GET /services/{id}/logs': swarmLogs,

  'GET /nodes': filters,
  'GET /nodes/{id}': {},
  'DELETE /nodes/{id}': { force: hostRoute },
  'POST /nodes/{id}/update': version,

  'GET /tasks': filters,
  'GET /tasks/{id}': {},
  'GET /tasks/{id}/logs': swarmLogs,

  'GET /secrets': filters,
  'POST /secrets/create': {},
  'DELETE /secrets/{id}': {},
  'GET /secrets/{id}': {},
  'POST /secrets/{id}/update': { version: h },

  'GET /configs': filters,
  'POST /configs/create': {},
  'DELETE /configs/{id}': {},
  'GET /configs/{id}': {},
  'POST /configs/{id}/update': { version: h },

  'GET /plugins': filters,
  'GET /plugins/{name:.*}/json': {},
  'GET /plugins/privileges': { remote: named('registry') },
  'DELETE /plugins/{name:.*}': { force: h },
  'POST /plugins/{name:.*}/enable': { timeout: hostRoute },
  'POST /plugins/{name:.*}/disable': { force: h },
  'POST /plugins/pull': { remote: hostRoute, name: hostRoute },
  'POST /plugins/{name:.*}/push': {},
  'POST /plugins/{name:.*}/upgrade': { remote: hostRoute },
  'POST /plugins/{name:.*}/set': {},
  'POST /plugins/create': { name: hostRoute },

  'GET /distribution/{name:.*}/json': {},
  'POST /grpc': {},

  'GET /networks': filters,
  'GET /networks/': filters,
  'GET /networks/{id:.+}': { verbose: h, scope: h },
  'POST /networks/create': {},
  'POST /networks/{id:.*}/connect': {},
  'POST /networks/{id:.*}/disconnect': {},
  'POST /networks/prune': { filters: named('prune-filters') },
  'DELETE /networks/{id:.*}': {},

  '* /debug/vars': {},
  '* /debug/pprof/': debug,
  '* /debug/pprof/cmdline': {},
  '* /debug/pprof/profile': debug,
  '* /debug/pprof/symbol': {},
  '* /debug/pprof/trace': debug,
  '* /debug/pprof/{name}': debug
})

/** The parameters of the route registered as `method` + `pattern` (table.ts), or undefined if it has no entry. */
export function paramsOf (method: string, pattern: string): Readonly<Record<string, ParamSpec>> | undefined {
  return QUERY_PARAMS[`${method} ${pattern}`] ?? QUERY_PARAMS[`* ${pattern}`]
}
