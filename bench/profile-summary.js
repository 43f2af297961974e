// Where the plugin's CPU time goes, from a V8 .cpuprofile (`node --cpu-prof`): self time by function and by
// area (portcullis's own files, each dependency, Node's internals, GC), and total (inclusive) time of
// portcullis's functions. Usable alone: `node bench/profile-summary.js FILE.cpuprofile [FROM_S TO_S]`; the
// optional window (seconds since the profile started, see the per-second line) leaves out start-up and the
// benchmark's own audit reads between windows.

import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url))

/** Returns the report as lines of text; `fromS`/`toS` restrict it to a window of the run. */
export function summarizeProfile (file, { top = 25, fromS = 0, toS = Infinity } = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parentOf = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)

  const selfByFunction = new Map()
  const selfByArea = new Map()
  const totalByFunction = new Map()
  const busyBySecond = []
  let busyMs = 0
  let idleMs = 0
  let atMs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const deltaMs = (profile.timeDeltas[i] ?? 0) / 1000
    atMs += deltaMs
    const node = byId.get(profile.samples[i])
    if (node === undefined || atMs < fromS * 1000 || atMs > toS * 1000) continue
    if (node.callFrame.functionName === '(idle)') {
      idleMs += deltaMs
      continue
    }
    busyMs += deltaMs
    const second = Math.floor(atMs / 1000)
    busyBySecond[second] = (busyBySecond[second] ?? 0) + deltaMs
    add(selfByFunction, functionLabel(node.callFrame), deltaMs)
    add(selfByArea, areaOf(node.callFrame), deltaMs)
    // Inclusive time: once per function on the stack, however deep its recursion.
    const seen = new Set()
    for (let id = node.id; id !== undefined; id = parentOf.get(id)) {
      const frame = byId.get(id).callFrame
      if (!isOwnCode(frame)) continue
      const label = functionLabel(frame)
      if (seen.has(label)) continue
      seen.add(label)
      add(totalByFunction, label, deltaMs)
    }
  }

  const share = (value) => `${(100 * value / busyMs).toFixed(1).padStart(5)}%`
  const rows = (map, n) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([label, value]) => `  ${share(value)}  ${value.toFixed(0).padStart(6)} ms  ${label}`)
  return [
    `profile ${file}${toS === Infinity && fromS === 0 ? '' : ` from ${fromS} s to ${toS} s`}: ${busyMs.toFixed(0)} ms busy, ${idleMs.toFixed(0)} ms idle on the main thread`,
    // Shows which seconds the main thread was saturated (near 100%) and which it waited (on fsync, on the client).
    `main thread busy, per second of the run: ${Array.from(busyBySecond, (ms) => Math.round((ms ?? 0) / 10)).slice(Math.floor(fromS)).join(' ')} (%)`,
    'self time by area:',
    ...rows(selfByArea, 15),
    `self time by function (top ${top}):`,
    ...rows(selfByFunction, top),
    `total time (self + callees) of portcullis's functions (top ${top}):`,
    ...rows(totalByFunction, top)
  ]
}

function add (map, key, value) {
  map.set(key, (map.get(key) ?? 0) + value)
}

function isOwnCode (frame) {
  return frame.url.includes('/dist/') && !frame.url.includes('/node_modules/')
}

function functionLabel (frame) {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  if (frame.url === '') return name
  return `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
}

function shortUrl (url) {
  const file = url.startsWith('file://') ? fileURLToPath(url) : url
  return file.startsWith(REPO_ROOT) ? path.relative(REPO_ROOT, file) : file
}

/** portcullis file, dependency package, Node internal area, or V8's own (GC, program, native). */
function areaOf (frame) {
  const url = frame.url
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native/builtin)'
  const modules = url.lastIndexOf('/node_modules/')
  if (modules !== -1) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/')
    return `dependency ${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`
  }
  if (url.startsWith('node:')) return `node ${url.split('/').slice(0, 3).join('/')}`
  if (isOwnCode(frame)) return `portcullis ${shortUrl(url)}`
  return shortUrl(url)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const [file, from, to] = process.argv.slice(2)
  if (file === undefined) {
    process.stderr.write('usage: node bench/profile-summary.js FILE.cpuprofile [FROM_S TO_S]\n')
    process.exit(2)
  }
  process.stdout.write(summarizeProfile(file, { fromS: Number(from ?? 0), toS: Number(to ?? Infinity) }).join('\n') + '\n')
}
