// What kind of request body each action takes, which decides how a body the daemon did not forward is judged.
//
// `none`: no body is expected. `json`: a JSON body the daemon forwards (when it is application/json and under
// 1 MiB) and portcullis reads. `opaque`: a tar archive or a stream the daemon never forwards; portcullis cannot
// see it, so only the Content-Types the docker CLI (and docker-py) send are accepted.

export type BodyClass = 'none' | 'json' | 'opaque'

const JSON_BODIES = [
  'container.create', 'container.exec', 'exec.start', 'container.update', 'container.commit',
  'container.checkpoint-create', 'network.create', 'network.connect', 'network.disconnect', 'volume.create',
  'volume.update', 'swarm.init', 'swarm.join', 'swarm.update', 'swarm.unlock', 'service.create', 'service.update',
  'node.update', 'secret.create', 'secret.update', 'config.create', 'config.update', 'plugin.install',
  'plugin.upgrade', 'plugin.set', 'system.auth'
]

/**
 * The visible Content-Type media types accepted on opaque routes; `''` is no Content-Type at all. Measured with
 * the docker CLI 20.10: build, load and plugin create send application/x-tar; import and `docker cp` into a
 * container send text/plain; the /session and /grpc hijacks send none. docker-py sends application/tar or none.
 */
export const OPAQUE_BODIES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'image.build': ['', 'application/x-tar', 'application/tar'],
  'image.import': ['', 'text/plain', 'application/x-tar', 'application/tar'],
  'image.load': ['', 'application/x-tar', 'application/tar'],
  'container.put-archive': ['', 'text/plain', 'application/x-tar', 'application/tar'],
  'plugin.create': ['', 'application/x-tar', 'application/tar'],
  'image.build-session': ['']
})

const JSON_SET = new Set(JSON_BODIES)

export function bodyClassOf (action: string): BodyClass {
  if (Object.hasOwn(OPAQUE_BODIES, action)) return 'opaque'
  return JSON_SET.has(action) ? 'json' : 'none'
}

/** dockerd never forwards the body of /auth (its path ends in `/auth`): judged without it, as before. */
export const BODY_NEVER_FORWARDED = new Set(['system.auth'])
