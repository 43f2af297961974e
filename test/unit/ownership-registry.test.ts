// The ownership registry: an object's project comes from a create portcullis allowed, kept across restarts,
// dropped when the object goes; and the first start's adoption leaves label-inherited containers unowned.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { AuthZRequest } from '../../src/core/types.js'
import { readRequest } from '../../src/authz/read-request.js'
import { containersToAdopt } from '../../src/docker/adopt.js'
import { OwnershipRegistry } from '../../src/ownership/registry.js'
import { trackEvent, trackResponse } from '../../src/ownership/track.js'
import { tempStores } from '../helpers/temp-stores.js'

const stores = tempStores('portcullis-owners-')
const logger = pino({ level: 'silent' })
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64')
const ID = 'a'.repeat(64)

function response (method: string, uri: string, body: unknown, status: number, responseBody: unknown): AuthZRequest {
  return {
    RequestMethod: method,
    RequestUri: uri,
    // As dockerd shows a request: a JSON body with its type and length, no body with neither.
    RequestHeaders: body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.from(JSON.stringify(body)).length) },
    RequestBody: body === undefined ? null : b64(body),
    ResponseStatusCode: status,
    ResponseBody: responseBody === undefined ? null : b64(responseBody)
  }
}

async function track (registry: OwnershipRegistry, req: AuthZRequest): Promise<void> {
  await trackResponse(registry, req, readRequest(req), logger)
}

describe('the ownership registry', () => {
  it('records the project of a create the daemon answered 201, from the request body portcullis judged', async () => {
    const store = await stores.openStore()
    const registry = await OwnershipRegistry.open(store.keySpace('ownership'), logger)
    await track(registry, response('POST', '/v1.41/containers/create', { Image: 'x', Labels: { 'portcullis.project': 'pay' } }, 201, { Id: ID, Warnings: [] }))
    await track(registry, response('POST', '/v1.41/networks/create', { Name: 'n', Labels: { 'portcullis.project': 'web' } }, 201, { Id: 'b'.repeat(64) }))
    await track(registry, response('POST', '/v1.41/volumes/create', { Name: 'v', Labels: { 'portcullis.project': 'pay' } }, 201, { Name: 'v', CreatedAt: '2026-01-01T00:00:00Z' }))
    expect(registry.get('container', ID)).toEqual({ project: 'pay', via: 'create' })
    expect(registry.get('network', 'b'.repeat(64))).toMatchObject({ project: 'web' })
    expect(registry.get('volume', 'v')).toEqual({ project: 'pay', via: 'create' })
  })

  it('records nothing for a failed create, or one whose answer has no ID', async () => {
    const store = await stores.openStore()
    const registry = await OwnershipRegistry.open(store.keySpace('ownership'), logger)
    await track(registry, response('POST', '/v1.41/containers/create', { Image: 'x', Labels: { 'portcullis.project': 'pay' } }, 409, { message: 'conflict' }))
    await track(registry, response('POST', '/v1.41/containers/create', { Image: 'x', Labels: { 'portcullis.project': 'pay' } }, 201, 'garbage'))
    expect(registry.size).toBe(0)
  })

  it('survives a restart, and drops removed volumes, pruned objects and destroyed ones', async () => {
    const dir = stores.freshDir()
    let store = await stores.openStore(dir)
    let registry = await OwnershipRegistry.open(store.keySpace('ownership'), logger)
    await track(registry, response('POST', '/v1.41/volumes/create', { Name: 'v1', Labels: { 'portcullis.project': 'pay' } }, 201, { Name: 'v1' }))
    await track(registry, response('POST', '/v1.41/volumes/create', { Name: 'v2', Labels: { 'portcullis.project': 'pay' } }, 201, { Name: 'v2' }))
    await track(registry, response('POST', '/v1.41/containers/create', { Image: 'x', Labels: { 'portcullis.project': 'pay' } }, 201, { Id: ID }))
    await store.close()
    store = await stores.openStore(dir)
    registry = await OwnershipRegistry.open(store.keySpace('ownership'), logger)
    expect(registry.size).toBe(3)
    await track(registry, response('DELETE', '/v1.41/volumes/v1', undefined, 204, undefined))
    expect(registry.get('volume', 'v1')).toBeUndefined()
    await track(registry, response('POST', '/v1.41/volumes/prune', undefined, 200, { VolumesDeleted: ['v2'], SpaceReclaimed: 0 }))
    expect(registry.get('volume', 'v2')).toBeUndefined()
    await trackEvent(registry, { Type: 'container', Action: 'destroy', Actor: { ID } })
    expect(registry.size).toBe(0)
  })

  it('is bounded: a full registry records nothing more (the object belongs to no project)', async () => {
    const store = await stores.openStore()
    const registry = await OwnershipRegistry.open(store.keySpace('ownership'), logger, 1)
    expect(await registry.record('volume', 'a', { project: 'p', via: 'create' })).toBe(true)
    expect(await registry.record('volume', 'b', { project: 'p', via: 'create' })).toBe(false)
    expect(registry.get('volume', 'b')).toBeUndefined()
  })

  it('reconciling drops only entries recorded before the daemon was asked', async () => {
    const store = await stores.openStore()
    const registry = await OwnershipRegistry.open(store.keySpace('ownership'), logger)
    await registry.record('volume', 'gone', { project: 'p', via: 'create' })
    await registry.record('volume', 'kept', { project: 'p', via: 'create' })
    const before = registry.idsOf('volume')
    await registry.record('volume', 'new', { project: 'p', via: 'create' })
    expect(await registry.keepOnly('volume', before, new Set(['kept']))).toBe(1)
    expect(registry.idsOf('volume').sort()).toEqual(['kept', 'new'])
  })

  it('adopts at most once: the marker survives a restart', async () => {
    const dir = stores.freshDir()
    let store = await stores.openStore(dir)
    let registry = await OwnershipRegistry.open(store.keySpace('ownership'), logger)
    expect(registry.adopted).toBe(false)
    await registry.markAdopted()
    await store.close()
    store = await stores.openStore(dir)
    registry = await OwnershipRegistry.open(store.keySpace('ownership'), logger)
    expect(registry.adopted).toBe(true)
  })
})

describe('adopting existing containers', () => {
  it('adopts a container\'s own label, never one equal to its image\'s (it may be inherited)', () => {
    const { adopt, inherited } = containersToAdopt([
      { id: '1', name: 'own', project: 'pay', imageProject: null },
      { id: '2', name: 'builder', project: 'pay', imageProject: 'pay' },
      { id: '3', name: 'relabelled', project: 'pay', imageProject: 'web' },
      { id: '4', name: 'none', project: null, imageProject: 'web' }
    ])
    expect(adopt.map((c) => c.name)).toEqual(['own', 'relabelled'])
    expect(inherited.map((c) => c.name)).toEqual(['builder'])
  })
})
