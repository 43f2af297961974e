// Finds settings that reach outside the container onto the host. Setting names are stable: policies
// and audit queries use them. Comparisons are looser than the daemon's (case, spaces) on purpose:
// a spelling the daemon rejects anyway may be denied, a spelling it accepts must never slip through.

import type { Escape } from '../core/types.js'
import type {
  ContainerCreateBody, ExecCreateBody, HostConfigBody, MountBody, NetworkCreateBody, ResourcesBody, StringMap,
  VolumeCreateBody
} from './docker-types.js'
import { bindSource, isHostMode, isHostPath, modeContainer } from './docker-specs.js'

/** Every setting name this module reports. */
export const ESCAPE_SETTINGS = [
  'privileged', 'cap-add', 'capabilities',
  'network-namespace', 'pid-namespace', 'ipc-namespace', 'uts-namespace', 'user-namespace', 'cgroup-namespace', 'cgroup',
  'bind-mount', 'bind-like-volume', 'devices', 'device-cgroup-rules', 'device-requests',
  'security-opt', 'masked-paths', 'readonly-paths', 'sysctls', 'cgroup-parent', 'host-network-driver'
] as const

const MAX_DETAIL = 200

function escape (setting: string, detail: string): Escape {
  return { setting, detail: detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail }
}

function nonEmpty<T> (list: T[] | null | undefined): list is T[] {
  return list !== null && list !== undefined && list.length > 0
}

/** Escapes in a container create body: host settings at the top level and under HostConfig both count. */
export function containerCreateEscapes (body: ContainerCreateBody): Escape[] {
  const found = hostConfigEscapes(body)
  if (body.HostConfig !== null && body.HostConfig !== undefined) found.push(...hostConfigEscapes(body.HostConfig))
  for (const name of Object.keys(body.NetworkingConfig?.EndpointsConfig ?? {})) {
    if (isHostMode(name)) found.push(escape('network-namespace', `NetworkingConfig.EndpointsConfig: ${name}`))
  }
  return unique(found)
}

export function hostConfigEscapes (hc: HostConfigBody): Escape[] {
  const found: Escape[] = []
  if (hc.Privileged === true) found.push(escape('privileged', 'Privileged: true'))
  if (nonEmpty(hc.CapAdd)) found.push(escape('cap-add', `CapAdd: ${hc.CapAdd.join(', ')}`))
  const capabilities = hc.Capabilities
  if ((Array.isArray(capabilities) && capabilities.length > 0) || (typeof capabilities === 'string' && capabilities !== '')) {
    found.push(escape('capabilities', `Capabilities: ${JSON.stringify(capabilities)}`))
  }

  namespace(found, 'network-namespace', 'NetworkMode', hc.NetworkMode, true)
  namespace(found, 'pid-namespace', 'PidMode', hc.PidMode, true)
  namespace(found, 'ipc-namespace', 'IpcMode', hc.IpcMode, true)
  namespace(found, 'uts-namespace', 'UTSMode', hc.UTSMode, false)
  namespace(found, 'user-namespace', 'UsernsMode', hc.UsernsMode, false)
  namespace(found, 'cgroup-namespace', 'CgroupnsMode', hc.CgroupnsMode, false)
  if (hc.Cgroup !== undefined && hc.Cgroup !== '') found.push(escape('cgroup', `Cgroup: ${hc.Cgroup}`))

  for (const bind of hc.Binds ?? []) {
    const source = bindSource(bind)
    if (source !== null && isHostPath(source)) found.push(escape('bind-mount', `Binds: ${bind}`))
  }
  for (const mount of hc.Mounts ?? []) {
    const issue = mountEscape(mount)
    if (issue !== null) found.push(issue)
  }

  found.push(...resourcesEscapes(hc))

  for (const opt of hc.SecurityOpt ?? []) {
    if (!turnsOnNoNewPrivileges(opt)) found.push(escape('security-opt', `SecurityOpt: ${opt}`))
  }
  // Any non-nil list, even [], replaces the daemon's defaults that hide /proc/kcore, /sys/firmware...
  if (hc.MaskedPaths !== null && hc.MaskedPaths !== undefined) {
    found.push(escape('masked-paths', `MaskedPaths: ${JSON.stringify(hc.MaskedPaths)} replaces the default masked paths`))
  }
  if (hc.ReadonlyPaths !== null && hc.ReadonlyPaths !== undefined) {
    found.push(escape('readonly-paths', `ReadonlyPaths: ${JSON.stringify(hc.ReadonlyPaths)} replaces the default read-only paths`))
  }
  const sysctls = Object.keys(hc.Sysctls ?? {})
  if (sysctls.length > 0) found.push(escape('sysctls', `Sysctls: ${sysctls.join(', ')}`))
  return found
}

