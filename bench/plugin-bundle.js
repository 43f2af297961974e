// The managed-plugin bundle (plugin/config.json + plugin/rootfs, made by scripts/build-plugin.sh): rebuilt when
// it is missing or older than dist/ or the manifest, copied into the run's temp dir (so a rebuild started by
// someone else during the run cannot change what is measured), and measured.

import { execFile } from 'node:child_process'
import { cp, lstat, readdir } from 'node:fs/promises'
import { existsSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { killPids, onProcessEnd } from './cleanup.js'
import { REPO_ROOT } from './portcullis.js'

const BUNDLE_DIR = path.join(REPO_ROOT, 'plugin')
const BUILD_SCRIPT = path.join(REPO_ROOT, 'scripts', 'build-plugin.sh')
const BUILD_TIMEOUT_MS = 10 * 60_000

/** Parts of the rootfs reported on their own; everything else (shared libraries, /etc) is "the rest". */
const PARTS = {
  'node runtime': 'usr/local/bin/node',
  node_modules: 'opt/portcullis/node_modules',
  dist: 'opt/portcullis/dist'
}

/** Runs scripts/build-plugin.sh unless plugin/ already holds a bundle of the current dist/ and manifest. */
export async function ensurePluginBundle (progress) {
  const stale = whyStale()
  if (stale === null) return { built: false }
  progress(`building the managed-plugin bundle (${stale}): bash scripts/build-plugin.sh`)
  const started = Date.now()
  await new Promise((resolve, reject) => {
    const child = execFile('bash', [BUILD_SCRIPT], { cwd: REPO_ROOT, timeout: BUILD_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      cancelSafetyNet()
      if (err) reject(new Error(`scripts/build-plugin.sh failed: ${err.message}\n${stdout}${stderr}`))
      else resolve()
    })
    const cancelSafetyNet = onProcessEnd(() => killPids([child.pid]))
  })
  const again = whyStale()
  if (again !== null) throw new Error(`scripts/build-plugin.sh finished but the bundle is still unusable (${again}); run it by hand to see why`)
  return { built: true, buildMs: Date.now() - started }
}

/** Why plugin/ cannot be used as it is, or null when it is a bundle of the current build. */
function whyStale () {
  const markers = ['config.json', 'rootfs/usr/local/bin/node', 'rootfs/opt/portcullis/dist/cli.js']
  const missing = markers.find((marker) => !existsSync(path.join(BUNDLE_DIR, marker)))
  if (missing !== undefined) return `plugin/${missing} is missing`
  // The build script copies without keeping times, so the copies are as new as the build.
  const builtAt = Math.min(...markers.map((marker) => statSync(path.join(BUNDLE_DIR, marker)).mtimeMs))
  const newest = Math.max(newestMtimeUnder(path.join(REPO_ROOT, 'dist')), statSync(path.join(REPO_ROOT, 'config.json')).mtimeMs)
  return newest > builtAt ? 'dist/ or config.json is newer than plugin/rootfs' : null
}

function newestMtimeUnder (dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath ?? entry.path, entry.name)).mtimeMs)
  }
  return newest
}

/** Copies plugin/config.json and plugin/rootfs to `toDir`, keeping modes and links; resolves with `toDir`. */
export async function copyPluginBundle (toDir) {
  try {
    await cp(path.join(BUNDLE_DIR, 'config.json'), path.join(toDir, 'config.json'))
    await cp(path.join(BUNDLE_DIR, 'rootfs'), path.join(toDir, 'rootfs'), { recursive: true, preserveTimestamps: true, verbatimSymlinks: true })
  } catch (err) {
    throw new Error(`could not copy plugin/ (${err.message}); if something else was rebuilding it (make plugin, the managed-plugin e2e test), run the bench again when it is done`)
  }
  if (!existsSync(path.join(toDir, 'rootfs', 'usr', 'local', 'bin', 'node')) || !existsSync(path.join(toDir, 'rootfs', 'opt', 'portcullis', 'dist', 'cli.js'))) {
    throw new Error('plugin/rootfs changed while it was copied (make plugin or the managed-plugin e2e test rebuilding it?); run the bench again when that is done')
  }
  return toDir
}

/**
 * Size of a rootfs: bytes on disk (what `du` counts, each hard link once), bytes of file data, the number of
 * files, and the on-disk bytes of each of PARTS.
 */
export async function bundleSize (rootfs) {
  const seen = new Set()
  const total = { diskBytes: 0, apparentBytes: 0, files: 0 }
  const parts = Object.fromEntries(Object.keys(PARTS).map((name) => [name, 0]))
  const walk = async (dir) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name)
      const stat = await lstat(file)
      if (seen.has(stat.ino)) continue
      seen.add(stat.ino)
      const disk = stat.blocks * 512
      total.diskBytes += disk
      if (entry.isFile()) {
        total.files++
        total.apparentBytes += stat.size
      }
      const relative = path.relative(rootfs, file)
      for (const [name, prefix] of Object.entries(PARTS)) {
        if (relative === prefix || relative.startsWith(prefix + '/')) parts[name] += disk
      }
      if (entry.isDirectory()) await walk(file)
    }
  }
  await walk(rootfs)
  return { ...total, parts }
}
