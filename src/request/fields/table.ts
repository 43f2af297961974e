// A field table describes one Go request-body struct twice over: the Go type of every field (so the body is
// decoded exactly as dockerd decodes it, src/request/godecode.ts) and the rule that judges it (rules.ts).
// The decoder is built from the table, so a field cannot be decoded without being classified.

import {
  goBool, goNumber, goRaw, goStrSlice, goString, goStruct, mapOf, pointerTo, sliceOf, structOf, type GoStruct,
  type GoType
} from '../godecode.js'
import type { Rule } from './rules.js'

/** How a field holds the struct its sub-table describes. */
export type Shape = 'pointer' | 'struct' | 'slice' | 'map-pointer' | 'map-struct' | 'map-slice'

export interface FieldSpec {
  readonly type: GoType
  readonly rule: Rule
  /** The escape setting (rule `escape`) or the setting an `unsafe` field is reported under (default `unsafe-field`). */
  readonly setting?: string
  /** For `unsafe`: values besides Go's zero value that ask for nothing (`runc`, `default`). */
  readonly defaults?: readonly unknown[]
  /** The fields of the struct(s) this field holds, judged too. */
  readonly table?: FieldTable
  readonly shape?: Shape
  /** Why, for the generated docs. */
  readonly note?: string
}

export interface FieldTable {
  readonly name: string
  readonly struct: GoStruct
  /** Canonical JSON name → spec, in the order Go declares them. */
  readonly fields: ReadonlyMap<string, FieldSpec>
}

export function fieldTable (name: string, ...parts: Array<Record<string, FieldSpec>>): FieldTable {
  const fields = new Map<string, FieldSpec>()
  for (const part of parts) for (const [key, spec] of Object.entries(part)) fields.set(key, spec)
  const types: Record<string, GoType> = {}
  for (const [key, spec] of fields) types[key] = spec.type
  return Object.freeze({ name, struct: goStruct(name, types), fields })
}

interface Options { setting?: string, defaults?: readonly unknown[], note?: string }

export const string = goString
export const bool = goBool
export const number = goNumber
export const strings = sliceOf(goString)
export const strslice = goStrSlice
export const stringMap = mapOf(goString)
export const numbers = sliceOf(goNumber)
export const raw = goRaw
/** map[string]struct{} (ExposedPorts, Volumes): keys only. */
export const keySet = mapOf(structOf(goStruct('struct{}', {})))

export const harmless = (type: GoType, note?: string): FieldSpec => ({ type, rule: 'harmless', ...(note === undefined ? {} : { note }) })
export const unsafe = (type: GoType, options: Options = {}): FieldSpec => ({ type, rule: 'unsafe', ...options })
export const ruled = (rule: Rule, type: GoType, options: Options = {}): FieldSpec => ({ type, rule, ...options })
export const escape = (setting: string, type: GoType, note?: string): FieldSpec => ({ type, rule: 'escape', setting, ...(note === undefined ? {} : { note }) })

/** A field holding structs of `table`, judged by `rule` as a whole and field by field. */
export function nested (rule: Rule, table: FieldTable, shape: Shape, options: Options = {}): FieldSpec {
  return { type: typeOf(table.struct, shape), rule, table, shape, ...options }
}

function typeOf (struct: GoStruct, shape: Shape): GoType {
  switch (shape) {
    case 'pointer': return pointerTo(struct)
    case 'struct': return structOf(struct)
    case 'slice': return sliceOf(structOf(struct))
    case 'map-pointer': return mapOf(pointerTo(struct))
    case 'map-struct': return mapOf(structOf(struct))
    case 'map-slice': return mapOf(sliceOf(structOf(struct)))
  }
}

/** The dotted name of a field inside its parent, as in the docs and the API names fixture. */
function childPath (parent: string, field: string, shape: Shape | undefined): string {
  const base = parent === '' ? field : `${parent}.${field}`
  switch (shape) {
    case 'slice': return `${base}[]`
    case 'map-pointer': case 'map-struct': return `${base}.*`
    case 'map-slice': return `${base}.*[]`
    default: return base
  }
}

/** Every field of a table as [dotted path, spec], depth first, for the docs and the coverage test. */
export function flatten (table: FieldTable, prefix = ''): Array<[string, FieldSpec]> {
  const out: Array<[string, FieldSpec]> = []
  for (const [name, spec] of table.fields) {
    const path = prefix === '' ? name : `${prefix}.${name}`
    out.push([path, spec])
    if (spec.table !== undefined) out.push(...flatten(spec.table, childPath(prefix, name, spec.shape)))
  }
  return out
}
