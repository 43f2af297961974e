// The allowlist walk: one pass over a Go-decoded body, guided by its field table (src/request/fields), that
// finds every field set to something its rule does not allow outright: `unsafe` fields off their default,
// what project grants may allow (ports, log drivers, subnets), and keys no table knows with a non-zero value.

import type { Escape, GrantNeeds } from '../core/types.js'
import type { UnknownKey } from './godecode.js'
import { JsonNumber, JsonObject, type JsonValue } from './gojson.js'
import { bindLikeOptions } from './escapes.js'
import type { FieldSpec, FieldTable } from './fields/table.js'
import { parseCidr, cidrContains, parseIp } from '../core/cidr.js'

/** Every escape setting the allowlists report (besides those of escapes.ts), for policies, audit queries and the docs. */
export const ALLOWLIST_SETTINGS = {
  'unsafe-field': 'a body field marked `unsafe` is set off its default (the detail names the field and value)',
  'volume-driver': 'a volume plugin instead of the local driver (VolumeDriver, volume create Driver, a mount\'s DriverConfig.Name)',
  'volume-driver-opts': 'local volume options other than a tmpfs (nfs, cifs…: the daemon mounts from the host network)',
  'host-gateway': 'an extra host entry pointing at `host-gateway`, the host itself (container create, build `extrahosts`)',
  'log-options': 'log options the default json-file/local driver does not take, with no driver named',
  'ipam-config': 'an address range, gateway or auxiliary address outside its subnet, or without a subnet',
  'ipam-driver': 'an IPAM plugin instead of the default',
  'ipam-options': 'IPAM driver options',
  'network-driver': 'a network plugin instead of bridge/overlay',
  'network-driver-options': 'network driver options (bridge name, host binding address, …)',
  'endpoint-driver-opts': 'endpoint driver options on create or connect',
  'ingress-network': 'a swarm ingress (routing mesh) network',
  'secret-driver': 'a secret plugin',
  'templating-driver': 'a secret/config templating plugin',
  checkpoint: 'start from a CRIU checkpoint',
  'build-remote': 'build from a URL or git repository the daemon fetches',
  'build-extra-hosts': 'build `extrahosts`: the layer cache would hand a step resolved against chosen hosts to every project\'s identical step',
  'build-output': 'a BuildKit exporter other than moby, local, tar or cacheonly, or an `outputs` value portcullis cannot read',
  'build-query': 'a build `cachefrom` or `buildargs` value portcullis cannot read (it names images the daemon fetches)',
  isolation: 'build isolation other than the default',
  'cgroup-parent': 'build containers\' host cgroup (as for containers)',
  'security-opt': 'build security options (as for containers)'
} as const

export interface AllowlistFindings {
  escapes: Escape[]
  unknownFields: string[]
  needs: GrantNeeds
}

