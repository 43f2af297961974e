// A fleet bundle (`portcullis fleet bundle`): one evidence bundle per host under hosts/<host ID>/, each written
// from the fleet database by the same writer as `audit bundle` and signed by the host's own checkpoints, plus a
// top-level manifest.json that lists the hosts and a report.html with a per-host view. Each host's part is checked
// with the checks of any bundle; the top level only ties the parts together (which hosts, their manifests, the
// report). Recordings are not in the fleet database, so a host's part holds none: its manifest says so, and the
// verdict lists the sessions whose recordings are to be checked on their host instead of calling them missing.

import { createHash } from 'node:crypto'
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { BUNDLE_FILES } from './bundle.js'
import { readBundleChunks, readBundleText } from './bundle-files.js'
import { verifyBundleDir, withBundleDir, type BundleVerifyReport, type VerifyBundleOptions } from './bundle-verify.js'
import { reportedEntry, type BundleIssue } from './bundle-verify-issues.js'
import { AuditError, messageOf } from './errors.js'

export const FLEET_HOSTS_DIR = 'hosts'

export interface FleetBundleHost {
  hostId: string
  name: string
  keyId: string
  /** hosts/<hostId>, or null when the range holds no signed record of this host (see note). */
  dir: string | null
  records: number
  fromSeq: number | null
  toSeq: number | null
  /** The sha256 of the part's manifest.json: the part handed over is the part written. */
  manifestSha256: string | null
  /** Why there is no part, or how its range differs from the one asked. */
  note: string | null
}

export interface FleetBundleManifest {
  version: 1
  kind: 'fleet'
  created: string
  range: { since: string, until: string | null }
  /** `in-parts`: each part holds the recordings of its range, read from the fleet database, unless its own manifest
   * says they stay on the host (its note says why). `on-host` (bundles written before recordings were shipped): every
   * recording stays on its host; the session.end records hold their digests. */
  recordings: 'in-parts' | 'on-host'
  hosts: FleetBundleHost[]
  /** The top-level files but the manifest (report.html). */
  files: Record<string, { sha256: string, bytes: number }>
  generator: string
}

interface FleetHostVerdict {
  hostId: string
  name: string
  ok: boolean
  /** The part's own verdict; absent for a host with no part. */
  report?: BundleVerifyReport
  note: string | null
}

export interface FleetBundleVerifyReport {
  kind: 'fleet'
  ok: boolean
  range?: FleetBundleManifest['range']
  hosts: FleetHostVerdict[]
  /** Problems of the top level (manifest, report.html, a part added or swapped), and each host's, the host named. */
  problems: Array<BundleIssue & { host?: string }>
  firstBad?: BundleIssue & { host?: string }
}

/** Whether the bundle in `dir` is a fleet bundle (its manifest says kind "fleet"). */
async function isFleetBundle (dir: string): Promise<boolean> {
  try {
    const value = JSON.parse(await readBundleText(dir, BUNDLE_FILES.manifest)) as { kind?: unknown }
    return value !== null && typeof value === 'object' && value.kind === 'fleet'
  } catch {
    return false
  }
}

