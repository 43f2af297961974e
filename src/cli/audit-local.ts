// The audit commands' access to a store directory no daemon owns (--data DIR: a stopped daemon's, or a copy taken
// for a review). Reading opens it read-only, once, on first use; verify opens it for itself; a bundle opens it as
// its single writer, to sign a checkpoint and note the bundle.

import { createWriteStream } from 'node:fs'
import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { BundleSummary } from '../admin/audit-bundle-routes.js'
import { bundleSourceOf, prepareBundle } from '../audit/bundle-store.js'
import { writeBundle, type BundleOptions, type BundleResult } from '../audit/bundle.js'
import { AuditError } from '../audit/errors.js'
import { writeExport, type ExportFormat } from '../audit/export.js'
import type { AuditFilter } from '../audit/query.js'
import { openAuditReader, type AuditReader } from '../audit/reader.js'
import { findSession, listSessions, type ListSessionsOptions, type SessionSummary } from '../audit/sessions.js'
import { readAuditSigningKey, type AuditPublicKey } from '../audit/signing-key.js'
import { inspectStoreDir } from '../audit/store-dir.js'
import { AuditStore } from '../audit/store.js'
import { verifyDir, type VerifyReport } from '../audit/verify.js'
import { PortcullisError } from '../errors.js'
import { VERSION } from '../version.js'
import type { AuditAccess, BundleRequest } from './audit-access.js'
import { removingOnFailure, writeFileAtomically } from './bundle-out.js'

export class LocalAudit implements AuditAccess {
  #reader: Promise<AuditReader> | null = null

  constructor (private readonly dir: string, private readonly keysDir: string) {}

  async exportRecords (filter: AuditFilter, format: ExportFormat, out: Writable, onProgress?: (records: number) => void): Promise<number> {
    const reader = await this.#open()
    return await writeExport(reader.queryStored(filter), format, out, onProgress !== undefined ? { onProgress } : {})
  }

  async recordHash (seq: number): Promise<string | null> {
    for await (const record of (await this.#open()).read({ fromSeq: seq, toSeq: seq })) return record.hash
    return null
  }

  async verify (publicKeys: AuditPublicKey[] | undefined): Promise<VerifyReport> {
    await this.close()
    return await verifyDir(this.dir, { publicKeys })
  }

  async sessions (options: ListSessionsOptions): Promise<SessionSummary[]> {
    return await listSessions(await this.#open(), options)
  }

  async session (id: string): Promise<SessionSummary> {
    const session = await findSession(await this.#open(), id)
    if (session === null) throw new PortcullisError('PORTCULLIS_SESSION_NOT_FOUND', id)
    return session
  }

  async cast (id: string): Promise<AsyncIterable<string | Buffer>> {
    const chunks = (await this.#open()).readCast(id)[Symbol.asyncIterator]()
    const first = await chunks.next()
    if (first.done === true) {
      await this.session(id)
      throw new PortcullisError('PORTCULLIS_SESSION_NO_RECORDING', id)
    }
    return (async function * () {
      yield first.value
      for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) yield next.value
    })()
  }

  /** Opens the store itself (it must not be in use), bundles, notes the bundle, closes. */
  async bundle (request: BundleRequest): Promise<BundleSummary> {
    await this.close()
    // AuditStore.open would make an empty store at a mistyped path; a damaged one it refuses with its own code.
    if (inspectStoreDir(this.dir) === 'fresh') throw new AuditError('PORTCULLIS_AUDIT_NOT_FOUND', [this.dir])
    const key = readAuditSigningKey(this.keysDir)
    const store = await AuditStore.open(this.dir)
    try {
      const source = bundleSourceOf(store, key)
      const options: BundleOptions = { ...request.range, generator: `portcullis ${VERSION}` }
      let result: BundleResult
      if (request.archive) {
        const prepared = await prepareBundle(source, request.name, options)
        try {
          await writeFileAtomically(request.out, async (file) => { await pipeline(prepared.archive(), createWriteStream(file, { flags: 'wx' })) })
        } finally {
          await prepared.dispose()
        }
        result = prepared.result
      } else {
        result = await removingOnFailure(request.out, async () => await writeBundle(source, request.out, options))
      }
      await store.markBundled(result.manifest.range.toSeq)
      const { checkpoint } = result
      return {
        fromSeq: result.manifest.range.fromSeq,
        toSeq: result.manifest.range.toSeq,
        records: result.records,
        casts: result.casts,
        checkpoint: { seq: checkpoint.seq, time: checkpoint.time, keyId: checkpoint.keyId, hash: checkpoint.hash }
      }
    } finally {
      await store.close()
    }
  }

  async close (): Promise<void> {
    const reader = this.#reader
    this.#reader = null
    if (reader !== null) await (await reader.catch(() => null))?.close()
  }

  /** PORTCULLIS_AUDIT_LOCKED when a daemon owns the store, PORTCULLIS_AUDIT_NOT_FOUND when there is none there. */
  #open (): Promise<AuditReader> {
    this.#reader ??= openAuditReader(this.dir)
    return this.#reader
  }
}
