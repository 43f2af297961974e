// Replays Go's encoding/json rules for decoding a parsed body into a Go struct, so that we see the
// request exactly as dockerd will act on it. The rules (Go 1.19/1.20 decode.go and fold.go):
//
// - Object keys pick struct fields by exact name first, then case-insensitively, where the only
//   non-ASCII runes that fold onto ASCII are U+017F (ſ → s) and U+212A (Kelvin sign → k).
// - Every key is applied in order: a later duplicate overwrites scalars, but decodes *into* what is
//   already there for structs and pointers-to-struct (fields it does not name are kept) and maps
//   (keys merge, case-sensitively; each map value is decoded fresh).
// - Arrays decode element by element into the existing slice, whose backing array survives
//   shrinking: `["/:/h"]` then `[null]` leaves `["/:/h"]`, because null does not touch a string.
//   An empty array makes a fresh empty slice.
// - null sets pointers, maps and slices to nil and leaves scalars and structs alone.
// - A value of the wrong JSON type makes the daemon's Decode fail, so we reject it too.
//
// Go ignores keys that name no field; we report each one (with its path and last raw value) to the caller's
// `unknown` list, so that the allowlist can deny a field Docker adds tomorrow (src/request/allowlist.ts).

import { GoJsonError, JsonNumber, JsonObject, type JsonValue } from './gojson.js'

export type GoType =
  | { kind: 'string' }
  | { kind: 'bool' }
  | { kind: 'number' }
  /** strslice.StrSlice: a JSON string or array of strings, always decoded fresh. */
  | { kind: 'strslice' }
  | { kind: 'slice', elem: GoType }
  /** map[string]T */
  | { kind: 'map', elem: GoType }
  | { kind: 'struct', fields: GoStruct }
  /** *T for a struct T */
  | { kind: 'pointer', elem: GoStruct }
  /** Not decoded by this daemon version; kept as the last raw JSON value so we can still be strict about it. */
  | { kind: 'raw' }

export interface GoStruct {
  readonly name: string
  /** Canonical JSON name → type. */
  readonly fields: ReadonlyMap<string, GoType>
  /** Folded JSON name → canonical JSON name. */
  readonly folded: ReadonlyMap<string, string>
}

export const goString: GoType = { kind: 'string' }
export const goBool: GoType = { kind: 'bool' }
export const goNumber: GoType = { kind: 'number' }
export const goStrSlice: GoType = { kind: 'strslice' }
export const goRaw: GoType = { kind: 'raw' }
export const sliceOf = (elem: GoType): GoType => ({ kind: 'slice', elem })
export const mapOf = (elem: GoType): GoType => ({ kind: 'map', elem })
export const structOf = (fields: GoStruct): GoType => ({ kind: 'struct', fields })
export const pointerTo = (elem: GoStruct): GoType => ({ kind: 'pointer', elem })

/** Describes a Go struct by its JSON field names (as in the `json:` tags, or the Go name). */
export function goStruct (name: string, fields: Record<string, GoType>): GoStruct {
  const map = new Map<string, GoType>()
  const folded = new Map<string, string>()
  for (const [field, type] of Object.entries(fields)) {
    const key = foldKey(field)
    // Go would pick the first of two fold-equal fields; our schemas must not depend on that.
    if (folded.has(key)) throw new Error(`${name}: fields ${folded.get(key)} and ${field} fold to the same name`)
    map.set(field, type)
    folded.set(key, field)
  }
  return { name, fields: map, folded }
}

/**
 * Folds an object key the way Go compares it with an ASCII field name: ASCII letters ignore case,
 * ſ is s and the Kelvin sign is k; every other rune must match exactly.
 */
function foldKey (key: string): string {
  let out = ''
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    if (c >= 0x61 && c <= 0x7a) out += String.fromCharCode(c - 0x20)
    else if (c === 0x017f) out += 'S'
    else if (c === 0x212a) out += 'K'
    else out += key[i]
  }
  return out
}

/** Finds the field a key sets, as Go does: exact match first, then case-insensitive. */
export function fieldFor (struct: GoStruct, key: string): string | undefined {
  if (struct.fields.has(key)) return key
  return struct.folded.get(foldKey(key))
}

/** A decoded struct: canonical field name → value; absent fields hold Go's zero value. */
export type GoRecord = Record<string, unknown>

/** A key Go would skip because it names no field of the struct it is decoded into. */
export interface UnknownKey {
  /** Where it is, e.g. `HostConfig.Mounts[0].Foo` (`[\"key\"]` for map entries). */
  path: string
  value: JsonValue
}

/** Decodes a parsed body as Go would decode it into a fresh value of `struct`; keys Go skips go to `unknown`. */
export function decodeAs (struct: GoStruct, node: JsonValue, unknown?: UnknownKey[]): GoRecord {
  const found: UnknownKey[] | undefined = unknown === undefined ? undefined : []
  const record = decodeStruct(struct, {}, node, struct.name, found)
  // Error messages name the struct; unknown keys are reported relative to the body.
  const prefix = struct.name + '.'
  for (const key of found ?? []) unknown!.push({ path: key.path.startsWith(prefix) ? key.path.slice(prefix.length) : key.path, value: key.value })
  return record
}

