// The verdict of the policy core, and the stable codes that say why a call was refused.

export const DENY_CODES = {
  UNREADABLE_REQUEST: 'the daemon\'s authorization request itself could not be read',
  UNKNOWN_ROUTE: 'the route is not in the action table',
  BAD_URI: 'the request URI could not be decoded',
  BAD_BODY: 'the JSON body is missing, empty, not JSON or too large',
  AMBIGUOUS_REQUEST: 'the daemon could read the request differently (repeated or non-ASCII header, form or hidden body)',
  REQUEST_TOO_LARGE: 'the URI, headers or body are beyond portcullis\'s documented limits',
  TOO_MANY_REFERENCES: 'the request names more objects than portcullis looks up per request',
  ANONYMOUS: 'the caller has no identity and anonymous may not do this',
  BAD_TOKEN: 'the token is expired, forged or not for this daemon',
  NO_ROLE: 'no role the user holds allows the action',
  NOT_MEMBER: 'the user is not a member of the object\'s project',
  ROLE_DENIES: 'the user\'s role in the project does not allow the action',
  NO_PROJECT_LABEL: 'a create call names no project',
  UNKNOWN_PROJECT: 'a create call names a project the policy does not know',
  UNOWNED_RESOURCE: 'the object has no project and the user has no global role',
  CROSS_PROJECT: 'the request names an object of another project',
  UNSAFE_REQUIRED: 'host-reaching settings need an unsafe role',
  UNKNOWN_PARAMETER: 'the request has a query parameter the route\'s allowlist does not know',
  UNKNOWN_FIELD: 'the request body sets a field its allowlist does not know to a non-zero value',
  GRANT_REQUIRED: 'published ports, a log driver or a subnet the project\'s grants do not cover (or an unsafe role)',
  EXEC_INTERACTIVE: 'interactive exec is refused for the role',
  EXEC_COMMAND: 'the exec command is refused for the role',
  EXEC_COMMAND_TEXT: 'the exec runs command text (sh -c, python -c, a shell on stdin…) that command rules cannot judge (exec.commandStrings)',
  EXEC_NOT_OWNER: 'an exec may be started or resized only by its creator or an unsafe role',
  INTERACTIVE_STREAM: 'an interactive stream (run -it, create -ti, attach with stdin) is refused for the role',
  SELF_PROTECTION: 'management of portcullis itself needs an unsafe role',
  PRUNE_UNCONFINED: 'a prune whose filters do not confine it to one project where the caller holds it',
  PRUNE_GLOBAL_ONLY: 'image and build-cache prune touch every project and need a global role',
  ID_LIKE_NAME: 'a new container, network or volume name is all lowercase hex, so the daemon could read it as an ID',
  AMBIGUOUS_REFERENCE: 'an all-hex reference found by name (or matching nothing) could mean another object at the daemon',
  INTERNAL_ONLY_READS: 'portcullis\'s own identity may only look objects up',
  BRIDGE_GRANT_SCOPE: 'an SSH bridge grant (a session\'s, or the bridge\'s own housekeeping grant) was used for something other than its exec',
  SSH_LOGIN_FAILED: 'an SSH login offered no key of the user it named (or named no such user)',
  SSH_CONNECTION_REFUSED: 'the SSH bridge closed connections before login: too many not logged in (from one source or in all), the process near its descriptor limit, or the login grace time over',
  SSH_KEY_RESTRICTED: 'an SSH login proved one of the user\'s keys, but the key\'s from= or expiry-time= option refuses it from this address or now',
  CONTAINER_NOT_FOUND: 'the SSH login names a container that does not exist',
  CONTAINER_NOT_RUNNING: 'the SSH login names a container that is not running',
  BRIDGE_UNAVAILABLE: 'the SSH bridge could not reach the daemon or start the exec',
  RECORDING_FAILED: 'the SSH session could not be recorded, so it was refused or ended',
  IMAGE_NAME: 'an image name the call writes, removes or pulls is not one dockerd would read as a name',
  REGISTRY_NOT_ALLOWED: 'the image comes from a registry not in the policy\'s images.registries',
  INTERNAL_ERROR: 'portcullis failed while deciding; it fails closed',
  BUILD_CACHE_NAMESPACE: 'a BuildKit build names no cache namespace (BUILDKIT_CACHE_MOUNT_NS), or another project\'s',
  AUDIT_FAILED: 'the decision could not be recorded; it fails closed'
} as const

export type DenyCode = keyof typeof DENY_CODES

export interface Decision {
  allow: boolean
  action: string | null
  /** The project the call was judged in, null when it touches no project. */
  project: string | null
  /** The role that allowed it (or that was checked when refused). */
  role: string | null
  reason: string
  code: DenyCode | null
  /** The elevation grant (`g-…`) whose membership allowed the call. */
  grant?: string
  /** For a refusal in a project: the smallest role that would allow the call (the one to request). */
  firstRole?: string
  /** A refusal by a deny pattern: the pattern and the role it is written in (the caller's role or an ancestor). */
  deniedBy?: { pattern: string, role: string }
}

export function allowed (action: string, project: string | null, role: string | null, reason: string): Decision {
  return { allow: true, action, project, role, reason, code: null }
}

export function denied (code: DenyCode, reason: string, facts: { action?: string | null, project?: string | null, role?: string | null } = {}): Decision {
  return { allow: false, action: facts.action ?? null, project: facts.project ?? null, role: facts.role ?? null, reason, code }
}
