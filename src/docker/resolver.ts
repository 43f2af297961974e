// Finds out which project the objects named by a request belong to, by asking the daemon.
// Labels never change after creation, so a full ID's answer is kept; names, prefixes and volume/network names
// can be re-pointed (rename, remove + create), so those answers are kept only while the daemon's event feed is
// connected, and dropped on every event that could re-point them.

import type { Logger } from 'pino'
import type { ExecProcess, RequestFacts, ResolvedResource, ResourceFacts, ResourceKind, ResourceRef } from '../authz/types.js'
import { PortcullisError } from '../errors.js'
import type { DockerClient } from './client.js'
import { EventWatcher } from './events.js'

const PROJECT_LABEL = 'portcullis.project'
const FULL_ID = /^[0-9a-f]{64}$/

interface Inspected {
  Id?: string
  ID?: string
  Name?: string
  ContainerID?: string
  Labels?: Record<string, string> | null
  Config?: { Labels?: Record<string, string> | null }
  OpenStdin?: boolean
  ProcessConfig?: { tty?: boolean, entrypoint?: string, arguments?: string[] | null, privileged?: boolean, user?: string } | null
}

export interface ResolverOptions {
  logger: Logger
  /** How long a name's answer may be kept while the event feed is up. */
  nameTtlMs?: number
  maxEntries?: number
}

export class ResourceResolver {
  private readonly byId = new Map<string, ResolvedResource>()
  private readonly byName = new Map<string, { value: ResolvedResource, until: number }>()
  private readonly inflight = new Map<string, Promise<ResolvedResource>>()
  private readonly events: EventWatcher
  private readonly nameTtlMs: number
  private readonly maxEntries: number
  /** Bumped by every event; an answer fetched across an event is not kept by name. */
  private generation = 0

  constructor (private readonly docker: DockerClient, private readonly options: ResolverOptions) {
    this.nameTtlMs = options.nameTtlMs ?? 30_000
    this.maxEntries = options.maxEntries ?? 20_000
    this.events = new EventWatcher(docker, options.logger, (kind) => this.forgetNames(kind))
  }

  start (): void { this.events.start() }
  stop (): void { this.events.stop() }

  async resolve (req: RequestFacts): Promise<ResourceFacts> {
    const [target, ...references] = await Promise.all([
      req.target === undefined ? undefined : this.lookup(req.target),
      ...req.references.map((ref) => this.lookup(ref))
    ])
    return { target, references: references as ResolvedResource[] }
  }

  lookup (ref: ResourceRef): Promise<ResolvedResource> {
    if (ref.kind === 'image') return Promise.resolve({ ref, exists: true, project: null })
    const key = `${ref.kind}:${ref.ref}`
    const known = FULL_ID.test(ref.ref) ? this.byId.get(key) : this.fresh(key)
    if (known !== undefined) return Promise.resolve(known)
    let pending = this.inflight.get(key)
    if (pending === undefined) {
      const generation = this.generation
      pending = this.fetch(ref).then((value) => {
        this.remember(key, value, generation === this.generation)
        return value
      }).finally(() => this.inflight.delete(key))
      this.inflight.set(key, pending)
    }
    return pending
  }

  private fresh (key: string): ResolvedResource | undefined {
    const entry = this.byName.get(key)
    if (entry === undefined) return undefined
    if (entry.until > Date.now() && this.events.connected) return entry.value
    this.byName.delete(key)
    return undefined
  }

  private remember (key: string, value: ResolvedResource, unchanged: boolean): void {
    if (!value.exists) return
    if (this.byId.size >= this.maxEntries) this.byId.clear()
    if (value.id !== undefined && (value.ref.kind === 'container' || value.ref.kind === 'exec')) {
      this.byId.set(`${value.ref.kind}:${value.id}`, value)
    }
    if (FULL_ID.test(value.ref.ref)) return
    if (!this.events.connected || !unchanged) return
    if (this.byName.size >= this.maxEntries) this.byName.clear()
    this.byName.set(key, { value, until: Date.now() + this.nameTtlMs })
  }

  private forgetNames (kind: ResourceKind | 'all'): void {
    this.generation++
    if (kind === 'all') {
      this.byName.clear()
      return
    }
    for (const key of this.byName.keys()) {
      // An exec's container can be renamed too, so container events drop exec answers with them.
      if (key.startsWith(`${kind}:`) || (kind === 'container' && key.startsWith('exec:'))) this.byName.delete(key)
    }
  }

  private async fetch (ref: ResourceRef): Promise<ResolvedResource> {
    const id = encodeURIComponent(ref.ref)
    switch (ref.kind) {
      case 'container': {
        const found = await this.get(ref, `/containers/${id}/json`)
        if (found === null) return { ref, exists: false, project: null }
        return { ref, exists: true, id: found.Id, name: found.Name?.replace(/^\//, ''), project: projectOf(found.Config?.Labels) }
      }
      case 'exec': {
        const found = await this.get(ref, `/exec/${id}/json`)
        if (found === null || found.ContainerID === undefined) return { ref, exists: false, project: null }
        const container = await this.lookup({ kind: 'container', ref: found.ContainerID })
        return { ref, exists: true, id: found.ID, containerId: found.ContainerID, name: container.name, project: container.exists ? container.project : null, exec: execProcess(found) }
      }
      case 'volume':
      case 'network': {
        const found = await this.get(ref, `/${ref.kind}s/${id}`)
        if (found === null) return { ref, exists: false, project: null }
        return { ref, exists: true, id: found.Id ?? found.Name, name: found.Name, project: projectOf(found.Labels) }
      }
      case 'plugin': {
        const found = await this.get(ref, `/plugins/${id}/json`)
        if (found === null) return { ref, exists: false, project: null }
        return { ref, exists: true, id: found.Id, name: found.Name, project: null }
      }
      case 'image':
        return { ref, exists: true, project: null }
    }
  }

  private async get (ref: ResourceRef, path: string): Promise<Inspected | null> {
    let res
    try {
      res = await this.docker.getJson(path)
    } catch (err) {
      throw new PortcullisError('PORTCULLIS_DOCKER_LOOKUP', ref.kind, ref.ref, (err as Error).message)
    }
    if (res.status === 404) return null
    if (res.status !== 200 || typeof res.body !== 'object' || res.body === null) {
      const message = typeof res.body === 'object' && res.body !== null && 'message' in res.body ? String(res.body.message) : `status ${res.status}`
      throw new PortcullisError('PORTCULLIS_DOCKER_LOOKUP', ref.kind, ref.ref, message)
    }
    return res.body as Inspected
  }
}

function projectOf (labels: Record<string, string> | null | undefined): string | null {
  const project = labels?.[PROJECT_LABEL]
  return typeof project === 'string' && project !== '' ? project : null
}

/** What an exec will run, from its inspect answer; anything missing reads as the riskier value. */
function execProcess (found: Inspected): ExecProcess {
  const p = found.ProcessConfig ?? {}
  const cmd = [...(typeof p.entrypoint === 'string' ? [p.entrypoint] : []), ...(Array.isArray(p.arguments) ? p.arguments.map(String) : [])]
  return {
    cmd,
    tty: p.tty !== false,
    stdin: found.OpenStdin !== false,
    privileged: p.privileged !== false,
    user: typeof p.user === 'string' ? p.user : ''
  }
}
