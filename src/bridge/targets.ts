// Which container a login means, and whether the user may enter it: the same policy core as the plugin socket,
// fed the exact exec request the bridge is about to send, so the answer here and the daemon's answer agree.

import type { Authorizer } from '../authz/authorizer.js'
import type { AuthZRequest, Identity } from '../core/types.js'
import type { DockerApi, ExecCreateBody } from '../docker/api.js'
import { DOCKER_API_PATH } from '../docker/http.js'
import type { Decision } from '../core/decision.js'
import type { PickerEntry } from './picker.js'
import { PROJECT_LABEL } from '../core/project-label.js'


export interface ContainerInfo {
  id: string
  name: string
  running: boolean
  status: string
  image: string
  project: string | null
}

export type ContainerLookup = { found: true, container: ContainerInfo } | { found: false }

interface InspectBody {
  Id: string
  Name: string
  State?: { Running?: boolean, Status?: string }
  Config?: { Image?: string, Labels?: Record<string, string> | null }
}

interface ListEntry {
  Id: string
  Names?: string[]
  Image?: string
  Status?: string
  State?: string
  Labels?: Record<string, string> | null
}

export class BridgeTargets {
  constructor (private readonly authorizer: Authorizer, private readonly docker: DockerApi) {}

  async find (ref: string): Promise<ContainerLookup> {
    const res = await this.docker.getJson(`/containers/${encodeURIComponent(ref)}/json`)
    if (res.status === 404) return { found: false }
    if (res.status !== 200) throw new Error(`the daemon answered ${res.status} to a container look-up`)
    const body = res.body as InspectBody
    return {
      found: true,
      container: {
        id: body.Id,
        name: body.Name.replace(/^\//, ''),
        running: body.State?.Running === true,
        status: body.State?.Status ?? 'unknown',
        image: body.Config?.Image ?? '',
        project: this.projectOf(body.Id, body.Config?.Labels)
      }
    }
  }

  /** The registry's project (a label proves nothing: builder containers carry their image's). */
  private projectOf (id: string, labels: Record<string, string> | null | undefined): string | null {
    const owned = this.authorizer.containerProject(id)
    return owned !== undefined ? owned : labels?.[PROJECT_LABEL] ?? null
  }

  /** The policy's answer for this identity creating this exec in this container; nothing is recorded. */
  async judge (identity: Identity, containerId: string, body: ExecCreateBody): Promise<Decision> {
    const { decision } = await this.authorizer.preview(identity, execCreateRequest(containerId, body))
    return decision
  }

  /** Running containers the identity may open this exec in, for the picker. */
  async enterable (identity: Identity, body: ExecCreateBody): Promise<PickerEntry[]> {
    const res = await this.docker.getJson('/containers/json')
    if (res.status !== 200 || !Array.isArray(res.body)) throw new Error(`the daemon answered ${res.status} to a container list`)
    const entries: PickerEntry[] = []
    await Promise.all((res.body as ListEntry[]).map(async (c) => {
      const decision = await this.judge(identity, c.Id, body)
      if (!decision.allow) return
      entries.push({
        project: this.projectOf(c.Id, c.Labels) ?? '(no project)',
        name: (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, ''),
        id: c.Id,
        image: c.Image ?? '',
        status: c.Status ?? c.State ?? ''
      })
    }))
    return entries
  }
}

/** The AuthZ request the daemon will send the plugin for this exec create. */
export function execCreateRequest (containerId: string, body: ExecCreateBody): AuthZRequest {
  return {
    RequestMethod: 'POST',
    RequestUri: `${DOCKER_API_PATH}/containers/${containerId}/exec`,
    RequestHeaders: { 'Content-Type': 'application/json' },
    RequestBody: Buffer.from(JSON.stringify(body)).toString('base64')
  }
}
