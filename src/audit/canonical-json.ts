// JSON with object keys sorted at every depth, so a record hashes the same however its keys were ordered.
// Otherwise it follows JSON.stringify exactly (toJSON, undefined/function values dropped from objects and
// null in arrays, non-finite numbers as null, the same string escapes), so a record hashed before storing and
// the same record parsed back from storage give the same text.

export function canonicalJSON (value: unknown): string {
  const text = serialize(value)
  if (text === undefined) throw new TypeError('canonicalJSON: the value has no JSON form')
  return text
}

// Strings without these characters are written as they are; the rest go through JSON.stringify. This is
// the hot path of every append, and most audit strings need no escaping.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

function quote (text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : '"' + text + '"'
}

function serialize (value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return quote(value)
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null'
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object':
      return value === null ? 'null' : serializeObject(value)
    case 'bigint':
      throw new TypeError('canonicalJSON: a BigInt has no JSON form')
    default: // undefined, function, symbol
      return undefined
  }
}

function serializeObject (value: object): string | undefined {
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return serialize((value as { toJSON: () => unknown }).toJSON())
  }
  if (value instanceof Number || value instanceof String || value instanceof Boolean) {
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ','
      out += serialize(value[i]) ?? 'null'
    }
    return out + ']'
  }
  const keys = Object.keys(value).sort()
  let out = '{'
  for (const key of keys) {
    const text = serialize((value as Record<string, unknown>)[key])
    if (text === undefined) continue
    out += (out.length === 1 ? '' : ',') + quote(key) + ':' + text
  }
  return out + '}'
}
