// GET /v1/audit/export: filtered records as JSON lines or CSV, streamed at the pace the client reads them, from
// one snapshot of the store (see src/audit/query.ts). `format=asciicast&session=ID` answers that session's
// recording exactly as stored, like /v1/audit/sessions/:id/cast.
//
// Query parameters: format (jsonl, the default, or csv), since, until (ISO 8601 or 90s/15m/8h/7d/4w back from
// now), user, project, container, action (glob), decision (allow|deny), session, fromSeq, toSeq.

import type { Request, RequestHandler, Response, Router } from 'express'
import { AuditError } from '../audit/errors.js'
import { EXPORT_CONTENT_TYPES, drained, isExportFormat, writeExport } from '../audit/export.js'
import { isSessionId } from '../audit/keys.js'
import { FILTER_PARAMS, filterFromParams, type AuditFilter, type FilterParam } from '../audit/query.js'
import { findSession } from '../audit/sessions.js'
import type { AuditStore } from '../audit/store.js'
import { PortcullisError } from '../errors.js'
import type { ReadHandler } from './audit-read-record.js'

/** Set on every record export, so a client can tell its filter was applied (a daemon from before filters
 * would ignore the parameters and send everything). */
export const EXPORT_FILTER_HEADER = 'Portcullis-Export-Filter'

export function addAuditExportRoute (router: Router, deps: { audit: AuditStore }, recorded: (route: string, handler: ReadHandler) => RequestHandler): void {
  router.get('/export', recorded('export', async (req, res, count) => {
    const format = typeof req.query.format === 'string' && req.query.format !== '' ? req.query.format : 'jsonl'
    if (format === 'asciicast') {
      await sendCast(deps.audit, req, res)
      return
    }
    if (!isExportFormat(format)) {
      res.status(400).json({ error: `unknown format ${JSON.stringify(format)}: use jsonl, csv or asciicast`, code: 'PORTCULLIS_USAGE' })
      return
    }
    let filter: AuditFilter
    try {
      filter = filterFromParams(queryParams(req), new Date())
    } catch (err) {
      if (!(err instanceof AuditError)) throw err
      res.status(400).json({ error: err.message, code: err.code })
      return
    }
    res.setHeader('Content-Type', EXPORT_CONTENT_TYPES[format])
    res.setHeader(EXPORT_FILTER_HEADER, '1')
    count.records = await writeExport(deps.audit.queryStored(filter), format, res)
    if (!res.destroyed) res.end()
  }))
}

function queryParams (req: Request): Partial<Record<FilterParam, string>> {
  const params: Partial<Record<FilterParam, string>> = {}
  for (const name of FILTER_PARAMS) {
    const value = req.query[name]
    if (typeof value === 'string') params[name] = value
  }
  return params
}

async function sendCast (audit: AuditStore, req: Request, res: Response): Promise<void> {
  const id = req.query.session
  if (typeof id !== 'string' || !isSessionId(id)) {
    const err = new PortcullisError('PORTCULLIS_SESSION_ID_INVALID', JSON.stringify(id ?? ''))
    res.status(400).json({ error: err.message, code: err.code })
    return
  }
  const chunks = audit.readCast(id)[Symbol.asyncIterator]()
  let next = await chunks.next()
  if (next.done === true) {
    const err = new PortcullisError((await findSession(audit, id)) === null ? 'PORTCULLIS_SESSION_NOT_FOUND' : 'PORTCULLIS_SESSION_NO_RECORDING', id)
    res.status(404).json({ error: err.message, code: err.code })
    return
  }
  res.setHeader('Content-Type', 'application/x-asciicast')
  try {
    while (next.done !== true) {
      if (res.destroyed) return
      if (!res.write(next.value) && !await drained(res)) return
      next = await chunks.next()
    }
    res.end()
  } finally {
    // The client went away (or a read failed): close the LevelDB iterator now rather than at garbage collection.
    if (next.done !== true) await chunks.return?.()
  }
}
