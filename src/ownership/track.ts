// Keeps the ownership registry in step with the daemon: a create portcullis allowed and the daemon answered
// 201 records the new object (before the AuthZRes reply, so the client cannot use the ID first); removes,
// prunes and the daemon's destroy events drop entries (volume names come back).

import type { Logger } from 'pino'
import type { AuthZRequest } from '../core/types.js'
import { parseJsonObject } from '../json-object.js'
import type { RequestFacts } from '../core/types.js'
import type { OwnedKind, OwnershipRegistry } from './registry.js'

const CREATES: Record<string, OwnedKind> = {
  'container.create': 'container',
  'network.create': 'network',
  'volume.create': 'volume'
}

/** What the daemon's answer to an allowed call changes in the registry. Never throws for a bad body. */
export async function trackResponse (registry: OwnershipRegistry, req: AuthZRequest, facts: RequestFacts, logger: Logger): Promise<void> {
  const status = req.ResponseStatusCode
  const action = facts.action
  if (action === null || typeof status !== 'number' || status >= 300) return
  const kind = CREATES[action]
  if (kind !== undefined) {
    if (status !== 201) return
    const body = decodeBody(req.ResponseBody)
    const id = kind === 'volume' ? body?.Name : body?.Id
    const project = facts.labelProject
    if (typeof id !== 'string' || id === '' || typeof project !== 'string' || project === '') {
      logger.warn({ action, uri: req.RequestUri }, 'a create was answered without an ID or project portcullis could read: the new object belongs to no project')
      return
    }
    await registry.record(kind, id, { project, via: 'create' })
    return
  }
  if (action === 'volume.remove' && facts.target !== undefined) {
    await registry.forget('volume', facts.target.ref)
    return
  }
  if (action === 'volume.prune' || action === 'container.prune') {
    const body = decodeBody(req.ResponseBody)
    const list = action === 'volume.prune' ? body?.VolumesDeleted : body?.ContainersDeleted
    if (!Array.isArray(list)) return
    for (const id of list) if (typeof id === 'string') await registry.forget(action === 'volume.prune' ? 'volume' : 'container', id)
  }
}

/** A destroy event from the daemon's feed: the object's ID (volumes: name) is gone. */
export async function trackEvent (registry: OwnershipRegistry, event: { Type?: unknown, Action?: unknown, Actor?: { ID?: unknown } }): Promise<void> {
  if (event.Action !== 'destroy' || typeof event.Actor?.ID !== 'string') return
  if (event.Type === 'container' || event.Type === 'network' || event.Type === 'volume') await registry.forget(event.Type, event.Actor.ID)
}

function decodeBody (body: string | null | undefined): Record<string, unknown> | null {
  if (typeof body !== 'string' || body === '') return null
  return parseJsonObject(Buffer.from(body, 'base64').toString('utf8'))
}
