// The JSON values of POST /build's query parameters that name images, read as dockerd 20.10 reads them
// (api/server/router/build newImageBuildOptions: json.Unmarshal into []ImageBuildOutput, []string and
// map[string]*string), so that the image names a build writes and the registries it reads from can be judged.

import { decodeAs, goString, goStruct, mapOf } from './godecode.js'
import { GoJsonError, JsonObject, parseGoJson, type JsonValue } from './gojson.js'

/** The exporters dockerd 20.10's BuildKit has: `moby` writes images, `local`/`tar` send files to the client. */
const KNOWN_OUTPUTS = new Set(['moby', 'local', 'tar', 'cacheonly'])

const imageBuildOutput = goStruct('ImageBuildOutput', { Type: goString, Attrs: mapOf(goString) })

export interface BuildOutputs {
  /** Image names a `moby` output writes (`Attrs.name`, comma-separated). */
  names: string[]
  /** Why the value cannot be judged, or names an exporter portcullis does not know: needs an unsafe role. */
  problem?: string
}

export function readBuildOutputs (value: string): BuildOutputs {
  if (value === '') return { names: [] }
  const parsed = parse(value)
  if (!Array.isArray(parsed)) return { names: [], problem: 'outputs is not a JSON array' }
  const names: string[] = []
  for (const item of parsed) {
    let entry: { Type?: string, Attrs?: Record<string, string> | null }
    try {
      entry = decodeAs(imageBuildOutput, item) as typeof entry
    } catch (err) {
      if (err instanceof GoJsonError) return { names, problem: `outputs: ${err.message}` }
      throw err
    }
    const type = entry.Type ?? ''
    if (!KNOWN_OUTPUTS.has(type)) return { names, problem: `outputs type "${type}" (known: ${[...KNOWN_OUTPUTS].join(', ')})` }
    if (type === 'moby') names.push(...(entry.Attrs?.name ?? '').split(',').map((n) => n.trim()).filter((n) => n !== ''))
  }
  return { names }
}

/** `cachefrom`: images BuildKit imports cache from (a registry fetch). Unreadable: null. */
export function readCacheFrom (value: string): string[] | null {
  if (value === '') return []
  const parsed = parse(value)
  if (!Array.isArray(parsed) || !parsed.every((v): v is string => typeof v === 'string')) return null
  return parsed.filter((v) => v !== '')
}

/** `buildargs`' BUILDKIT_SYNTAX: a frontend image BuildKit pulls and runs. Unreadable: null. */
export function readSyntaxImage (value: string): string[] | null {
  const syntax = readBuildArg(value, 'BUILDKIT_SYNTAX')
  if (syntax === null) return null
  return syntax === undefined || syntax === '' ? [] : [syntax]
}

/** One build argument of a `buildargs` value: undefined when absent (or nil), null when the value is unreadable. */
export function readBuildArg (value: string, name: string): string | undefined | null {
  if (value === '') return undefined
  const parsed = parse(value)
  if (parsed === null) return undefined
  if (!(parsed instanceof JsonObject)) return null
  // A Go map: keys are exact and the last duplicate wins; a null value is a nil *string (no argument).
  let found: JsonValue | undefined
  for (const { key, value: v } of parsed.entries) if (key === name) found = v
  if (found === undefined || found === null) return undefined
  return typeof found === 'string' ? found : null
}

function parse (value: string): JsonValue | undefined {
  try {
    return parseGoJson(Buffer.from(value))
  } catch {
    return undefined
  }
}
