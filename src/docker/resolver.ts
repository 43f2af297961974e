// Finds out which project the objects named by a request belong to, by asking the daemon.
// Labels never change after creation, so a full ID's answer is kept; names, prefixes and volume/network names
// can be re-pointed (rename, remove + create), so those answers are kept only while the daemon's event feed is
// connected, and dropped on every event that could re-point them.

import type { Logger } from 'pino'
import type { ExecProcess, RequestFacts, ResolvedResource, ResourceFacts, ResourceKind, ResourceRef } from '../core/types.js'
import { PortcullisError } from '../errors.js'
import type { DockerApi } from './api.js'
import { MAX_LOOKUPS_PER_CALLER } from '../request/limits.js'
import { CallerLimit } from './caller-limit.js'
import { EventWatcher } from './events.js'
import { containerReach, networkReach, volumeReach } from './host-reach.js'
import { networksToFind, STARTING_ACTIONS, type StoredNetworks } from './start-networks.js'
import { readsBothWays } from '../request/object-names.js'
import { inspectImage } from './image-lookup.js'
import { reconcile } from './adopt.js'
import type { OwnershipRegistry } from '../ownership/registry.js'
import { trackEvent } from '../ownership/track.js'
import { PROJECT_LABEL } from '../core/project-label.js'

const FULL_ID = /^[0-9a-f]{64}$/
/** How long a call waits for the first start's adoption of existing objects before it is refused. */
const ADOPTION_WAIT_MS = 30_000

interface Inspected {
  Id?: string
  ID?: string
  Name?: string
  ContainerID?: string
  Labels?: Record<string, string> | null
  Config?: { Labels?: Record<string, string> | null }
  HostConfig?: unknown
  Mounts?: unknown
  Options?: unknown
  Driver?: unknown
  NetworkSettings?: { Networks?: StoredNetworks }
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
  private readonly ownedAnswers = new WeakMap<ResolvedResource, { version: number, value: ResolvedResource }>()
  private readonly inflight = new Map<string, Promise<ResolvedResource>>()
  private readonly perCaller = new CallerLimit(MAX_LOOKUPS_PER_CALLER)
  private readonly events: EventWatcher
  private readonly nameTtlMs: number
  private readonly maxEntries: number
  /** Bumped by every event; an answer fetched across an event is not kept by name. */
  private generation = 0
  /** Where projects come from once set (serve.ts): the registry, never an object's label. */
  private owners: { registry: OwnershipRegistry, adopting: () => Promise<void> | null } | undefined
  /** The event feed was lost since the last reconcile of the ownership registry. */
  private missedEvents = false

  constructor (private readonly docker: DockerApi, private readonly options: ResolverOptions) {
    this.nameTtlMs = options.nameTtlMs ?? 30_000
    this.maxEntries = options.maxEntries ?? 20_000
    this.events = new EventWatcher(docker, options.logger, (kind, event) => {
      this.forgetNames(kind)
      if (kind === 'all') this.missedEvents = true
      if (event !== undefined && this.owners !== undefined) {
        trackEvent(this.owners.registry, event).catch((err: unknown) => options.logger.error({ err }, 'could not drop a removed object from the ownership registry'))
      }
    }, () => {
      // Destroy events sent while the feed was down are lost: drop what is gone now (start-up does it too).
      if (!this.missedEvents || this.owners === undefined) return
      this.missedEvents = false
      reconcile(this.owners.registry, docker, options.logger).catch((err: unknown) => {
        this.missedEvents = true
        options.logger.warn({ err }, 'could not reconcile the ownership registry after the event feed came back')
      })
    })
  }

  /** From now on an object's project is the registry's answer; look-ups wait for an adoption under way (first start). */
  useOwnership (registry: OwnershipRegistry, adopting: () => Promise<void> | null): void {
    this.owners = { registry, adopting }
  }

  start (): void { this.events.start() }
  stop (): void { this.events.stop() }

