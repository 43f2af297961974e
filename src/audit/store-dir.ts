// What is in the directory an audit store is opened in, looked at before LevelDB touches it. LevelDB opened with
// createIfMissing on a directory that lost its CURRENT file writes a new MANIFEST and deletes the tables it does not
// know: every record in them. So a store is only ever created in an empty directory, and a store's files are
// private to the user portcullis runs as, whatever the umask.

import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { AuditError, messageOf } from './errors.js'
import { HEAD_FILE, HEAD_FILE_TEMP, readHeadFile } from './head-file.js'
import { RECORDINGS_DIR } from './recordings.js'

/** Left in a directory by a LevelDB open that never got as far as CURRENT, or by mkfs: nothing that holds records. */
const HARMLESS = new Set(['LOCK', 'LOG', 'LOG.old', 'lost+found'])
/** The files LevelDB writes: tables, write-ahead logs, manifests, its lock and its info log. */
const LEVELDB_FILE = /^(?:CURRENT|LOCK|LOG(?:\.old)?|MANIFEST-\d+|\d+\.(?:log|ldb|sst|dbtmp))$/
/** The store's own files beside LevelDB's: its write journal and its head file (head-file.ts). */
const STORE_FILES = new Set(['journal', HEAD_FILE, HEAD_FILE_TEMP, RECORDINGS_DIR])

export type StoreDirState = 'store' | 'fresh'

/** Shown in messages: the first few names and how many more. */
function listNames (names: string[]): string {
  const shown = names.slice(0, 8).join(', ')
  return names.length > 8 ? `${shown} and ${names.length - 8} more` : shown
}

function accessError (dir: string, err: unknown): AuditError | null {
  const code = (err as { code?: unknown }).code
  if (code === 'EACCES' || code === 'EPERM') return new AuditError('PORTCULLIS_AUDIT_NO_ACCESS', [dir, messageOf(err)], { cause: err })
  return null
}

/**
 * 'store' when `dir` holds a store (its CURRENT file), 'fresh' when it is missing or empty (bar HARMLESS names).
 * Throws PORTCULLIS_AUDIT_EMPTIED when all it holds of a store is HEAD.json (the records are gone),
 * PORTCULLIS_AUDIT_DAMAGED when it holds store files but no CURRENT, PORTCULLIS_AUDIT_NOT_A_STORE when it
 * holds anything else, PORTCULLIS_AUDIT_NO_ACCESS when it cannot be read.
 */
export function inspectStoreDir (dir: string): StoreDirState {
  let names: string[]
  try {
    if (!statSync(dir).isDirectory()) throw new AuditError('PORTCULLIS_AUDIT_NOT_A_STORE', [dir, 'it is a file'])
    names = readdirSync(dir).sort()
  } catch (err) {
    if (err instanceof AuditError) throw err
    if ((err as { code?: unknown }).code === 'ENOENT') return 'fresh'
    throw accessError(dir, err) ?? new AuditError('PORTCULLIS_AUDIT_OPEN_FAILED', [dir, messageOf(err)], { cause: err })
  }
  if (names.includes('CURRENT')) return 'store'
  const found = names.filter((name) => !HARMLESS.has(name))
  if (found.length === 0) return 'fresh'
  const storeFiles = found.filter((name) => LEVELDB_FILE.test(name) || STORE_FILES.has(name))
  if (storeFiles.length === 1 && storeFiles[0] === HEAD_FILE) {
    const head = readHeadFile(dir)
    const names = head === null || 'unreadable' in head ? 'records it cannot name (HEAD.json is unreadable)' : `record ${head.seq}, written at the ${head.event} at ${head.time}`
    throw new AuditError('PORTCULLIS_AUDIT_EMPTIED', [dir, names])
  }
  if (storeFiles.length > 0) throw new AuditError('PORTCULLIS_AUDIT_DAMAGED', [dir, listNames(found)])
  throw new AuditError('PORTCULLIS_AUDIT_NOT_A_STORE', [dir, listNames(found)])
}

/** Makes the store's directory, private, if it is missing. */
export function makeStoreDir (dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw accessError(dir, err) ?? new AuditError('PORTCULLIS_AUDIT_OPEN_FAILED', [dir, messageOf(err)], { cause: err })
  }
}

/**
 * Takes group and other access away from the directory and every file in it (0700 and 0600 at most), and answers
 * what it changed, as `name: 0644 -> 0600`. Run at every start: a store copied in, restored from a backup, or
 * written by an older portcullis under umask 022 is made private before anything is added to it.
 */
export function makeStorePrivate (dir: string): string[] {
  const changed: string[] = []
  const tighten = (path: string, name: string): void => {
    const mode = statSync(path).mode & 0o7777
    if ((mode & 0o077) === 0) return
    const next = mode & ~0o077
    chmodSync(path, next)
    changed.push(`${name}: ${mode.toString(8).padStart(4, '0')} -> ${next.toString(8).padStart(4, '0')}`)
  }
  try {
    tighten(dir, '.')
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isFile() || entry.isDirectory()) tighten(join(dir, entry.name), entry.name)
    }
    // Session recordings hold what was typed and shown: their directory and every file in it too.
    const recordings = join(dir, RECORDINGS_DIR)
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name !== RECORDINGS_DIR || !entry.isDirectory()) continue
      for (const file of readdirSync(recordings, { withFileTypes: true })) {
        if (file.isFile() || file.isDirectory()) tighten(join(recordings, file.name), `${RECORDINGS_DIR}/${file.name}`)
      }
    }
  } catch (err) {
    throw accessError(dir, err) ?? new AuditError('PORTCULLIS_AUDIT_OPEN_FAILED', [dir, messageOf(err)], { cause: err })
  }
  return changed
}
