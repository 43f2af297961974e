// What makes an existing object reach the host, read from the daemon's inspect answer. Whoever enters such an
// object (exec, archive, commit, export, attach, --volumes-from, mounting the volume, joining the network) gets
// the same reach, so the policy judges those calls like a create that asks for it.

import type { Escape } from '../core/types.js'
import { bindLikeOptions, hostConfigEscapes, unique } from '../request/escapes.js'
import type { HostConfigBody, StringMap } from '../request/docker-types.js'

/** What the daemon fills in for every unprivileged container (oci.DefaultSpec, moby 20.10). */
const DEFAULT_MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'
]
const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']

/** Network drivers that put a network straight onto the host's interfaces (as escapes.ts judges creates). */
const HOST_NETWORK_DRIVERS = new Set(['macvlan', 'ipvlan', 'host'])

/** A mount point as `GET /containers/{id}/json` lists it (its own mounts and those taken with --volumes-from). */
interface InspectedMount {
  Type?: string
  Name?: string
  Source?: string
  Destination?: string
}

/**
 * The reach of a container's own HostConfig and of its mount points. Volume mounts are returned for the caller to
 * look up (a volume's driver options are not in the container's inspect answer).
 */
export function containerReach (hostConfig: unknown, mounts: unknown): { reach: Escape[], volumes: string[] } {
  const reach: Escape[] = []
  if (hostConfig !== null && typeof hostConfig === 'object') {
    const hc = hostConfig as HostConfigBody
    for (const found of hostConfigEscapes(hc)) {
      // The daemon fills these in for every container: only a list without the defaults is an escape.
      if (found.setting === 'masked-paths' && coversDefaults(hc.MaskedPaths, DEFAULT_MASKED_PATHS)) continue
      if (found.setting === 'readonly-paths' && coversDefaults(hc.ReadonlyPaths, DEFAULT_READONLY_PATHS)) continue
      // On cgroup v1 hosts the daemon's default cgroupns mode is `host` for every container: nothing to inherit.
      if (found.setting === 'cgroup-namespace') continue
      reach.push(found)
    }
  }
  const volumes: string[] = []
  for (const mount of Array.isArray(mounts) ? mounts as InspectedMount[] : []) {
    const type = mount?.Type ?? ''
    if (type === 'volume') {
      if (typeof mount.Name === 'string' && mount.Name !== '') volumes.push(mount.Name)
    } else if (type !== 'tmpfs') {
      reach.push({ setting: 'bind-mount', detail: `mount ${type} ${mount.Source ?? ''} -> ${mount.Destination ?? ''}` })
    }
  }
  return { reach: unique(reach), volumes }
}

export function volumeReach (options: unknown): Escape[] {
  const reason = options !== null && typeof options === 'object' ? bindLikeOptions(options as StringMap) : null
  return reason === null ? [] : [{ setting: 'bind-like-volume', detail: `driver options ${reason}` }]
}

export function networkReach (driver: unknown): Escape[] {
  const name = typeof driver === 'string' ? driver.trim().toLowerCase() : ''
  return HOST_NETWORK_DRIVERS.has(name) ? [{ setting: 'host-network-driver', detail: `driver ${String(driver)}` }] : []
}

function coversDefaults (list: string[] | null | undefined, defaults: readonly string[]): boolean {
  return Array.isArray(list) && defaults.every((path) => list.includes(path))
}
