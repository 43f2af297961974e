// Admin routes for evidence bundles. The daemon owns the store, so it collects the bundle (into a temporary
// directory, since tar needs each file's size before its content) and streams it back as a .tar.gz; the CLI
// writes or unpacks it and then confirms, so a range counts as bundled only once a bundle of it exists.

import { pipeline } from 'node:stream/promises'
import type express from 'express'
import type { Request, RequestHandler, Response, Router } from 'express'
import type { Logger } from 'pino'
import { archiveName, bundleSourceOf, prepareBundle } from '../audit/bundle-store.js'
import type { BundleOptions } from '../audit/bundle.js'
import { parseTimeBound } from '../audit/query.js'
import type { AuditSigningKey } from '../audit/signing-key.js'
import type { AuditStore } from '../audit/store.js'
import { PortcullisError } from '../errors.js'
import type { ReadHandler } from './audit-read-record.js'
import { adminCallerFields } from './peer-identity.js'

export interface AuditBundleDeps {
  audit: AuditStore
  logger: Logger
  version: string
  /** The daemon's checkpoint key; null when it has none (bundles then answer 503: they need a signature). */
  auditKey?: AuditSigningKey | null
}

/** What the bundle route tells the CLI, as JSON in this header, before the archive. */
export const BUNDLE_SUMMARY_HEADER = 'x-portcullis-bundle'

export interface BundleSummary {
  fromSeq: number
  toSeq: number
  records: number
  casts: number
  checkpoint: { seq: number, time: string, keyId: string, hash: string }
}

/** Answers for errors a caller can act on; anything else goes to the app's error handler (500). */
const STATUS_OF: Record<string, number> = {
  PORTCULLIS_AUDIT_FILTER_INVALID: 400,
  PORTCULLIS_AUDIT_INVALID_INPUT: 400,
  PORTCULLIS_AUDIT_BUNDLE_EMPTY: 404,
  PORTCULLIS_AUDIT_NO_RECORD: 404,
  PORTCULLIS_AUDIT_CHAIN_BROKEN: 409,
  PORTCULLIS_AUDIT_BUNDLE_CHAIN_BROKEN: 409,
  PORTCULLIS_AUDIT_CORRUPT: 409,
  PORTCULLIS_AUDIT_CLOSED: 503,
  PORTCULLIS_AUDIT_UNAVAILABLE: 503,
  PORTCULLIS_AUDIT_RECOVERY_REFUSED: 503,
  PORTCULLIS_AUDIT_REPORT_ASSETS: 503
}

/** POST /bundle: a read of the trail, served to root and to auditors alike. */
export function addAuditBundleRoute (router: Router, deps: AuditBundleDeps, recorded: (route: string, handler: ReadHandler) => RequestHandler): void {
  // ?since=&until= (ISO 8601 or 7d-style), ?fromSeq=&toSeq=, ?name= (the archive's top directory).
  router.post('/bundle', recorded('bundle', async (req, res, count) => {
    if (deps.auditKey == null) {
      refuse(res, 503, new PortcullisError('PORTCULLIS_AUDIT_NO_SIGNING_KEY', 'the daemon log says why'))
      return
    }
    let prepared
    try {
      const options = bundleOptions(req, deps.version)
      prepared = await prepareBundle(bundleSourceOf(deps.audit, deps.auditKey, deps.logger), archiveName(stringParam(req, 'name')), options)
    } catch (err) {
      const code = (err as { code?: unknown }).code
      const status = typeof code === 'string' ? STATUS_OF[code] : undefined
      if (status === undefined) throw err
      res.status(status).json({ error: (err as Error).message, code })
      return
    }
    const { result } = prepared
    const summary: BundleSummary = {
      fromSeq: result.manifest.range.fromSeq,
      toSeq: result.manifest.range.toSeq,
      records: result.records,
      casts: result.casts,
      checkpoint: { seq: result.checkpoint.seq, time: result.checkpoint.time, keyId: result.checkpoint.keyId, hash: result.checkpoint.hash }
    }
    count.records = result.records
    try {
      res.status(200)
      res.setHeader('Content-Type', 'application/gzip')
      res.setHeader(BUNDLE_SUMMARY_HEADER, JSON.stringify(summary))
      await pipeline(prepared.archive(), res)
      deps.logger.info({ bundle: summary }, 'audit bundle sent')
    } catch (err) {
      // The client went away, or a file could not be read: the archive is cut short, which its reader notices.
      deps.logger.warn({ err, bundle: summary }, 'audit bundle not sent in full')
      if (!res.destroyed) res.destroy()
    } finally {
      await prepared.dispose()
    }
  }))
}

/** POST /v1/audit/bundled: root's only. An auditor's bundle is theirs and does not let retention remove records. */
export function addAuditBundledRoute (app: express.Express, deps: { audit: AuditStore }): void {
  // The CLI has written the bundle of records up to ?toSeq=N: retention may now remove them once they are old.
  app.post('/v1/audit/bundled', async (req, res) => {
    const toSeq = stringParam(req, 'toSeq')
    if (toSeq === undefined || !/^\d+$/.test(toSeq)) {
      res.status(400).json({ error: 'toSeq must be a record sequence number', code: 'PORTCULLIS_USAGE' })
      return
    }
    try {
      const bundledSeq = await deps.audit.markBundled(Number(toSeq))
      // Marking lets retention remove these records once old: the trail says who marked them, before the answer.
      await deps.audit.append({
        kind: 'system',
        action: 'audit.bundled',
        reason: `records up to ${bundledSeq} marked as held by a bundle, through the admin socket`,
        fields: { toSeq: Number(toSeq), bundledSeq, via: 'admin-socket', ...await adminCallerFields(req) }
      })
      res.json({ bundledSeq })
    } catch (err) {
      const code = (err as { code?: unknown }).code
      if (code !== 'PORTCULLIS_AUDIT_INVALID_INPUT') throw err
      res.status(400).json({ error: (err as Error).message, code })
    }
  })
}

function bundleOptions (req: Request, version: string): BundleOptions {
  const now = new Date()
  const options: BundleOptions = { generator: `portcullis ${version}` }
  const since = stringParam(req, 'since')
  const until = stringParam(req, 'until')
  if (since !== undefined) options.since = parseTimeBound(since, now, 'since')
  if (until !== undefined) options.until = parseTimeBound(until, now, 'until')
  for (const name of ['fromSeq', 'toSeq'] as const) {
    const value = stringParam(req, name)
    if (value === undefined) continue
    if (!/^\d+$/.test(value)) throw new PortcullisError('PORTCULLIS_AUDIT_FILTER_INVALID', name, 'use a record sequence number')
    options[name] = Number(value)
  }
  return options
}

function refuse (res: Response, status: number, err: PortcullisError): void {
  res.status(status).json({ error: err.message, code: err.code })
}

function stringParam (req: Request, name: string): string | undefined {
  const raw = req.query[name]
  return typeof raw === 'string' && raw !== '' ? raw : undefined
}
