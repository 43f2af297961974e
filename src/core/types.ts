// The model: what the daemon sends, the facts read from it, what the look-ups found and who is calling. Shared by
// the request reader, the resource resolver, the policy core and the audit store; the core only ever sees these
// plain values.

/** What the daemon POSTs to /AuthZPlugin.AuthZReq and /AuthZPlugin.AuthZRes (keys exactly as sent). */
export interface AuthZRequest {
  User?: string
  UserAuthNMethod?: string
  RequestMethod?: string
  RequestUri?: string
  RequestBody?: string | null // base64, only when the daemon chose to forward it
  RequestHeaders?: Record<string, string> | null
  RequestPeerCertificates?: unknown
  ResponseStatusCode?: number
  ResponseBody?: string | null
  ResponseHeaders?: Record<string, string> | null
}

export interface AuthZResponse {
  Allow: boolean
  Msg: string
  Err: string
}

/** A kind of Docker object that can belong to a project. */
export type ResourceKind = 'container' | 'exec' | 'volume' | 'network' | 'image' | 'plugin'

/** A reference to an object as the client named it (name, ID or ID prefix). */
export interface ResourceRef {
  kind: ResourceKind
  ref: string
}

/** Why a body could not be judged. Every one of these denies. */
export type BodyProblem = 'missing' | 'empty' | 'invalid-json' | 'too-large' | 'not-an-object' | 'form-encoded'

/** A setting that reaches outside the container onto the host; only `unsafe` roles may ask for these. */
export interface Escape {
  /** Stable name, e.g. `privileged`, `cap-add`, `bind-mount`, `pid-namespace`. */
  setting: string
  /** What exactly was asked for, for the message and the audit record. */
  detail: string
}

/** Host addresses and ports a create publishes (PortBindings, PublishAllPorts); judged against `grants.ports`. */
export interface PortNeed {
  /** As sent: `` means every address (0.0.0.0 and ::). */
  hostIp: string
  from: number
  to: number
  /** What asked for it, for the message and the record. */
  field: string
}

/** What a request asks for that a project grant may allow (src/core/project-grants.ts) instead of an unsafe role. */
export interface GrantNeeds {
  ports: PortNeed[]
  logDrivers: string[]
  subnets: string[]
}

/** Facts about the exec create body that the policy judges. */
export interface ExecFacts {
  cmd: string[]
  tty: boolean
  attachStdin: boolean
  privileged: boolean
  user: string
  envNames: string[]
}

/** Everything the policy needs to know about one request, read from method, URI and body. */
export interface RequestFacts {
  method: string
  /** The URI as the daemon sent it. */
  uri: string
  /** Normalized path without API version prefix or query, e.g. `/containers/web/start`. */
  path: string
  query: Record<string, string[]>
  /** `resource.verb`, or null when no route matches (always denied). */
  action: string | null
  /** The existing object the call acts on, if any. */
  target?: ResourceRef
  /** For create calls: the project named by the `portcullis.project` label, if any. */
  labelProject?: string | null
  /** Set when dockerd could read the request differently, or it is beyond a documented limit: always denied. */
  wire?: WireProblem
  /** Set when the route needs a JSON body and it could not be read. */
  bodyProblem?: BodyProblem
  bodyProblemDetail?: string
  /** Host-reaching settings asked for. */
  escapes: Escape[]
  /** Other existing objects the request names (links, volumes-from, networks, named volumes...). */
  references: ResourceRef[]
  exec?: ExecFacts
  /** Query parameters the route's allowlist does not know (src/request/query-params.ts): always denied. */
  unknownParameters?: string[]
  /** Body fields set to a non-zero value that the body's allowlist does not know (src/request/fields): always denied. */
  unknownFields?: string[]
  /** Ports, log drivers and subnets asked for: allowed by a project grant or an unsafe role. */
  grantNeeds?: GrantNeeds
  /** A BuildKit build: the cache namespace it names (src/request/buildkit.ts). */
  buildKit?: BuildKitFacts
  /** For image.build: the image names its BuildKit `moby` outputs write (src/request/build-query.ts). */
  buildOutputs?: string[]
  /** Images the call makes the daemon contact a registry about (src/request/registry-uses.ts). */
  registryUses?: RegistryUse[]
  /** For prune calls: what their `filters` confine them to. */
  prune?: PruneFacts
  /** A new container, network or volume name the daemon could read as an ID prefix (refused for everyone). */
  idLikeName?: string
  /** An interactive stream the call asks for (container create with Tty/OpenStdin/AttachStdin, attach with stdin). */
  stream?: StreamFacts
  /** Security-relevant request fields to keep in the audit record (env values already redacted). */
  auditFields: Record<string, unknown>
}

/** What a prune's `filters` query confines it to (request/prune-filters.ts). */
export interface PruneFacts {
  /** What the prune removes, for the refusal (`stopped containers`). */
  removes: string
  /** Every `label=portcullis.project=P` value; the filters are ANDed, so the prune touches only objects of these. */
  projects: string[]
  /** Images and the build cache carry no project portcullis judged: only global roles may prune them. */
  globalOnly: boolean
  /** Why the filters cannot be read as dockerd reads them. */
  problem?: string
}

