// Project grants: host-reaching features a project may use without an unsafe role (policy
// `projects.<name>.grants`): published ports by host address and port range, log drivers by name, network
// subnets by CIDR range. Pure: the request's needs (src/request/allowlist.ts) against the compiled grants.

import type { GrantNeeds, PortNeed } from './types.js'
import { cidrContains, parseCidr, parseIp, type Cidr } from './cidr.js'

export interface ProjectGrantsDocument {
  ports?: Array<{ hostIp: string, ports: string }>
  logDrivers?: string[]
  subnets?: string[]
}

interface PortGrant { hostIp: string, address: { family: 4 | 6, value: bigint } | null, from: number, to: number }

interface CompiledProjectGrants {
  readonly ports: readonly PortGrant[]
  readonly logDrivers: ReadonlySet<string>
  readonly subnets: readonly Cidr[]
}

const EMPTY: CompiledProjectGrants = Object.freeze({ ports: [], logDrivers: new Set<string>(), subnets: [] })

/** Problems a schema cannot see: port ranges the wrong way round or out of range, addresses and CIDRs that do not parse. */
export function checkProjectGrants (projects: Record<string, { grants?: ProjectGrantsDocument }>, problems: Array<{ path: string, message: string }>): void {
  for (const [project, { grants }] of Object.entries(projects)) {
    grants?.ports?.forEach((grant, i) => {
      const path = `$.projects.${project}.grants.ports[${i}]`
      const range = portRange(grant.ports)
      if (range === null) problems.push({ path: `${path}.ports`, message: `"${grant.ports}" is not a port or a range of ports between 1 and 65535 (e.g. 8000-8099)` })
      if (grant.hostIp !== '' && parseIp(grant.hostIp) === null) problems.push({ path: `${path}.hostIp`, message: `"${grant.hostIp}" is not an IPv4 or IPv6 address ("" means every address)` })
    })
    grants?.subnets?.forEach((subnet, i) => {
      if (parseCidr(subnet) === null || !subnet.includes('/')) problems.push({ path: `$.projects.${project}.grants.subnets[${i}]`, message: `"${subnet}" is not a CIDR range such as 10.210.0.0/16` })
    })
  }
}

const cache = new WeakMap<object, Map<string, CompiledProjectGrants>>()

/** The compiled grants of a project (cached per policy document). */
function projectGrants (document: { projects: Record<string, { grants?: ProjectGrantsDocument }> }, project: string): CompiledProjectGrants {
  let byProject = cache.get(document)
  if (byProject === undefined) {
    byProject = new Map()
    cache.set(document, byProject)
  }
  let found = byProject.get(project)
  if (found === undefined) {
    const grants = document.projects[project]?.grants
    found = grants === undefined ? EMPTY : Object.freeze({
      ports: (grants.ports ?? []).map((g) => ({ hostIp: g.hostIp, address: g.hostIp === '' ? null : parseIp(g.hostIp), ...(portRange(g.ports) ?? { from: 1, to: 0 }) })),
      logDrivers: new Set(grants.logDrivers ?? []),
      subnets: (grants.subnets ?? []).map(parseCidr).filter((c): c is Cidr => c !== null)
    })
    byProject.set(project, found)
  }
  return found
}

/**
 * What the request asks for that the project's grants do not cover, each with the grant that would; empty when
 * everything is granted. `project` null or undefined: no project, so nothing can be granted.
 */
export function ungrantedNeeds (document: { projects: Record<string, { grants?: ProjectGrantsDocument }> }, project: string | null | undefined, needs: GrantNeeds | undefined): string[] {
  if (needs === undefined) return []
  const grants = typeof project === 'string' ? projectGrants(document, project) : EMPTY
  const where = typeof project === 'string' ? `projects.${project}.grants` : 'projects.<project>.grants (label the object with its project)'
  const missing: string[] = []
  for (const need of needs.ports) {
    if (!grants.ports.some((grant) => portCovered(grant, need))) {
      const ports = need.from === need.to ? String(need.from) : `${need.from}-${need.to}`
      missing.push(`published port ${need.field} (add to ${where}.ports: {"hostIp": ${JSON.stringify(need.hostIp)}, "ports": "${Number.isNaN(need.from) ? '<port>' : ports}"})`)
    }
  }
  for (const driver of needs.logDrivers) {
    if (!grants.logDrivers.has(driver)) missing.push(`log driver ${driver} (add "${driver}" to ${where}.logDrivers)`)
  }
  for (const subnet of needs.subnets) {
    const cidr = parseCidr(subnet)
    if (cidr === null || !grants.subnets.some((range) => cidrContains(range, cidr))) {
      missing.push(`subnet ${subnet} (add a range that holds it to ${where}.subnets)`)
    }
  }
  // A body may ask for thousands of ports: the message names the first few.
  return missing.length > MAX_NAMED ? [...missing.slice(0, MAX_NAMED), `${missing.length - MAX_NAMED} more`] : missing
}

const MAX_NAMED = 5

function portCovered (grant: PortGrant, need: PortNeed): boolean {
  if (!(grant.from <= need.from && need.to <= grant.to)) return false
  if (grant.hostIp === '') return true
  // An empty HostIp listens on every address: only a grant for every address covers it.
  if (need.hostIp === '') return false
  const asked = parseIp(need.hostIp)
  const granted = grant.address
  if (asked === null || granted === null || asked.family !== granted.family) return false
  // 0.0.0.0 and :: grant every address of their family.
  return granted.value === 0n || granted.value === asked.value
}

function portRange (text: string): { from: number, to: number } | null {
  const match = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text)
  if (match === null) return null
  const from = Number(match[1])
  const to = Number(match[2] ?? match[1])
  return from >= 1 && to <= 65535 && from <= to ? { from, to } : null
}