  /** `caller` (the user, '' for none) gets at most MAX_LOOKUPS_PER_CALLER look-ups at the daemon at a time. */
  async resolve (req: RequestFacts, caller = ''): Promise<ResourceFacts> {
    const adopting = this.owners?.adopting() ?? null
    if (adopting !== null && (req.target !== undefined || req.references.length > 0)) await waitFor(adopting, ADOPTION_WAIT_MS)
    const [target, ...references] = await Promise.all([
      req.target === undefined ? undefined : req.action === 'image.remove' && req.target.kind === 'image' ? inspectImage(this.docker, req.target) : this.lookup(req.target, caller),
      ...req.references.map((ref) => this.lookup(ref, caller))
    ])
    if (target?.exists === true && req.action !== null && STARTING_ACTIONS.has(req.action)) {
      references.push(...await this.networksAtStart(target, caller))
    }
    return { target, references: references as ResolvedResource[] }
  }

  /** The networks the daemon will join the container to, read fresh (a cached answer may predate a connect). */
  private async networksAtStart (target: ResolvedResource, caller: string): Promise<ResolvedResource[]> {
    const found = await this.get(target.ref, `/containers/${encodeURIComponent(target.id ?? target.ref.ref)}/json`)
    if (found === null) return []
    return await Promise.all(networksToFind(found.NetworkSettings?.Networks).map((ref) => this.lookup(ref, caller)))
  }

  /** Without a `caller` (portcullis's own nested look-ups) no per-caller limit applies. */
  lookup (ref: ResourceRef, caller?: string): Promise<ResolvedResource> {
    // A cached answer is owned at once: no extra promise on the path almost every call takes.
    const known = this.cached(ref)
    if (known !== undefined) return Promise.resolve(this.owned(known))
    return this.lookupLabelled(ref, caller).then((value) => this.owned(value))
  }

  private cached (ref: ResourceRef): ResolvedResource | undefined {
    if (ref.kind === 'image') return undefined
    const key = `${ref.kind}:${ref.ref}`
    return FULL_ID.test(ref.ref) ? this.byId.get(key) : this.fresh(key)
  }

  /**
   * The registry's project for the object, whatever its label says; unchanged without a registry. The answer for a
   * cached look-up is kept while the registry is unchanged, so every call sees one object of one shape.
   */
  private owned (value: ResolvedResource): ResolvedResource {
    if (this.owners === undefined || !value.exists) return value
    const registry = this.owners.registry
    const kept = this.ownedAnswers.get(value)
    if (kept !== undefined && kept.version === registry.version) return kept.value
    const answer = this.ownedAnswer(value, registry)
    this.ownedAnswers.set(value, { version: registry.version, value: answer })
    return answer
  }

  private ownedAnswer (value: ResolvedResource, registry: OwnershipRegistry): ResolvedResource {
    let entry
    switch (value.ref.kind) {
      case 'container': entry = value.id === undefined ? undefined : registry.get('container', value.id); break
      case 'exec': entry = value.containerId === undefined ? undefined : registry.get('container', value.containerId); break
      case 'network': entry = value.id === undefined ? undefined : registry.get('network', value.id); break
      // A volume's CreatedAt is the ctime of its _data directory, which changes whenever its top level does, so it
      // cannot tell a re-made volume from the recorded one: removes, prunes and destroy events drop the entry instead.
      case 'volume': entry = value.name === undefined ? undefined : registry.get('volume', value.name); break
      default: return value
    }
    return { ...value, project: entry?.project ?? null, projectSource: entry === undefined ? 'unregistered' : 'registry' }
  }