/** What the resolver found out about the objects a request names (I/O happens before the policy). */
export interface ResolvedResource {
  ref: ResourceRef
  exists: boolean
  /** Full ID, when found. */
  id?: string
  /** The `portcullis.project` label, or null when the object has none. */
  project: string | null
  /** For exec IDs: the container they run in. */
  containerId?: string
  /** The object's own name (plugins: `name:tag`). */
  name?: string
  /** What makes the object reach the host (its HostConfig, bind mounts, bind-like volume, host network driver);
   * exec IDs carry their container's. Entering it needs an unsafe role. */
  hostReach?: Escape[]
  /** The reference is all lowercase hex and was found by the object's name (`name`) or matched nothing
   * (`nothing`): the daemon could read it as another object's ID prefix by the time it acts, so it is refused.
   * `prefix`: a network found by an ID prefix, refused where a create keeps it for the daemon to look up at start. */
  readAsId?: 'name' | 'nothing' | 'prefix'
  /** Images (inspected for image.remove only): every name and digest reference the image has. */
  repoTags?: string[]
  repoDigests?: string[]
  /** Containers, networks, volumes: where `project` came from (the ownership registry, or nowhere). */
  projectSource?: 'registry' | 'unregistered'
  /** For exec IDs: what the exec will run, as the daemon keeps it (see ExecProcess). */
  exec?: ExecProcess
}

/** An exec as `GET /exec/{id}/json` describes it, plus who created it (when portcullis saw it created). */
export interface ExecProcess {
  /** [entrypoint, ...arguments]: the Cmd it was created with. */
  cmd: string[]
  tty: boolean
  /** OpenStdin: stdin was asked for at create. */
  stdin: boolean
  privileged: boolean
  user: string
  /** Who created it through portcullis; null when portcullis did not see it created (before a restart, evicted). */
  creator?: ExecCreator | null
}

export interface ExecCreator {
  user: string | null
  /** The SSH bridge session it was created for, if any. */
  session?: string
}

/** An interactive stream asked for: a TTY, or a way to write to a process's stdin. */
export interface StreamFacts {
  tty: boolean
  stdin: boolean
  /** What asked for it, for the refusal: `docker run -it`, `attach with stdin=1`... */
  detail: string
  /** What to drop to get a non-interactive call: `-i and -t`, `stdin (docker attach --no-stdin)`. */
  drop: string
}

export interface ResourceFacts {
  target?: ResolvedResource
  references: ResolvedResource[]
}

/** `ssh`: a session the SSH bridge authenticated by public key; `bridge`: an exec call the bridge makes to the
 * daemon on behalf of such a session (it carries a grant only the bridge and the plugin know);
 * `bridge-housekeeping`: the bridge's own look-up of a session's exec (to stop it, to read its exit status). */
export type AuthMethod = 'tls' | 'jwt' | 'anonymous' | 'internal' | 'ssh' | 'bridge' | 'bridge-housekeeping'

export interface Identity {
  /** null for anonymous callers. */
  user: string | null
  method: AuthMethod
  /** Token ID (`jti`) or a short fingerprint of the token, for the audit record. */
  tokenId?: string
  /** For `bridge`, `bridge-housekeeping` and `ssh` identities: the bridge session the call belongs to. */
  session?: string
  /** For `bridge-housekeeping`: the one exec (full ID) it may inspect. */
  exec?: string
}

/** What the objects a request names are: the daemon's answer (src/docker/resolver.ts), or a table in tests and `check`. */
export interface ResourceLookup {
  resolve (facts: RequestFacts, caller?: string): Promise<ResourceFacts>
}

/** Why a request cannot be judged as dockerd will read it (src/request/wire.ts): always denied. */
export interface WireProblem {
  /** BAD_URI: set by the request reader when the URI cannot be read the way dockerd reads it. */
  code: 'AMBIGUOUS_REQUEST' | 'REQUEST_TOO_LARGE' | 'TOO_MANY_REFERENCES' | 'BAD_URI'
  /** The header that was ambiguous, when one was. */
  header?: string
  reason: string
}

/** An image name a call makes the daemon contact a registry about (src/request/registry-uses.ts). */
export interface RegistryUse {
  /** The image (or search term, or plugin) name, as the caller wrote it. */
  name: string
  /** Where it came from, for the refusal: `fromImage`, `Image`, `cachefrom`, `BUILDKIT_SYNTAX`… */
  via: string
}

/** A BuildKit build (src/request/buildkit.ts). */
export interface BuildKitFacts {
  /** BUILDKIT_CACHE_MOUNT_NS of the first `buildargs` (what the daemon reads); null when absent or unreadable. */
  cacheNamespace: string | null
}

/** Who is calling (src/identity/resolve.ts): an identity, or why the credential the call carries is refused. */
export type IdentityVerdict = { ok: true, identity: Identity } | { ok: false, method: AuthMethod, reason: string, tokenId?: string }
