// Finds the other existing objects a request names, so the resolver can check they belong to the
// caller's project: containers whose namespaces, links or volumes are borrowed, networks joined,
// named volumes mounted.

import type { ResourceKind, ResourceRef } from '../core/types.js'
import type {
  ContainerCreateBody, EndpointSettingsBody, HostConfigBody, NetworkConnectBody, NetworkCreateBody,
  NetworkDisconnectBody
} from './docker-types.js'
import {
  bindSource, isHostPath, isUserNetwork, linkTarget, modeContainer, modeNetwork, volumesFromTarget
} from './docker-specs.js'

class References {
  readonly list: ResourceRef[] = []
  private readonly seen = new Set<string>()

  add (kind: ResourceKind, ref: string | null | undefined): void {
    if (ref === null || ref === undefined || ref === '') return
    const key = `${kind}\u0000${ref}`
    if (this.seen.has(key)) return
    this.seen.add(key)
    this.list.push({ kind, ref })
  }
}

export function containerCreateReferences (body: ContainerCreateBody): ResourceRef[] {
  const refs = new References()
  hostConfigReferences(refs, body)
  if (body.HostConfig !== null && body.HostConfig !== undefined) hostConfigReferences(refs, body.HostConfig)
  const endpoints = body.NetworkingConfig?.EndpointsConfig ?? {}
  for (const [network, settings] of Object.entries(endpoints)) {
    if (isUserNetwork(network)) refs.add('network', network)
    endpointReferences(refs, settings)
  }
  return refs.list
}

function hostConfigReferences (refs: References, hc: HostConfigBody): void {
  refs.add('container', modeContainer(hc.NetworkMode))
  refs.add('container', modeContainer(hc.PidMode))
  refs.add('container', modeContainer(hc.IpcMode))
  refs.add('container', modeContainer(hc.Cgroup))
  refs.add('network', modeNetwork(hc.NetworkMode))
  for (const link of hc.Links ?? []) refs.add('container', linkTarget(link))
  for (const entry of hc.VolumesFrom ?? []) refs.add('container', volumesFromTarget(entry))
  for (const bind of hc.Binds ?? []) {
    const source = bindSource(bind)
    if (source !== null && !isHostPath(source)) refs.add('volume', source)
  }
  for (const mount of hc.Mounts ?? []) {
    const source = mount.Source ?? ''
    if ((mount.Type ?? '').trim().toLowerCase() === 'volume' && !isHostPath(source)) refs.add('volume', source)
  }
}

/**
 * Endpoint settings name containers through Links, and a network through NetworkID, which the
 * daemon prefers over the network name it is filed under (daemon getNetworkID).
 */
function endpointReferences (refs: References, settings: EndpointSettingsBody | null | undefined): void {
  if (settings === null || settings === undefined) return
  refs.add('network', settings.NetworkID)
  for (const link of settings.Links ?? []) refs.add('container', linkTarget(link))
}

export function networkConnectReferences (body: NetworkConnectBody): ResourceRef[] {
  const refs = new References()
  refs.add('container', body.Container)
  endpointReferences(refs, body.EndpointConfig)
  return refs.list
}

export function networkDisconnectReferences (body: NetworkDisconnectBody): ResourceRef[] {
  const refs = new References()
  refs.add('container', body.Container)
  return refs.list
}

export function networkCreateReferences (body: NetworkCreateBody): ResourceRef[] {
  const refs = new References()
  refs.add('network', body.ConfigFrom?.Network)
  return refs.list
}
