// The routes that read the audit trail, written once and served through two front doors: the admin socket (root on
// the host, known by the kernel's word) and the elevation API (auditors, by token). Only `identify` differs; every
// route is recorded by recordedRead (audit-read-record.ts) before it sends anything.

import express, { type Request, type Response } from 'express'
import type { Logger } from 'pino'
import type { AuditRecord } from '../audit/record.js'
import { isSessionId } from '../audit/keys.js'
import type { AuditSigningKey } from '../audit/signing-key.js'
import type { AuditStore } from '../audit/store.js'
import { findSession, listSessions, openSessionIds } from '../audit/sessions.js'
import { PortcullisError } from '../errors.js'
import { sendError } from '../http-errors.js'
import { tailFilterFromQuery, tailMatcher } from '../audit/tail-filter.js'
import { addAuditBundleRoute } from './audit-bundle-routes.js'
import { addAuditExportRoute } from './audit-export-route.js'
import { recordedRead, type IdentifyReader, type RecordedReadDeps } from './audit-read-record.js'

export interface AuditReadDeps extends RecordedReadDeps {
  audit: AuditStore
  logger: Logger
  version: string
  /** The daemon's checkpoint key: verify checks with it, bundles are signed by it. */
  auditKey?: AuditSigningKey | null
}

/** asciinema's media type for asciicast files. */
const CAST_CONTENT_TYPE = 'application/x-asciicast'
const MAX_SESSIONS = 10_000
/** How far back a filtered tail reads looking for n matching records. */
const MAX_TAIL_SCAN = 100_000
/** The most records one tail returns at once (`-n`); more is an export's job. */
const MAX_TAIL = 10_000
/** A follower that reads slower than records come in is cut off once this much waits for it, not buffered without end. */
const MAX_FOLLOW_BACKLOG = 8 * 1024 * 1024
/** How many records the tail's filter hid (own look-ups, housekeeping, pings) among those it read. */
const HIDDEN_HEADER = 'X-Portcullis-Hidden'

/** The read routes, to mount under /v1/audit. */
export function auditReadRouter (deps: AuditReadDeps, identify: IdentifyReader): express.Router {
  const router = express.Router()
  const recorded = recordedRead(deps, identify)

  router.get('/tail', recorded('tail', async (req, res, count) => {
    const n = Math.min(intParam(req, 'n', 20), MAX_TAIL)
    const follow = req.query.follow === 'true' || req.query.follow === '1'
    const filter = tailFilterFromQuery(req.query)
    if (typeof filter === 'string') {
      sendError(res, new PortcullisError('PORTCULLIS_AUDIT_FILTER_INVALID', 'decision', filter))
      return
    }
    const verdict = tailMatcher(filter)
    // The newest n records the filter shows, read backwards; how many were hidden among them goes in a header.
    const recent: AuditRecord[] = []
    let hidden = 0
    let scanned = 0
    let newest: number | undefined
    if (n > 0) {
      for await (const record of deps.audit.read({ reverse: true })) {
        newest ??= record.seq
        const seen = verdict(record)
        if (seen === 'show') recent.push(record)
        if (seen === 'hidden') hidden++
        if (recent.length >= n || ++scanned >= MAX_TAIL_SCAN) break
      }
    }
    recent.reverse()
    res.setHeader(HIDDEN_HEADER, String(hidden))
    res.type('application/x-ndjson')
    count.records = 0
    for (const record of recent) {
      res.write(JSON.stringify(record) + '\n')
      count.records++
    }
    if (!follow) {
      res.end()
      return
    }
    // Gone while the recent records were read (the client left, or a reload ended the read): its close has been
    // and gone, so a subscription now would never be undone.
    if (res.destroyed) return
    let last = newest ?? deps.audit.head().seq
    const unsubscribe = deps.audit.subscribe((record: AuditRecord) => {
      if (record.seq <= last) return
      last = record.seq
      if (verdict(record) !== 'show') return
      if (res.writableLength > MAX_FOLLOW_BACKLOG) {
        // Its end record says the read was cut off (complete: false).
        res.destroy()
        return
      }
      res.write(JSON.stringify(record) + '\n')
      count.records = (count.records ?? 0) + 1
    })
    res.on('close', unsubscribe)
  }))

  addAuditExportRoute(router, deps, recorded)

  router.get('/verify', recorded('verify', async (_req, res) => {
    res.json(await deps.audit.verify(deps.auditKey != null ? { publicKeys: [deps.auditKey] } : {}))
  }))

  router.get('/sessions', recorded('sessions', async (req, res, count) => {
    const user = stringParam(req, 'user')
    const container = stringParam(req, 'container')
    const sessions = await listSessions(deps.audit, {
      limit: Math.min(intParam(req, 'limit', 50), MAX_SESSIONS),
      ...(user !== undefined ? { user } : {}),
      ...(container !== undefined ? { container } : {}),
      openSessions: await openSessionIds(deps.audit)
    })
    count.records = sessions.length
    res.json(sessions)
  }))

  router.get('/sessions/:id', recorded('session', async (req, res, count) => {
    const id = sessionParam(req, res)
    if (id === null) return
    const session = await findSession(deps.audit, id, await openSessionIds(deps.audit))
    if (session === null) {
      sendError(res, new PortcullisError('PORTCULLIS_SESSION_NOT_FOUND', id))
      return
    }
    count.records = 1
    res.json(session)
  }))

  // The recording exactly as stored, chunk after chunk, at the pace the client reads it.
  router.get('/sessions/:id/cast', recorded('cast', async (req, res) => {
    const id = sessionParam(req, res)
    if (id === null) return
    const chunks = deps.audit.readCast(id)[Symbol.asyncIterator]()
    const first = await chunks.next()
    if (first.done === true) {
      const known = await findSession(deps.audit, id)
      sendError(res, new PortcullisError(known === null ? 'PORTCULLIS_SESSION_NOT_FOUND' : 'PORTCULLIS_SESSION_NO_RECORDING', id))
      return
    }
    res.setHeader('Content-Type', CAST_CONTENT_TYPE)
    let next: IteratorResult<string> = first
    try {
      while (next.done !== true) {
        if (res.destroyed) return
        if (!res.write(next.value)) await drained(res)
        next = await chunks.next()
      }
      res.end()
    } finally {
      // The client went away (or a read failed): close the LevelDB iterator now rather than at garbage collection.
      if (next.done !== true) await chunks.return?.()
    }
  }))

  addAuditBundleRoute(router, deps, recorded)
  return router
}

/** Resolves when the response can take more, or is gone. */
function drained (res: Response): Promise<void> {
  return new Promise<void>((resolve) => {
    res.once('drain', resolve)
    res.once('close', resolve)
  })
}

/** The `:id` of a sessions route, or null after answering 400 when it is not a session ID. */
function sessionParam (req: Request, res: Response): string | null {
  const id = req.params.id
  if (isSessionId(id)) return id
  sendError(res, new PortcullisError('PORTCULLIS_SESSION_ID_INVALID', String(id)))
  return null
}

function stringParam (req: Request, name: string): string | undefined {
  const raw = req.query[name]
  return typeof raw === 'string' && raw !== '' ? raw : undefined
}

function intParam (req: Request, name: string, fallback: number): number {
  const raw = req.query[name]
  if (typeof raw !== 'string' || !/^\d+$/.test(raw)) return fallback
  return Number(raw)
}
