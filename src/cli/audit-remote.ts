// The audit commands' access to the running daemon, through its admin socket or, for auditors, its API (src/admin/client.ts).

import { createWriteStream } from 'node:fs'
import type http from 'node:http'
import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { BUNDLE_SUMMARY_HEADER, type BundleSummary } from '../admin/audit-bundle-routes.js'
import { EXPORT_FILTER_HEADER } from '../admin/audit-export-route.js'
import { adminJson, adminRequest, answerError, type AdminEndpoint } from '../admin/client.js'
import { messageOf } from '../audit/errors.js'
import { drained, type ExportFormat } from '../audit/export.js'
import { filterToParams, filtersRecords, type AuditFilter } from '../audit/query.js'
import type { AuditRecord } from '../audit/record.js'
import type { ListSessionsOptions, SessionSummary } from '../audit/sessions.js'
import { extractTar } from '../audit/tar.js'
import type { VerifyReport } from '../audit/verify.js'
import { PortcullisError, type ErrorCode } from '../errors.js'
import type { AuditAccess, BundleRequest } from './audit-access.js'
import { removingOnFailure, writeFileAtomically } from './bundle-out.js'
import { ExportRecordCounter } from './export-progress.js'

export class RemoteAudit implements AuditAccess {
  constructor (private readonly socket: AdminEndpoint) {}

  async exportRecords (filter: AuditFilter, format: ExportFormat, out: Writable, onProgress?: (records: number) => void): Promise<number> {
    const params = filterToParams(filter)
    params.set('format', format)
    const res = await adminRequest(this.socket, 'GET', `/v1/audit/export?${params.toString()}`)
    if (res.statusCode !== 200) throw await answerError(res)
    // A daemon from before filters ignores them and would send every record, as JSON lines.
    if ((filtersRecords(filter) || format !== 'jsonl') && res.headers[EXPORT_FILTER_HEADER.toLowerCase()] === undefined) {
      res.destroy()
      throw new PortcullisError('PORTCULLIS_ADMIN_REQUEST', '200', 'the running daemon is older than this command and cannot filter or write CSV; restart `portcullis serve` (or export with --data DIR while it is stopped)')
    }
    const counter = new ExportRecordCounter(format)
    try {
      for await (const chunk of res) {
        if (out.destroyed) break
        const more = out.write(chunk)
        const records = counter.add(chunk as Buffer)
        onProgress?.(records)
        if (!more && !await drained(out)) break
      }
    } catch (err) {
      // The daemon hung up mid-way: what was written is a cut-off export, and must not pass for a whole one.
      throw new PortcullisError('PORTCULLIS_AUDIT_EXPORT_CUT', String(counter.records), messageOf(err))
    }
    return counter.records
  }

  async recordHash (seq: number): Promise<string | null> {
    const res = await adminRequest(this.socket, 'GET', `/v1/audit/export?fromSeq=${seq}&toSeq=${seq}`)
    let body = ''
    for await (const chunk of res) body += String(chunk)
    const line = body.split('\n').find((l) => l !== '')
    return line === undefined ? null : (JSON.parse(line) as AuditRecord).hash
  }

  async verify (): Promise<VerifyReport> {
    return (await adminJson<VerifyReport>(this.socket, 'GET', '/v1/audit/verify')).body
  }

  async sessions (options: ListSessionsOptions): Promise<SessionSummary[]> {
    const query = new URLSearchParams({ limit: String(options.limit ?? 50) })
    if (options.user !== undefined) query.set('user', options.user)
    if (options.container !== undefined) query.set('container', options.container)
    return (await adminJson<SessionSummary[]>(this.socket, 'GET', `/v1/audit/sessions?${query.toString()}`)).body
  }

  async session (id: string): Promise<SessionSummary> {
    const { status, body } = await adminJson<SessionSummary>(this.socket, 'GET', `/v1/audit/sessions/${id}`, [200, 404])
    if (status === 404) throw new PortcullisError('PORTCULLIS_SESSION_NOT_FOUND', id)
    return body
  }

  async cast (id: string): Promise<AsyncIterable<string | Buffer>> {
    const res = await adminRequest(this.socket, 'GET', `/v1/audit/sessions/${id}/cast`)
    if (res.statusCode !== 200) throw await sessionRefusal(res, id)
    return res
  }

  /** Has the daemon collect the bundle, writes or unpacks what it streams, then tells it the bundle exists. */
  async bundle (request: BundleRequest): Promise<BundleSummary> {
    const { range, out } = request
    const query = new URLSearchParams({ name: request.name })
    if (range.since !== undefined) query.set('since', range.since.toISOString())
    if (range.until !== undefined) query.set('until', range.until.toISOString())
    if (range.fromSeq !== undefined) query.set('fromSeq', String(range.fromSeq))
    if (range.toSeq !== undefined) query.set('toSeq', String(range.toSeq))
    if (process.stderr.isTTY) process.stderr.write('portcullis: the daemon is collecting the bundle...\n')
    const res = await adminRequest(this.socket, 'POST', `/v1/audit/bundle?${query.toString()}`)
    if (res.statusCode !== 200) throw await answerError(res)
    const header = res.headers[BUNDLE_SUMMARY_HEADER]
    const summary = JSON.parse(typeof header === 'string' ? header : '{}') as BundleSummary
    if (request.archive) {
      await writeFileAtomically(out, async (file) => { await pipeline(res, createWriteStream(file, { flags: 'wx' })) })
    } else {
      await removingOnFailure(out, async () => await extractTar(res.pipe(createGunzip()), out, { stripTopDirectory: true }))
    }
    // Only root's bundles let retention remove records: an auditor's copy is theirs, outside the host's custody.
    if (typeof this.socket === 'string') await adminJson(this.socket, 'POST', `/v1/audit/bundled?toSeq=${summary.toSeq}`)
    return summary
  }

  async close (): Promise<void> {}
}

/** The error a session answer other than 200 stands for: the session's own when the daemon named one of those,
 * else the raw answer. */
async function sessionRefusal (res: http.IncomingMessage, id: string): Promise<PortcullisError> {
  const parts: Buffer[] = []
  for await (const part of res) parts.push(part as Buffer)
  const text = Buffer.concat(parts).toString('utf8')
  let code: unknown
  try {
    code = (JSON.parse(text) as { code?: unknown }).code
  } catch {}
  if (code === 'PORTCULLIS_SESSION_NOT_FOUND' || code === 'PORTCULLIS_SESSION_NO_RECORDING' || code === 'PORTCULLIS_SESSION_ID_INVALID') {
    return new PortcullisError(code as ErrorCode, id)
  }
  return new PortcullisError('PORTCULLIS_ADMIN_REQUEST', String(res.statusCode), text)
}
