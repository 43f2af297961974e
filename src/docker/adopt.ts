// The first start of a portcullis that keeps an ownership registry: objects made before it have only their
// label to say whose they are. Adopt those labels once (a marker in the store says it happened, an audit record
// lists what was adopted), except a container whose label equals its image's label for that key: the daemon
// copies image labels into containers (classic builder RUN steps included), so that label may be inherited,
// and such a container stays unowned (global roles only).

import type { Logger } from 'pino'
import type { AuditStore } from '../audit/store.js'
import type { DockerApi } from './api.js'
import { PROJECT_LABEL } from '../core/project-label.js'
import type { OwnedKind, OwnershipRegistry } from '../ownership/registry.js'

/** How many names of each kind the adoption record lists (the counts are always complete). */
const LISTED_MAX = 500

type Labels = Record<string, string> | null | undefined

export interface ExistingContainer { id: string, name: string, project: string | null, imageProject: string | null }

/** Pure: which existing containers to adopt and which to leave unowned because the label may be the image's. */
export function containersToAdopt (containers: readonly ExistingContainer[]): { adopt: ExistingContainer[], inherited: ExistingContainer[] } {
  const adopt: ExistingContainer[] = []
  const inherited: ExistingContainer[] = []
  for (const c of containers) {
    if (c.project === null) continue
    if (c.imageProject === c.project) inherited.push(c)
    else adopt.push(c)
  }
  return { adopt, inherited }
}