/** Log drivers that write only to the daemon's own files (or nowhere). */
const HARMLESS_LOG_DRIVERS: ReadonlySet<string> = new Set(['json-file', 'local', 'none'])
/** Options json-file and local take: the only ones allowed when Type is empty (the daemon's default driver). */
const DEFAULT_DRIVER_OPTIONS = new Set(['max-size', 'max-file', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag', 'mode', 'max-buffer-size'])
/** docker-proxy's random host ports come from Linux's default ip_local_port_range. */
const EPHEMERAL_PORTS = { from: 32768, to: 60999 } as const
const HARMLESS_NETWORK_DRIVERS = new Set(['', 'bridge', 'overlay'])
const HOST_NETWORK_DRIVERS = new Set(['macvlan', 'ipvlan', 'host'])
const MAX_DETAIL = 200

function emptyNeeds (): GrantNeeds {
  return { ports: [], logDrivers: [], subnets: [] }
}

/** A body may repeat a field thousands of times: messages and records keep this many of each kind, then count. */
export const MAX_LISTED = 20

/** Judges a decoded body against its table, and the keys the decoder found no field for. */
export function judgeBody (table: FieldTable, decoded: Record<string, unknown>, unknown: readonly UnknownKey[]): AllowlistFindings {
  const out: AllowlistFindings = { escapes: [], unknownFields: [], needs: emptyNeeds() }
  walk(table, decoded, '', out)
  let unknownCount = 0
  for (const key of unknown) {
    if (isZeroJson(key.value)) continue
    if (++unknownCount <= MAX_LISTED) out.unknownFields.push(key.path)
  }
  if (unknownCount > MAX_LISTED) out.unknownFields.push(`…and ${unknownCount - MAX_LISTED} more`)
  if (out.escapes.length > MAX_LISTED) {
    const more = out.escapes.length - MAX_LISTED
    out.escapes.length = MAX_LISTED
    out.escapes.push({ setting: out.escapes[MAX_LISTED - 1]!.setting, detail: `…and ${more} more` })
  }
  return out
}

function walk (table: FieldTable, record: Record<string, unknown>, prefix: string, out: AllowlistFindings): void {
  for (const name in record) {
    const spec = table.fields.get(name)
    const value = record[name]
    if (spec === undefined || value === undefined || value === null) continue
    const path = prefix === '' ? name : `${prefix}.${name}`
    judgeField(spec, value, path, out)
    if (spec.table === undefined) continue
    const sub = spec.table
    switch (spec.shape) {
      case 'pointer': case 'struct':
        walk(sub, value as Record<string, unknown>, path, out)
        break
      case 'slice':
        (value as unknown[]).forEach((item, i) => { if (item !== null) walk(sub, item as Record<string, unknown>, `${path}[${i}]`, out) })
        break
      case 'map-pointer': case 'map-struct':
        for (const key in value as Record<string, unknown>) {
          const item = (value as Record<string, unknown>)[key]
          if (item !== null && item !== undefined) walk(sub, item as Record<string, unknown>, `${path}[${JSON.stringify(key)}]`, out)
        }
        break
      case 'map-slice':
        for (const key in value as Record<string, unknown>) {
          const list = (value as Record<string, unknown[] | null>)[key] ?? []
          list.forEach((item, i) => { if (item !== null) walk(sub, item as Record<string, unknown>, `${path}[${JSON.stringify(key)}][${i}]`, out) })
        }
        break
    }
  }
}

function judgeField (spec: FieldSpec, value: unknown, path: string, out: AllowlistFindings): void {
  switch (spec.rule) {
    case 'unsafe':
      if (!isZero(value) && !(spec.defaults ?? []).includes(value)) unsafeField(out, spec.setting ?? 'unsafe-field', path, value)
      return
    case 'grant-ports':
      if (value === true) {
        out.needs.ports.push({ hostIp: '', ...EPHEMERAL_PORTS, field: `${path}: every exposed port` })
      } else if (spec.table !== undefined) {
        portBindings(value as Record<string, Array<{ HostIp?: string, HostPort?: string } | null> | null>, path, out)
      }
      return
    case 'grant-log-driver':
      if (spec.table !== undefined) logConfig(value as { Type?: string, Config?: Record<string, string> | null }, path, out)
      return
    case 'grant-subnet':
      if (spec.table !== undefined) (value as unknown[]).forEach((pool, i) => { if (pool !== null) ipamPool(pool as IpamPool, `${path}[${i}]`, out) })
      return
    case 'host-gateway':
      for (const entry of value as string[]) {
        const at = entry.indexOf(':')
        const ip = at < 0 ? '' : entry.slice(at + 1)
        if (ip.trim().toLowerCase() === 'host-gateway') unsafeField(out, 'host-gateway', path, entry)
      }
      return
    case 'network-driver': {
      const driver = (value as string).trim().toLowerCase()
      // macvlan/ipvlan/host: the host-network-driver escape (escapes.ts) says it.
      if (!HARMLESS_NETWORK_DRIVERS.has(driver) && !HOST_NETWORK_DRIVERS.has(driver)) unsafeField(out, 'network-driver', path, value)
      return
    }
    case 'volume-driver-opts': {
      const options = value as Record<string, string>
      const keys = Object.keys(options)
      if (keys.length === 0 || bindLikeOptions(options) !== null) return
      const types = keys.filter((k) => k.trim().toLowerCase() === 'type').map((k) => options[k]!.trim().toLowerCase())
      if (types.length > 0 && types.every((t) => t === 'tmpfs')) return
      unsafeField(out, 'volume-driver-opts', path, keys.map((k) => k === 'o' ? 'o=…' : `${k}=${options[k] ?? ''}`).join(','))
      return
    }
    default:
      // harmless, escape (escapes.ts), route-unsafe and the rules other parts implement.
  }
}

function unsafeField (out: AllowlistFindings, setting: string, path: string, value: unknown): void {
  const text = `${path}: ${typeof value === 'string' ? value : JSON.stringify(value)}`
  out.escapes.push({ setting, detail: text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL - 1)}…` : text })
}

function portBindings (map: Record<string, Array<{ HostIp?: string, HostPort?: string } | null> | null>, path: string, out: AllowlistFindings): void {
  for (const port in map) {
    for (const binding of map[port] ?? []) {
      const hostIp = binding?.HostIp ?? ''
      const hostPort = (binding?.HostPort ?? '').trim()
      let from: number = EPHEMERAL_PORTS.from
      let to: number = EPHEMERAL_PORTS.to
      if (hostPort !== '') {
        const range = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(hostPort)
        from = range === null ? NaN : Number(range[1])
        to = range === null ? NaN : Number(range[2] ?? range[1])
      }
      out.needs.ports.push({ hostIp, from, to, field: `${path}[${JSON.stringify(port)}]: ${hostIp === '' ? 'every address' : hostIp}, port ${hostPort === '' ? 'random' : hostPort}` })
    }
  }
}

function logConfig (config: { Type?: string, Config?: Record<string, string> | null }, path: string, out: AllowlistFindings): void {
  const type = config.Type ?? ''
  if (type === '') {
    const odd = Object.keys(config.Config ?? {}).filter((key) => !DEFAULT_DRIVER_OPTIONS.has(key))
    if (odd.length > 0) unsafeField(out, 'log-options', `${path}.Config`, `options of the daemon's default driver: ${odd.join(', ')}`)
    return
  }
  if (!HARMLESS_LOG_DRIVERS.has(type)) out.needs.logDrivers.push(type)
}

interface IpamPool { Subnet?: string, IPRange?: string, Gateway?: string, AuxiliaryAddresses?: Record<string, string> | null }

function ipamPool (pool: IpamPool, path: string, out: AllowlistFindings): void {
  const subnet = pool.Subnet ?? ''
  const inside: Array<[string, string]> = []
  if ((pool.IPRange ?? '') !== '') inside.push(['IPRange', pool.IPRange!])
  if ((pool.Gateway ?? '') !== '') inside.push(['Gateway', pool.Gateway!])
  for (const [name, address] of Object.entries(pool.AuxiliaryAddresses ?? {})) inside.push([`AuxiliaryAddresses[${JSON.stringify(name)}]`, address])
  if (subnet === '') {
    if (inside.length > 0) unsafeField(out, 'ipam-config', path, 'an address range, gateway or auxiliary address without a Subnet')
    return
  }
  out.needs.subnets.push(subnet)
  const outer = parseCidr(subnet)
  for (const [name, text] of inside) {
    const cidr = name === 'IPRange' ? parseCidr(text) : parseIp(text) === null ? null : parseCidr(text)
    if (outer === null || cidr === null || !cidrContains(outer, cidr)) unsafeField(out, 'ipam-config', `${path}.${name}`, `${text} is not inside the subnet ${subnet}`)
  }
}

/**
 * Go's zero value (null, false, 0, "", empty lists and maps, structs of zero fields), for decoded values. A map
 * (decoded without a prototype) with any key asks for something even when its values are empty.
 */
function isZero (value: unknown): boolean {
  if (value === undefined || value === null || value === '' || value === false || value === 0) return true
  if (Array.isArray(value)) return value.length === 0
  if (typeof value === 'object') {
    if (Object.getPrototypeOf(value) === null) {
      for (const _ in value as Record<string, unknown>) return false
      return true
    }
    for (const key in value as Record<string, unknown>) if (!isZero((value as Record<string, unknown>)[key])) return false
    return true
  }
  return false
}

/** Zero for raw JSON: null, false, 0, "", [] and {} only (an object with any key asks for something). */
function isZeroJson (value: JsonValue): boolean {
  if (value === null || value === false || value === '') return true
  if (value instanceof JsonNumber) return Number(value.text) === 0
  if (Array.isArray(value)) return value.length === 0
  if (value instanceof JsonObject) return value.entries.length === 0
  return false
}