// Slices keep the elements past their length that Go would still have in the backing array.
const hiddenTail = new WeakMap<unknown[], unknown[]>()

function decodeInto (type: GoType, current: unknown, node: JsonValue, path: string, unknown: UnknownKey[] | undefined): unknown {
  switch (type.kind) {
    case 'string':
      if (node === null) return current
      if (typeof node === 'string') return node
      return mismatch(path, 'a string', node)
    case 'bool':
      if (node === null) return current
      if (typeof node === 'boolean') return node
      return mismatch(path, 'a boolean', node)
    case 'number':
      if (node === null) return current
      if (node instanceof JsonNumber) return Number(node.text)
      return mismatch(path, 'a number', node)
    case 'strslice':
      return decodeStrSlice(node, path)
    case 'slice':
      return decodeSlice(type.elem, current, node, path, unknown)
    case 'map':
      return decodeMap(type.elem, current, node, path, unknown)
    case 'struct':
      if (node === null) return current
      return decodeStruct(type.fields, (current ?? {}) as GoRecord, node, path, unknown)
    case 'pointer':
      if (node === null) return null
      return decodeStruct(type.elem, (current ?? {}) as GoRecord, node, path, unknown)
    case 'raw':
      return node
  }
}

function decodeStruct (struct: GoStruct, target: GoRecord, node: JsonValue, path: string, unknown: UnknownKey[] | undefined): GoRecord {
  if (!(node instanceof JsonObject)) return mismatch(path, 'an object', node)
  for (const { key, value } of node.entries) {
    const field = fieldFor(struct, key)
    if (field === undefined) {
      unknown?.push({ path: path === '' ? key : `${path}.${key}`, value })
      continue
    }
    const type = struct.fields.get(field) as GoType
    target[field] = decodeInto(type, target[field], value, path === '' ? field : `${path}.${field}`, unknown)
  }
  return target
}

function decodeMap (elem: GoType, current: unknown, node: JsonValue, path: string, unknown: UnknownKey[] | undefined): Record<string, unknown> | null {
  if (node === null) return null
  if (!(node instanceof JsonObject)) return mismatch(path, 'an object', node)
  // No prototype, so keys like "__proto__" are ordinary entries, as they are in a Go map.
  const map = (current ?? Object.create(null)) as Record<string, unknown>
  for (const { key, value } of node.entries) {
    map[key] = decodeInto(elem, zeroOf(elem), value, `${path}[${JSON.stringify(key)}]`, unknown)
  }
  return map
}

function decodeSlice (elem: GoType, current: unknown, node: JsonValue, path: string, unknown: UnknownKey[] | undefined): unknown[] | null {
  if (node === null) return null
  if (!Array.isArray(node)) return mismatch(path, 'an array', node)
  if (node.length === 0) return []
  const old = (current ?? []) as unknown[]
  const backing = old.concat(hiddenTail.get(old) ?? [])
  for (let i = 0; i < node.length; i++) {
    const existing = i < backing.length ? backing[i] : zeroOf(elem)
    backing[i] = decodeInto(elem, existing, node[i] as JsonValue, `${path}[${i}]`, unknown)
  }
  const slice = backing.slice(0, node.length)
  if (backing.length > node.length) hiddenTail.set(slice, backing.slice(node.length))
  return slice
}

/** Go's zero value, for map values and new slice elements (struct fields just stay absent). */
function zeroOf (type: GoType): unknown {
  switch (type.kind) {
    case 'string': return ''
    case 'bool': return false
    case 'number': return 0
    case 'struct': return {}
    default: return null
  }
}

function decodeStrSlice (node: JsonValue, path: string): string[] | null {
  // StrSlice.UnmarshalJSON: json.Unmarshal into a fresh []string, else into a string.
  if (node === null) return null
  if (typeof node === 'string') return [node]
  if (!Array.isArray(node)) return mismatch(path, 'a string or an array of strings', node)
  return node.map((item, i) => {
    if (item === null) return ''
    if (typeof item === 'string') return item
    return mismatch(`${path}[${i}]`, 'a string', item)
  })
}

function mismatch (path: string, expected: string, node: JsonValue): never {
  throw new GoJsonError('type-mismatch', `${path === '' ? 'the body' : path} must be ${expected}, not ${describe(node)}`)
}

function describe (node: JsonValue): string {
  if (node === null) return 'null'
  if (typeof node === 'boolean') return 'a boolean'
  if (typeof node === 'string') return 'a string'
  if (node instanceof JsonNumber) return 'a number'
  if (Array.isArray(node)) return 'an array'
  return 'an object'
}