async function adoptExisting (registry: OwnershipRegistry, docker: DockerApi, audit: AuditStore, logger: Logger): Promise<void> {
  if (registry.adopted) return
  const containers = await list<{ Id?: string, Names?: string[], ImageID?: string, Labels?: Labels }>(docker, '/containers/json?all=1')
  const imageProjects = new Map<string, string | null>()
  const existing: ExistingContainer[] = []
  for (const c of containers) {
    if (typeof c.Id !== 'string') continue
    const project = projectOf(c.Labels)
    let imageProject: string | null = null
    if (project !== null && typeof c.ImageID === 'string') {
      if (!imageProjects.has(c.ImageID)) imageProjects.set(c.ImageID, await imageProjectOf(docker, c.ImageID))
      imageProject = imageProjects.get(c.ImageID) ?? null
    }
    existing.push({ id: c.Id, name: (c.Names?.[0] ?? '').replace(/^\//, ''), project, imageProject })
  }
  const { adopt, inherited } = containersToAdopt(existing)
  const adopted: Record<OwnedKind, string[]> = { container: [], network: [], volume: [] }
  for (const c of adopt) {
    if (await registry.record('container', c.id, { project: c.project!, via: 'adopted' })) adopted.container.push(`${c.name || c.id.slice(0, 12)}=${c.project!}`)
  }
  for (const n of await list<{ Id?: string, Name?: string, Labels?: Labels }>(docker, '/networks')) {
    const project = projectOf(n.Labels)
    if (project === null || typeof n.Id !== 'string') continue
    if (await registry.record('network', n.Id, { project, via: 'adopted' })) adopted.network.push(`${n.Name ?? n.Id.slice(0, 12)}=${project}`)
  }
  const volumes = await getJson(docker, '/volumes') as { Volumes?: Array<{ Name?: string, Labels?: Labels, CreatedAt?: string }> | null }
  for (const v of volumes.Volumes ?? []) {
    const project = projectOf(v.Labels)
    if (project === null || typeof v.Name !== 'string') continue
    if (await registry.record('volume', v.Name, { project, via: 'adopted' })) adopted.volume.push(`${v.Name}=${project}`)
  }
  const count = adopted.container.length + adopted.network.length + adopted.volume.length
  await audit.append({
    kind: 'system',
    action: 'ownership.adopt',
    reason: `first start with an ownership registry: adopted the ${PROJECT_LABEL} label of ${count} existing objects; ` +
      `${inherited.length} containers whose label equals their image's stay unowned (global roles only)`,
    fields: {
      containers: adopted.container.slice(0, LISTED_MAX),
      networks: adopted.network.slice(0, LISTED_MAX),
      volumes: adopted.volume.slice(0, LISTED_MAX),
      inheritedLabel: inherited.slice(0, LISTED_MAX).map((c) => `${c.name || c.id.slice(0, 12)}=${c.project!}`),
      counts: { containers: adopted.container.length, networks: adopted.network.length, volumes: adopted.volume.length, inheritedLabel: inherited.length }
    }
  })
  await registry.markAdopted()
  logger.info({ adopted: count, inherited: inherited.length }, 'adopted the project labels of existing objects')
}

/** Drops the entries of objects removed while portcullis was not running (or not following the event feed). */
export async function reconcile (registry: OwnershipRegistry, docker: DockerApi, logger: Logger): Promise<void> {
  const recorded = { container: registry.idsOf('container'), network: registry.idsOf('network'), volume: registry.idsOf('volume') }
  const containers = new Set((await list<{ Id?: string }>(docker, '/containers/json?all=1')).map((c) => c.Id ?? ''))
  const networks = new Set((await list<{ Id?: string }>(docker, '/networks')).map((n) => n.Id ?? ''))
  const volumes = new Set(((await getJson(docker, '/volumes') as { Volumes?: Array<{ Name?: string }> | null }).Volumes ?? []).map((v) => v.Name ?? ''))
  const dropped = await registry.keepOnly('container', recorded.container, containers) +
    await registry.keepOnly('network', recorded.network, networks) +
    await registry.keepOnly('volume', recorded.volume, volumes)
  if (dropped > 0) logger.info({ dropped }, 'dropped the ownership of objects removed while portcullis was not watching')
}

/** Adopts at the first start (then, every start, drops what was removed meanwhile), trying until the daemon answers (portcullis may start before dockerd). */
export class Adoption {
  private current: Promise<void> | null = null
  private done = false
  private stopped = false
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly registry: OwnershipRegistry, private readonly docker: DockerApi, private readonly audit: AuditStore, private readonly logger: Logger) {}

  /**
   * The attempt under way, if any: look-ups wait for it. A look-up between two retries starts one at once: the
   * daemon is asking about an object, so it is up now, and waiting for the next retry would judge the object
   * before its label was adopted.
   */
  get inFlight (): Promise<void> | null {
    if (this.done) return null
    if (this.current === null && !this.stopped) {
      clearTimeout(this.timer)
      this.start()
    }
    return this.current
  }

  start (delay = 250): void {
    if (this.done || this.stopped) return
    // Adoption and the reconcile after it succeed or are retried together: a reconcile that fails (the daemon not up
    // yet, on a host whose objects were adopted in an earlier run) must be retried, not left as an unhandled rejection
    // that ends the process.
    const attempt = async (): Promise<void> => {
      await adoptExisting(this.registry, this.docker, this.audit, this.logger)
      await reconcile(this.registry, this.docker, this.logger)
    }
    this.current = attempt().then(() => {
      this.done = true
      this.current = null
    }, (err: unknown) => {
      this.current = null
      this.logger.debug({ err: (err as Error).message }, 'adopting existing objects: the daemon did not answer; retrying')
      const next = Math.min(delay * 2, 5000)
      this.timer = setTimeout(() => this.start(next), next)
      this.timer.unref()
    })
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
  }
}

async function imageProjectOf (docker: DockerApi, imageId: string): Promise<string | null> {
  const res = await docker.getJson(`/images/${encodeURIComponent(imageId)}/json`)
  if (res.status === 404) return null
  if (res.status !== 200) throw new Error(`image ${imageId}: status ${res.status}`)
  return projectOf((res.body as { Config?: { Labels?: Labels } }).Config?.Labels)
}

async function list<T> (docker: DockerApi, path: string): Promise<T[]> {
  const body = await getJson(docker, path)
  if (!Array.isArray(body)) throw new Error(`${path}: not a list`)
  return body as T[]
}

async function getJson (docker: DockerApi, path: string): Promise<unknown> {
  const res = await docker.getJson(path)
  if (res.status !== 200) throw new Error(`${path}: status ${res.status}`)
  return res.body
}

function projectOf (labels: Labels): string | null {
  const project = labels?.[PROJECT_LABEL]
  return typeof project === 'string' && project !== '' ? project : null
}
