// A bundle's manifest, and every file against it: listed files there with their hashes, nothing added.

import { createHash } from 'node:crypto'
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { BUNDLE_FILES, type BundleManifest } from './bundle.js'
import { entryProblem, readBundleChunks, readBundleText } from './bundle-files.js'
import { reportedEntry, type BundleIssue } from './bundle-verify-issues.js'
import { messageOf } from './errors.js'

export async function readManifest (dir: string, problem: (issue: BundleIssue) => void): Promise<BundleManifest | null> {
  let text: string
  try {
    text = await readBundleText(dir, BUNDLE_FILES.manifest)
  } catch (err) {
    if (reportedEntry(err, problem)) return null
    problem({ problem: 'manifest-invalid', file: BUNDLE_FILES.manifest, detail: 'there is no manifest.json: this is not an evidence bundle, or not its top directory' })
    return null
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    problem({ problem: 'manifest-invalid', file: BUNDLE_FILES.manifest, detail: `it is not JSON (${messageOf(err)})` })
    return null
  }
  const why = manifestProblem(value)
  if (why !== null) {
    problem({ problem: 'manifest-invalid', file: BUNDLE_FILES.manifest, detail: why })
    return null
  }
  return value as BundleManifest
}

function manifestProblem (value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'it is not a JSON object'
  const m = value as Partial<BundleManifest>
  if (m.version !== 1) return `version ${JSON.stringify(m.version)} is not one this portcullis reads (1)`
  const range = m.range
  if (range === undefined || !Number.isSafeInteger(range.fromSeq) || !Number.isSafeInteger(range.toSeq) || range.fromSeq < 1 || range.toSeq < range.fromSeq) return 'its range is missing or malformed'
  if (m.chain === undefined || !isHash(m.chain.firstPrevHash) || !isHash(m.chain.lastHash)) return 'its chain hashes are missing or malformed'
  if (m.files === undefined || m.files === null || typeof m.files !== 'object') return 'its file list is missing'
  for (const [path, entry] of Object.entries(m.files)) {
    if (!isSafeBundlePath(path)) return `it lists an unsafe path ${JSON.stringify(path)}`
    if (entry === null || typeof entry !== 'object' || !isHash(entry.sha256) || !Number.isSafeInteger(entry.bytes)) return `its entry for ${path} is malformed`
  }
  return null
}

/** Every listed file is there with its hash; every required file is listed; nothing else was added. */
export async function checkFiles (dir: string, manifest: BundleManifest, problem: (issue: BundleIssue) => void): Promise<void> {
  for (const required of [BUNDLE_FILES.records, BUNDLE_FILES.checkpoints, BUNDLE_FILES.publicKey]) {
    if (manifest.files[required] === undefined) problem({ problem: 'file-missing', file: BUNDLE_FILES.manifest, detail: `the manifest does not list ${required}, which every bundle has` })
  }
  for (const [path, expected] of Object.entries(manifest.files)) {
    let actual
    try {
      actual = await hashBundleFile(dir, path)
    } catch (err) {
      if (reportedEntry(err, problem)) continue
      problem({ problem: 'file-missing', file: path, detail: 'the manifest lists it but it is not in the bundle' })
      continue
    }
    if (actual.sha256 !== expected.sha256 || actual.bytes !== expected.bytes) {
      problem({ problem: 'file-mismatch', file: path, detail: `its sha256 (${actual.bytes} bytes) differs from the manifest's (${expected.bytes} bytes): it was changed after the bundle was made` })
    }
  }
  for (const path of await listFiles(dir, problem)) {
    if (path !== BUNDLE_FILES.manifest && manifest.files[path] === undefined) {
      problem({ problem: 'file-unlisted', file: path, detail: 'it is in the bundle but not in the manifest: it was added after the bundle was made' })
    }
  }
}

/** Regular files under `dir`, as '/'-separated relative paths; links and special files are reported, not listed
 * or entered. */
async function listFiles (dir: string, problem: (issue: BundleIssue) => void, prefix = ''): Promise<string[]> {
  const found: string[] = []
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`
    if (entry.isDirectory()) {
      found.push(...await listFiles(dir, problem, path))
      continue
    }
    const why = entryProblem(await lstat(join(dir, path)))
    if (why !== null) problem({ problem: why.problem === 'missing' ? 'file-missing' : why.problem, file: path, detail: why.detail })
    else found.push(path)
  }
  return found
}

async function hashBundleFile (dir: string, path: string): Promise<{ sha256: string, bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of readBundleChunks(dir, path)) {
    hash.update(chunk)
    bytes += chunk.length
  }
  return { sha256: hash.digest('hex'), bytes }
}

function isHash (value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)
}

function isSafeBundlePath (path: string): boolean {
  return path !== '' && !path.startsWith('/') && !path.includes('\\') && !path.includes('\u0000') && path.split('/').every((part) => part !== '' && part !== '.' && part !== '..')
}