  private lookupLabelled (ref: ResourceRef, caller?: string): Promise<ResolvedResource> {
    if (ref.kind === 'image') return Promise.resolve({ ref, exists: true, project: null })
    const key = `${ref.kind}:${ref.ref}`
    const known = FULL_ID.test(ref.ref) ? this.byId.get(key) : this.fresh(key)
    if (known !== undefined) return Promise.resolve(known)
    // Shared only within a caller: another caller never waits behind this caller's queue.
    const flightKey = caller === undefined ? key : `${caller}\u0000${key}`
    let pending = this.inflight.get(flightKey)
    if (pending === undefined) {
      const generation = this.generation
      const work = caller === undefined ? this.fetch(ref) : this.perCaller.run(caller, () => this.fetch(ref))
      pending = work.then((value) => {
        this.remember(key, value, generation === this.generation)
        return value
      }).finally(() => this.inflight.delete(flightKey))
      this.inflight.set(flightKey, pending)
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
      // How the name was read is about that name, not about the object a full ID names.
      const { readAsId: _, ...byId } = value
      this.byId.set(`${value.ref.kind}:${value.id}`, byId)
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
        if (found === null) return idLike(ref, { ref, exists: false, project: null })
        const name = found.Name?.replace(/^\//, '')
        const hostReach = await this.containerReach(found)
        return idLike(ref, { ref, exists: true, id: found.Id, name, project: projectOf(found.Config?.Labels), ...hostReach })
      }
      case 'exec': {
        const found = await this.get(ref, `/exec/${id}/json`)
        if (found === null || found.ContainerID === undefined) return { ref, exists: false, project: null }
        const container = await this.lookup({ kind: 'container', ref: found.ContainerID })
        return { ref, exists: true, id: found.ID, containerId: found.ContainerID, name: container.name, project: container.exists ? container.project : null, ...reachOf(container.hostReach), exec: execProcess(found) }
      }
      case 'volume':
      case 'network': {
        const found = await this.get(ref, `/${ref.kind}s/${id}`)
        if (found === null) return idLike(ref, { ref, exists: false, project: null })
        const reach = ref.kind === 'volume' ? volumeReach(found.Options) : networkReach(found.Driver)
        return idLike(ref, { ref, exists: true, id: found.Id ?? found.Name, name: found.Name, project: projectOf(found.Labels), ...reachOf(reach) })
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

  /** The container's own reach plus that of the volumes it mounts (their driver options may bind a host path). */
  private async containerReach (found: Inspected): Promise<Pick<ResolvedResource, 'hostReach'>> {
    const { reach, volumes } = containerReach(found.HostConfig, found.Mounts)
    const mounted = await Promise.all(volumes.map((name) => this.lookup({ kind: 'volume', ref: name })))
    for (const volume of mounted) {
      for (const e of volume.hostReach ?? []) reach.push({ setting: e.setting, detail: `volume ${volume.ref.ref}: ${e.detail}` })
    }
    return reachOf(reach)
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

function reachOf (reach: ResolvedResource['hostReach']): Pick<ResolvedResource, 'hostReach'> {
  return reach === undefined || reach.length === 0 ? {} : { hostReach: reach }
}

/**
 * Marks a container or network reference that the daemon could read otherwise by the time it acts: all hex, and
 * either found by the object's name (another object's ID may start with it) or matching nothing (a new object's may).
 * Networks found by an ID prefix are marked too: a create keeps the reference and the daemon looks it up again at
 * every start. Volumes are found by exact name only; exec IDs by exact ID.
 */
function idLike (ref: ResourceRef, found: ResolvedResource): ResolvedResource {
  if ((ref.kind !== 'container' && ref.kind !== 'network') || !readsBothWays(ref.ref)) return found
  if (!found.exists) return { ...found, readAsId: 'nothing' }
  const name = ref.kind === 'container' ? ref.ref.replace(/^\//, '') : ref.ref
  if (found.name === name) return { ...found, readAsId: 'name' }
  return ref.kind === 'network' && found.id !== ref.ref ? { ...found, readAsId: 'prefix' } : found
}

function projectOf (labels: Record<string, string> | null | undefined): string | null {
  const project = labels?.[PROJECT_LABEL]
  return typeof project === 'string' && project !== '' ? project : null
}

function waitFor (ready: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    ready,
    new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('the ownership registry is still adopting existing objects (first start); try again shortly')), ms)
    })
  ]).finally(() => clearTimeout(timer))
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