/** Host-reaching resources (also what a container update may change). */
function resourcesEscapes (r: ResourcesBody): Escape[] {
  const found: Escape[] = []
  if (nonEmpty(r.Devices)) {
    found.push(escape('devices', `Devices: ${r.Devices.map((d) => d.PathOnHost ?? '').join(', ')}`))
  }
  if (nonEmpty(r.DeviceCgroupRules)) {
    found.push(escape('device-cgroup-rules', `DeviceCgroupRules: ${r.DeviceCgroupRules.join(', ')}`))
  }
  if (nonEmpty(r.DeviceRequests)) {
    const drivers = r.DeviceRequests.map((d) => d.Driver === undefined || d.Driver === '' ? '(default driver)' : d.Driver)
    found.push(escape('device-requests', `DeviceRequests: ${drivers.join(', ')}`))
  }
  if (r.CgroupParent !== undefined && r.CgroupParent !== '') {
    found.push(escape('cgroup-parent', `CgroupParent: ${r.CgroupParent}`))
  }
  return found
}

export function containerUpdateEscapes (body: ResourcesBody): Escape[] {
  return unique(resourcesEscapes(body))
}

export function execCreateEscapes (body: ExecCreateBody): Escape[] {
  return body.Privileged === true ? [escape('privileged', 'exec Privileged: true')] : []
}

/** Network drivers that put the network straight onto the host's interfaces. */
const HOST_NETWORK_DRIVERS = new Set(['macvlan', 'ipvlan', 'host'])

export function networkCreateEscapes (body: NetworkCreateBody): Escape[] {
  const driver = (body.Driver ?? '').trim().toLowerCase()
  return HOST_NETWORK_DRIVERS.has(driver) ? [escape('host-network-driver', `Driver: ${body.Driver ?? ''}`)] : []
}

export function volumeCreateEscapes (body: VolumeCreateBody): Escape[] {
  const reason = bindLikeOptions(body.DriverOpts)
  return reason === null ? [] : [escape('bind-like-volume', `DriverOpts: ${reason}`)]
}

function namespace (found: Escape[], setting: string, field: string, mode: string | undefined, containerToo: boolean): void {
  if (isHostMode(mode) || (containerToo && modeContainer(mode) !== null)) {
    found.push(escape(setting, `${field}: ${mode ?? ''}`))
  }
}

function mountEscape (mount: MountBody): Escape | null {
  const type = (mount.Type ?? '').trim().toLowerCase()
  const source = mount.Source ?? ''
  const target = mount.Target ?? ''
  switch (type) {
    case 'bind':
    case 'npipe':
      return escape('bind-mount', `Mounts: ${mount.Type ?? ''} ${source} -> ${target}`)
    case 'volume': {
      if (source !== '' && isHostPath(source)) return escape('bind-mount', `Mounts: volume ${source} -> ${target}`)
      const reason = bindLikeOptions(mount.VolumeOptions?.DriverConfig?.Options)
      if (reason === null) return null
      return escape('bind-like-volume', `Mounts: volume ${source === '' ? '(anonymous)' : source} -> ${target} with ${reason}`)
    }
    case 'tmpfs':
      return null
    default:
      // The daemon rejects other types; deny rather than guess what a future type reaches.
      return escape('bind-mount', `Mounts: unsupported type "${mount.Type ?? ''}" for ${target}`)
  }
}

/**
 * Volume driver options that make the local driver mount a host path or device instead of an
 * empty directory (`docker volume create -o type=none -o o=bind -o device=/etc`). Returns what
 * was found, or null. The value of `o` is not repeated: it may carry credentials.
 */
export function bindLikeOptions (options: StringMap | null | undefined): string | null {
  if (options === null || options === undefined) return null
  const types: string[] = []
  const devices: string[] = []
  let bindInO = false
  for (const [key, value] of Object.entries(options)) {
    const name = key.trim().toLowerCase()
    if (name === 'type') types.push(value)
    else if (name === 'device') devices.push(value)
    else if (name === 'o' && /bind/i.test(value)) bindInO = true
  }
  const reasons: string[] = []
  for (const type of types) {
    if (['none', 'bind', 'rbind'].includes(type.trim().toLowerCase())) reasons.push(`type=${type}`)
  }
  if (bindInO) reasons.push('o containing bind')
  // A tmpfs mount ignores its device (it is only a label), so `type=tmpfs device=tmpfs` stays allowed.
  const onlyTmpfs = types.length > 0 && types.every((type) => type === 'tmpfs')
  for (const device of devices) {
    if (device !== '' && !onlyTmpfs) reasons.push(`device=${device}`)
  }
  return reasons.length === 0 ? null : reasons.join(', ')
}

const TRUE_STRINGS = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']) // Go's strconv.ParseBool

/** Whether a SecurityOpt entry only turns no-new-privileges on (daemon parseSecurityOpt). */
export function turnsOnNoNewPrivileges (opt: string): boolean {
  if (opt === 'no-new-privileges') return true
  const separator = opt.includes('=') ? '=' : opt.includes(':') ? ':' : null
  if (separator === null) return false
  const at = opt.indexOf(separator)
  return opt.slice(0, at) === 'no-new-privileges' && TRUE_STRINGS.has(opt.slice(at + 1))
}

/** Each setting and detail once. */
export function unique (escapes: Escape[]): Escape[] {
  const seen = new Set<string>()
  return escapes.filter((e) => {
    const key = `${e.setting}\u0000${e.detail}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}
