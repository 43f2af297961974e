// What a prune call's `filters` query confines it to, read exactly as dockerd reads it
// (api/types/filters FromJSON, then MatchKVList on the object's labels).
//
// FromJSON first decodes `{"label":{"k=v":true}}` into map[string]map[string]bool; when that fails it falls back to
// the legacy `{"label":["k=v"]}` (map[string][]string). Go's map rules apply: keys are case-sensitive, a later
// duplicate key replaces an earlier one, `null` empties an entry. The bool in the set is ignored by MatchKVList.
// Label filters are ANDed: each `k=v` (split at the first `=`) needs the label k with exactly the value v; a
// key-only `k` needs the label to exist with any value; `label!` filters only exclude.

import type { PruneFacts } from '../core/types.js'
import { GoJsonError, JsonObject, parseGoJson, type JsonValue } from './gojson.js'
import { PROJECT_LABEL } from '../core/project-label.js'


/** Prunes whose objects carry labels a create of portcullis judged; the others can only be pruned globally. */
const LABELLED_PRUNES = new Set(['container.prune', 'volume.prune', 'network.prune'])
/** Every prune action: what each removes, for the refusal. */
const PRUNES: Record<string, string> = {
  'container.prune': 'stopped containers',
  'volume.prune': 'unused volumes',
  'network.prune': 'unused networks',
  'image.prune': 'unused images',
  'image.build-prune': 'the build cache'
}

export type FilterArgs = Map<string, Set<string>>

export class FilterError extends Error {}

/** Go's filters.FromJSON; throws FilterError where dockerd would refuse the filters. */
export function parseFilters (text: string): FilterArgs {
  const args: FilterArgs = new Map()
  if (text === '') return args
  let parsed: JsonValue
  try {
    parsed = parseGoJson(Buffer.from(text, 'utf8'))
  } catch (err) {
    if (err instanceof GoJsonError) throw new FilterError(`filters is not valid JSON: ${err.message}`)
    throw err
  }
  if (parsed === null) return args
  if (!(parsed instanceof JsonObject)) throw new FilterError('filters must be a JSON object')
  return readSets(parsed) ?? readLegacyLists(parsed) ?? fail()
}

function fail (): never {
  throw new FilterError('filters must map each key to {"value": true} or ["value"]')
}

/** map[string]map[string]bool, or null when any value has another type (Go then tries the legacy form). */
function readSets (object: JsonObject): FilterArgs | null {
  const args: FilterArgs = new Map()
  for (const { key, value } of object.entries) {
    if (value === null) {
      args.set(key, new Set())
      continue
    }
    if (!(value instanceof JsonObject)) return null
    const set = new Set<string>()
    for (const entry of value.entries) {
      if (entry.value !== null && typeof entry.value !== 'boolean') return null
      set.add(entry.key)
    }
    args.set(key, set)
  }
  return args
}

/** map[string][]string (a null element is Go's ""), or null when Go's decoder would fail. */
function readLegacyLists (object: JsonObject): FilterArgs | null {
  const args: FilterArgs = new Map()
  for (const { key, value } of object.entries) {
    if (value === null) {
      args.set(key, new Set())
      continue
    }
    if (!Array.isArray(value)) return null
    const set = new Set<string>()
    for (const item of value) {
      if (item === null) set.add('')
      else if (typeof item === 'string') set.add(item)
      else return null
    }
    args.set(key, set)
  }
  return args
}

/** The projects that `label` filters confine a prune to: every `portcullis.project=P` value (they are ANDed). */
export function confinedProjects (args: FilterArgs): string[] {
  const projects = new Set<string>()
  for (const value of args.get('label') ?? []) {
    const at = value.indexOf('=')
    if (at < 0) continue // key-only: any value of the label matches
    if (value.slice(0, at) === PROJECT_LABEL) projects.add(value.slice(at + 1))
  }
  return [...projects]
}

/** The prune facts of a request, or undefined for calls that are not prunes. */
export function pruneFacts (action: string, query: Record<string, string[]>): PruneFacts | undefined {
  const removes = PRUNES[action]
  if (removes === undefined) return undefined
  const facts: PruneFacts = { removes, projects: [], globalOnly: !LABELLED_PRUNES.has(action) }
  const values = Object.hasOwn(query, 'filters') ? query.filters ?? [] : []
  if (values.length > 1) {
    facts.problem = 'the query has more than one `filters` parameter; send one'
    return facts
  }
  try {
    facts.projects = confinedProjects(parseFilters(values[0] ?? ''))
  } catch (err) {
    if (!(err instanceof FilterError)) throw err
    facts.problem = err.message
  }
  return facts
}
