// Bundles of an open AuditStore: the daemon's (through the admin socket) or one `audit bundle --data` opened on a
// store no daemon runs. Writing the checkpoint and the bundled mark needs the store's single writer, which is why
// a bundle is never made from a read-only copy.

import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { bundleArchive, bundleFileList, writeBundle, type BundleOptions, type BundleResult, type BundleSource } from './bundle.js'
import { readCheckpoints, signCheckpoint } from './checkpoints.js'
import { seqAtOrAfter } from './query.js'
import type { AuditSigningKey } from './signing-key.js'
import { auditDatabase, type AuditStore } from './store.js'

export function bundleSourceOf (store: AuditStore, key: AuditSigningKey, logger?: Logger): BundleSource {
  return {
    head: () => store.head(),
    async firstSeq () {
      for await (const record of store.read({ limit: 1 })) return record.seq
      return store.head().seq + 1
    },
    readStored: (fromSeq, toSeq) => store.queryStored({ fromSeq, toSeq }),
    readCast: (sessionId) => store.readCast(sessionId),
    readRecordingFile: async (sessionId) => await store.readRecordingFile(sessionId),
    seqAtOrAfter: async (time) => await seqAtOrAfter(auditDatabase(store), time),
    checkpoints: (fromSeq, toSeq) => readCheckpoints(auditDatabase(store), { fromSeq, toSeq }),
    signCheckpoint: async (seq) => await signCheckpoint(store, key, { seq, ...(logger !== undefined ? { logger } : {}) }),
    publicKey: key
  }
}

/** A bundle written to a temporary directory, ready to be sent as a .tar.gz. */
export interface PreparedBundle {
  result: BundleResult
  /** The .tar.gz, entries under `name/`; read it once. */
  archive: () => Readable
  /** Removes the temporary directory. */
  dispose: () => Promise<void>
}

/** Writes a bundle under the system's temporary directory (TMPDIR); dispose() removes it. */
export async function prepareBundle (source: BundleSource, name: string, options: BundleOptions): Promise<PreparedBundle> {
  const parent = await mkdtemp(join(tmpdir(), 'portcullis-bundle-'))
  const dispose = async (): Promise<void> => { await rm(parent, { recursive: true, force: true }) }
  try {
    const dir = join(parent, 'bundle')
    const result = await writeBundle(source, dir, options)
    const mtime = new Date(result.manifest.created)
    return { result, archive: () => bundleArchive(dir, name, bundleFileList(result.manifest), mtime), dispose }
  } catch (err) {
    await dispose()
    throw err
  }
}

/** A name for the archive's top directory: letters, digits, `.`, `_`, `-`; a default otherwise. */
export function archiveName (wanted: string | undefined): string {
  return wanted !== undefined && /^[A-Za-z0-9._-]{1,100}$/.test(wanted) && !/^\.+$/.test(wanted) ? wanted : 'portcullis-audit-bundle'
}

/** Whether `path` is free for a bundle directory: missing, or an empty directory. */
export async function isFreeDirectory (path: string): Promise<boolean> {
  try {
    const info = await stat(path)
    return info.isDirectory() && (await readdir(path)).length === 0
  } catch {
    return true
  }
}