async function verifyFleetBundleDir (dir: string): Promise<FleetBundleVerifyReport> {
  const report: FleetBundleVerifyReport = { kind: 'fleet', ok: false, hosts: [], problems: [] }
  const problem = (issue: BundleIssue & { host?: string }): void => { report.problems.push(issue) }
  const finish = (): FleetBundleVerifyReport => {
    report.ok = report.problems.length === 0
    if (!report.ok) report.firstBad = report.problems[0]
    return report
  }
  let manifest: FleetBundleManifest
  try {
    const value: unknown = JSON.parse(await readBundleText(dir, BUNDLE_FILES.manifest))
    const why = fleetManifestProblem(value)
    if (why !== null) {
      problem({ problem: 'manifest-invalid', file: BUNDLE_FILES.manifest, detail: why })
      return finish()
    }
    manifest = value as FleetBundleManifest
  } catch (err) {
    if (!reportedEntry(err, problem)) problem({ problem: 'manifest-invalid', file: BUNDLE_FILES.manifest, detail: `it cannot be read as JSON (${messageOf(err)})` })
    return finish()
  }
  report.range = manifest.range

  // Host parts first: a bad record is what a reviewer wants named, before the report file it also breaks.
  for (const host of manifest.hosts) {
    if (host.dir === null) {
      report.hosts.push({ hostId: host.hostId, name: host.name, ok: true, note: host.note })
      continue
    }
    const partManifest = await sha256Of(dir, `${host.dir}/${BUNDLE_FILES.manifest}`)
    if (partManifest !== null && partManifest !== host.manifestSha256) {
      problem({ problem: 'file-mismatch', file: `${host.dir}/${BUNDLE_FILES.manifest}`, host: host.hostId, detail: `host ${host.hostId}'s manifest is not the one the fleet manifest lists: the part was replaced` })
    }
    const part = await verifyBundleDir(join(dir, host.dir), { recordingsOnHost: true })
    for (const issue of part.problems) problem({ ...issue, host: host.hostId, file: `${host.dir}/${issue.file}` })
    report.hosts.push({ hostId: host.hostId, name: host.name, ok: part.ok, report: part, note: host.note })
  }

  for (const [path, expected] of Object.entries(manifest.files)) {
    const actual = await sha256Of(dir, path)
    if (actual === null) problem({ problem: 'file-missing', file: path, detail: 'the manifest lists it but it is not in the bundle' })
    else if (actual !== expected.sha256) problem({ problem: 'file-mismatch', file: path, detail: 'its sha256 differs from the manifest\'s: it was changed after the bundle was made' })
  }
  const parts = new Set(manifest.hosts.flatMap((host) => host.dir === null ? [] : [host.dir.slice(FLEET_HOSTS_DIR.length + 1)]))
  for (const entry of await readdir(dir)) {
    if (entry === BUNDLE_FILES.manifest || manifest.files[entry] !== undefined) continue
    if (entry === FLEET_HOSTS_DIR && (await lstat(join(dir, entry))).isDirectory()) {
      for (const part of await readdir(join(dir, entry))) {
        if (!parts.has(part)) problem({ problem: 'file-unlisted', file: `${FLEET_HOSTS_DIR}/${part}`, detail: 'it is in the bundle but the fleet manifest lists no such host part: it was added after the bundle was made' })
      }
      continue
    }
    problem({ problem: 'file-unlisted', file: entry, detail: 'it is in the bundle but not in the manifest: it was added after the bundle was made' })
  }
  return finish()
}

function fleetManifestProblem (value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'it is not a JSON object'
  const m = value as Partial<FleetBundleManifest>
  if (m.version !== 1 || m.kind !== 'fleet') return `version ${JSON.stringify(m.version)} of kind ${JSON.stringify(m.kind)} is not a fleet bundle this portcullis reads (1, "fleet")`
  if (!Array.isArray(m.hosts)) return 'its host list is missing'
  if (m.files === null || typeof m.files !== 'object' || Array.isArray(m.files)) return 'its file list is missing'
  for (const path of Object.keys(m.files)) if (!/^[A-Za-z0-9._-]+$/.test(path) || path.startsWith('.')) return `it lists an unsafe path ${JSON.stringify(path)}`
  const seen = new Set<string>()
  for (const host of m.hosts as unknown[]) {
    const h = host as Partial<FleetBundleHost> | null
    if (h === null || typeof h !== 'object' || typeof h.hostId !== 'string' || !/^h-[0-9a-f]{16}$/.test(h.hostId)) return 'a host entry has no valid host ID'
    if (seen.has(h.hostId)) return `host ${h.hostId} is listed twice`
    seen.add(h.hostId)
    if (h.dir !== null && h.dir !== `${FLEET_HOSTS_DIR}/${h.hostId}`) return `host ${h.hostId}'s part is not at ${FLEET_HOSTS_DIR}/${h.hostId}`
    if (typeof h.name !== 'string') return `host ${h.hostId} has no name`
  }
  return null
}

async function sha256Of (dir: string, path: string): Promise<string | null> {
  const hash = createHash('sha256')
  try {
    for await (const chunk of readBundleChunks(dir, path)) hash.update(chunk)
  } catch {
    return null
  }
  return hash.digest('hex')
}

/** Verifies a bundle of either kind, a directory or a .tar.gz: a fleet bundle host by host, any other as
 * verifyBundle does. A --public-key names one host's key, so it is refused for a fleet bundle (each part carries
 * the key its host registered; compare the key IDs printed with the published ones). */
export async function verifyAnyBundle (path: string, options: VerifyBundleOptions = {}): Promise<BundleVerifyReport | FleetBundleVerifyReport> {
  return await withBundleDir<BundleVerifyReport | FleetBundleVerifyReport>(path, async (dir) => {
    if (!await isFleetBundle(dir)) return await verifyBundleDir(dir, options)
    if (options.publicKey !== undefined) throw new AuditError('PORTCULLIS_AUDIT_BUNDLE_FLEET_KEY', [path])
    return await verifyFleetBundleDir(dir)
  }, (damage) => ({ ok: false, records: 0, checkpoints: 0, sessions: 0, unanchored: [], problems: [damage], firstBad: damage }))
}
