// Judges a request's query parameters against its route's allowlist (src/request/query-params.ts): unknown names
// are collected for a refusal, `unsafe` ones off their default become escapes, and the named rules implemented
// here (build network mode, extra hosts) add escapes or references. Every value of a repeated parameter is
// judged, though Go's FormValue reads only the first: no ordering trick hides one.

import type { Escape, ResourceRef } from '../core/types.js'
import { paramsOf } from './query-params.js'
import { readBuildOutputs } from './build-query.js'

export interface QueryFindings {
  escapes: Escape[]
  references: ResourceRef[]
  unknownParameters: string[]
}

const HARMLESS_BUILD_NETWORKS = new Set(['', 'default', 'bridge', 'none'])
const MAX_DETAIL = 200

export function judgeQuery (method: string, pattern: string, query: Readonly<Record<string, readonly string[]>>): QueryFindings {
  const out: QueryFindings = { escapes: [], references: [], unknownParameters: [] }
  const params = paramsOf(method, pattern)
  for (const name in query) {
    const spec = params === undefined ? undefined : Object.hasOwn(params, name) ? params[name] : undefined
    if (spec === undefined) {
      out.unknownParameters.push(name)
      continue
    }
    const values = query[name] ?? []
    switch (spec.rule) {
      case 'unsafe':
        for (const value of values) {
          if (value !== '' && !(spec.defaults ?? []).includes(value)) add(out, spec.setting ?? 'unsafe-parameter', `${name}=${value}`)
        }
        break
      case 'host-gateway':
        for (const value of values) {
          const at = value.indexOf(':')
          if (at >= 0 && value.slice(at + 1).trim().toLowerCase() === 'host-gateway') add(out, 'host-gateway', `${name}=${value}`)
        }
        break
      case 'build-network-mode':
        for (const value of values) buildNetworkMode(value, out)
        break
      case 'build-outputs':
        // The names a `moby` output writes are judged as image targets (src/core/image-scope.ts).
        for (const value of values) {
          const problem = readBuildOutputs(value).problem
          if (problem !== undefined) add(out, 'build-output', problem)
        }
        break
      default:
        // harmless, route-unsafe, and the rules judged elsewhere (import-source and checkpoint-dir in
        // read-request.ts; interactive, object-name, prune-filters, image-repository, registry, reference…).
    }
  }
  return out
}

function buildNetworkMode (value: string, out: QueryFindings): void {
  // `host` is the net-namespace escape read-request.ts reports.
  if (value === 'host' || HARMLESS_BUILD_NETWORKS.has(value)) return
  if (value.startsWith('container:')) {
    out.references.push({ kind: 'container', ref: value.slice('container:'.length) })
  } else {
    out.references.push({ kind: 'network', ref: value })
  }
}

function add (out: QueryFindings, setting: string, detail: string): void {
  out.escapes.push({ setting, detail: detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail })
}
