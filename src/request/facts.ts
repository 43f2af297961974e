// The body half of RequestFacts: what a Go-decoded request body asks for, in the terms the policy
// judges (escapes, references, project label, exec details) plus a redacted summary for the audit log.

import type { ExecFacts, RequestFacts } from '../core/types.js'
import type {
  BodyKind, BodyTypes, ContainerCreateBody, ExecCreateBody, HostConfigBody, NetworkCreateBody, StringMap,
  VolumeCreateBody
} from './docker-types.js'
import {
  containerCreateEscapes, containerUpdateEscapes, execCreateEscapes, networkCreateEscapes, volumeCreateEscapes
} from './escapes.js'
import {
  containerCreateReferences, networkConnectReferences, networkCreateReferences, networkDisconnectReferences
} from './references.js'
import { envNames, redactDriverOptions, redactEnv } from './redact.js'
import { createStream } from './streams.js'
import { PROJECT_LABEL } from '../core/project-label.js'

export { readBody, MAX_FORWARDED_BODY } from './body.js'
export type { BodyKind, BodyTypes } from './docker-types.js'


export type BodyFacts =
  Pick<RequestFacts, 'escapes' | 'references' | 'auditFields'> &
  Partial<Pick<RequestFacts, 'labelProject' | 'exec' | 'stream'>>

/** Extracts the facts the policy judges from a body decoded by `readBody(kind, ...)`. */
export function extractFacts<K extends BodyKind> (kind: K, decoded: BodyTypes[K]): BodyFacts {
  switch (kind) {
    case 'container-create': return containerCreateFacts(decoded as ContainerCreateBody)
    case 'exec-create': return execCreateFacts(decoded as ExecCreateBody)
    case 'container-update': {
      const escapes = containerUpdateEscapes(decoded as BodyTypes['container-update'])
      return { escapes, references: [], auditFields: { escapes } }
    }
    case 'network-create': return networkCreateFacts(decoded as NetworkCreateBody)
    case 'network-connect': {
      const body = decoded as BodyTypes['network-connect']
      return { escapes: [], references: networkConnectReferences(body), auditFields: defined({ container: body.Container }) }
    }
    case 'network-disconnect': {
      const body = decoded as BodyTypes['network-disconnect']
      return { escapes: [], references: networkDisconnectReferences(body), auditFields: defined({ container: body.Container, force: body.Force }) }
    }
    case 'volume-create': return volumeCreateFacts(decoded as VolumeCreateBody)
  }
  throw new Error(`unknown body kind ${String(kind)}`)
}

function containerCreateFacts (body: ContainerCreateBody): BodyFacts {
  const escapes = containerCreateEscapes(body)
  const inner = body.HostConfig ?? undefined
  const sources: HostConfigBody[] = inner === undefined ? [body] : [body, inner]
  const mounts = sources.flatMap(mountSummaries)
  const stream = createStream(body)
  return {
    escapes,
    references: containerCreateReferences(body),
    labelProject: projectLabel(body.Labels),
    ...(stream !== undefined ? { stream } : {}),
    auditFields: defined({
      image: body.Image,
      cmd: body.Cmd ?? undefined,
      entrypoint: body.Entrypoint ?? undefined,
      user: body.User,
      env: body.Env === null || body.Env === undefined ? undefined : redactEnv(body.Env),
      labels: plain(body.Labels),
      // getHostConfig: the HostConfig key wins over the deprecated top-level fields.
      networkMode: inner?.NetworkMode ?? body.NetworkMode,
      networks: nonEmptyList(Object.keys(body.NetworkingConfig?.EndpointsConfig ?? {})),
      mounts: nonEmptyList(mounts),
      interactive: stream === undefined ? undefined : { tty: stream.tty, stdin: stream.stdin },
      escapes
    })
  }
}

function mountSummaries (hc: HostConfigBody): string[] {
  const binds = hc.Binds ?? []
  const mounts = (hc.Mounts ?? []).map((m) =>
    `${m.Type ?? ''} ${m.Source === undefined || m.Source === '' ? '(anonymous)' : m.Source} -> ${m.Target ?? ''}${m.ReadOnly === true ? ' (ro)' : ''}`)
  return [...binds, ...mounts]
}

function execCreateFacts (body: ExecCreateBody): BodyFacts {
  const exec: ExecFacts = {
    cmd: body.Cmd ?? [],
    tty: body.Tty ?? false,
    attachStdin: body.AttachStdin ?? false,
    privileged: body.Privileged ?? false,
    user: body.User ?? '',
    envNames: envNames(body.Env)
  }
  const escapes = execCreateEscapes(body)
  return {
    escapes,
    references: [],
    exec,
    auditFields: defined({
      cmd: exec.cmd,
      user: exec.user,
      env: body.Env === null || body.Env === undefined ? undefined : redactEnv(body.Env),
      tty: exec.tty,
      attachStdin: exec.attachStdin,
      privileged: exec.privileged,
      workingDir: body.WorkingDir,
      escapes
    })
  }
}

function networkCreateFacts (body: NetworkCreateBody): BodyFacts {
  const escapes = networkCreateEscapes(body)
  return {
    escapes,
    references: networkCreateReferences(body),
    labelProject: projectLabel(body.Labels),
    auditFields: defined({
      name: body.Name,
      driver: body.Driver,
      options: plain(body.Options),
      labels: plain(body.Labels),
      configFrom: body.ConfigFrom?.Network,
      escapes
    })
  }
}

function volumeCreateFacts (body: VolumeCreateBody): BodyFacts {
  const escapes = volumeCreateEscapes(body)
  return {
    escapes,
    // dockerd answers a create of an existing name with that volume (201): the name is a reference, so a create
    // may not claim a volume of another project, or one of no project.
    references: body.Name === undefined || body.Name === '' ? [] : [{ kind: 'volume', ref: body.Name }],
    labelProject: projectLabel(body.Labels),
    auditFields: defined({
      name: body.Name,
      driver: body.Driver,
      driverOpts: body.DriverOpts === null || body.DriverOpts === undefined ? undefined : redactDriverOptions(body.DriverOpts),
      labels: plain(body.Labels),
      escapes
    })
  }
}

/** The `portcullis.project` label (exact, case-sensitive key, as Docker stores labels), or null. */
function projectLabel (labels: StringMap | null | undefined): string | null {
  if (labels === null || labels === undefined || !Object.hasOwn(labels, PROJECT_LABEL)) return null
  return labels[PROJECT_LABEL] ?? null
}

function plain (map: StringMap | null | undefined): StringMap | undefined {
  if (map === null || map === undefined) return undefined
  return Object.assign(Object.create(null) as StringMap, map)
}

/** Drops undefined fields so audit records only hold what the request set. */
function defined (fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) out[key] = value
  }
  return out
}

function nonEmptyList<T> (list: T[]): T[] | undefined {
  return list.length === 0 ? undefined : list
}
