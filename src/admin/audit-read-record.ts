// Reading the audit trail is itself recorded (PCI DSS 10.2.1.3; 等保 审计管理). Every route that hands out audit
// content or facts about it goes through `recordedRead`: it asks who the reader is (the admin socket's peer as
// the kernel reports it, or an auditor's token), writes `audit.read` naming who and what BEFORE anything leaves
// (a read the trail cannot record is refused), then `audit.read.end` with how much was sent and whether it was
// sent whole. A reader who cannot be told, or may not read, is refused and the refusal recorded
// (`audit.read.refused`). One wrapper for both front doors (admin socket, elevation API), so no route escapes it.
// On the API, refusals go through a limiter (a flood is counted into summaries, audit/refusal-records.ts), and an
// auditor's reads are limited in number and ended when the auditor loses the right to read (open-audit-reads.ts).

import type { Request, RequestHandler, Response } from 'express'
import type { Logger } from 'pino'
import type { AuditInput } from '../audit/record.js'
import type { RefusalSummary } from '../audit/refusal-limiter.js'
import type { RefusalRecords } from '../audit/refusal-records.js'
import type { AuditStore } from '../audit/store.js'
import type { PortcullisError } from '../errors.js'
import type { EndedBy, OpenAuditReads } from './open-audit-reads.js'
import { describePeer, peerFields, type Peer } from './peer.js'

/** Who reads: root (or whoever can open the admin socket) as the kernel tells it, or an auditor by token. */
type AuditReader =
  | { via: 'admin-socket', peer: Peer }
  | {
    via: 'http'
    user: string
    tokenId: string | null
    /** The token's end, ms since the epoch. */
    expiresAt?: number | null
    /** Whether the token still passes verification (asked again after a policy reload: tokens.maxLifetime may have fallen). */
    tokenStillGood?: () => boolean
  }

/** Who asked, even when refused: what the refusal record can say about them. */
interface ReaderClaim {
  via: AuditReader['via']
  user?: string | null
  tokenId?: string | null
  peer?: Peer | null
  /** Why the reader could not be told or may not read, in a few words. */
  detail?: string
}

export type Identified = { ok: true, reader: AuditReader } | { ok: false, error: PortcullisError, claim: ReaderClaim }

/** Tells who sent a request to an audit route. */
export type IdentifyReader = (req: Request) => Identified | Promise<Identified>

/** What a route reports about what it sent, beyond the bytes the wrapper counts. */
interface ReadCount {
  /** Records (or sessions, for a session list) sent; null when the answer is not a list of them. */
  records: number | null
}

export type ReadHandler = (req: Request, res: Response, count: ReadCount) => Promise<void>

export interface RecordedReadDeps {
  audit: AuditStore
  logger: Logger
  /** On the API: refusals through the limiter, so a flood is counted into summaries. Unset: each one recorded. */
  refusals?: RefusalRecords | null
  /** On the API: the auditors' open reads, limited in number and ended when their reader may no longer read. */
  reads?: OpenAuditReads | null
}

/** Query values are the reader's words: kept, but bounded. */
const MAX_QUERY_VALUE = 200
const MAX_QUERY_KEYS = 20

/** `recordedRead(deps, identify)('tail', handler)`: the handler, recorded. */
export function recordedRead (deps: RecordedReadDeps, identify: IdentifyReader): (route: string, handler: ReadHandler) => RequestHandler {
  return (route, handler) => async (req, res) => {
    const what = { route, method: req.method, path: req.baseUrl + req.path, query: boundedQuery(req), ...(typeof req.params.id === 'string' ? { session: req.params.id.slice(0, MAX_QUERY_VALUE) } : {}) }
    const refuse = async (claim: ReaderClaim, error: PortcullisError): Promise<never> => {
      const remote = claim.via === 'http' ? req.socket.remoteAddress ?? null : null
      const record = (): AuditInput => ({
        kind: 'system',
        action: 'audit.read.refused',
        user: claim.user ?? null,
        ...(claim.tokenId != null ? { tokenId: claim.tokenId } : {}),
        code: error.code,
        reason: `audit ${route} refused ${claimText(claim)}: ${claim.detail ?? error.code}`,
        fields: { ...what, via: claim.via, ...(claim.peer != null ? { peer: peerFields(claim.peer) } : {}), ...(remote !== null ? { remote } : {}) }
      })
      if (deps.refusals != null) {
        await deps.refusals.refuse({ code: error.code, user: claim.user ?? null, peer: remote ?? (claim.peer != null ? describePeer(claim.peer) : null) }, record)
      } else {
        try {
          await deps.audit.append(record())
        } catch (err) {
          // Refused either way; the log keeps what the trail could not.
          deps.logger.error({ err, route, code: error.code }, 'could not record a refused audit read')
        }
      }
      throw error
    }
    const identified = await identify(req)
    if (!identified.ok) return await refuse(identified.claim, identified.error)
    const { reader } = identified
    // An auditor's place among the reads open now: taken at once, so two requests at the same instant cannot both
    // pass the limit.
    const admitted = reader.via === 'http' && deps.reads != null ? deps.reads.admit(reader, route, res) : null
    if (reader.via === 'http' && admitted?.ok === false) return await refuse({ via: 'http', user: reader.user, tokenId: reader.tokenId, detail: admitted.detail }, admitted.error)
    const place = admitted?.ok === true ? admitted : null
    let opened: { seq: number }
    try {
      // Before any byte of the answer: fails closed (the error handler answers the store's coded error).
      opened = await deps.audit.append({
        kind: 'system',
        action: 'audit.read',
        user: reader.via === 'http' ? reader.user : null,
        ...(reader.via === 'http' && reader.tokenId !== null ? { tokenId: reader.tokenId } : {}),
        reason: `audit ${route} read ${readerText(reader)}`,
        fields: { ...what, via: reader.via, ...(reader.via === 'admin-socket' ? { peer: peerFields(reader.peer) } : {}) }
      })
    } catch (err) {
      place?.release()
      throw err
    }
    const count: ReadCount = { records: null }
    const bytes = countBytes(res)
    let ended = false
    const end = (): void => {
      if (ended) return
      ended = true
      const complete = res.writableFinished
      const endedBy = place?.read.endedBy ?? null
      deps.audit.append({
        kind: 'system',
        action: 'audit.read.end',
        user: reader.via === 'http' ? reader.user : null,
        ...(reader.via === 'http' && reader.tokenId !== null ? { tokenId: reader.tokenId } : {}),
        status: res.statusCode,
        reason: `audit ${route} for ${whoText(reader)}: ${complete ? 'sent' : 'cut off after'} ` +
          `${count.records !== null ? `${count.records} records, ` : ''}${bytes.total} bytes (status ${res.statusCode})` +
          (endedBy !== null ? `: ${ENDED_BY_TEXT[endedBy]}` : ''),
        fields: { route, readSeq: opened.seq, records: count.records, bytes: bytes.total, complete, ...(endedBy !== null ? { endedBy } : {}) }
      }).catch((err: unknown) => deps.logger.error({ err, route, readSeq: opened.seq }, 'could not record the end of an audit read'))
    }
    res.once('finish', end)
    res.once('close', end)
    // The reader may have gone while audit.read was being written: its end is recorded now, as cut off.
    if (res.destroyed) end()
    // A reload that took the auditor out while audit.read was being written found no stream to end: look again now.
    if (place !== null) deps.reads?.recheckOne(place.read)
    try {
      if (!res.destroyed) await handler(req, res, count)
    } finally {
      // A bundle still being built holds its place even after its client left.
      place?.release()
    }
  }
}

const ENDED_BY_TEXT: Record<EndedBy, string> = {
  'auditor-removed': 'the reader is no longer in audit.auditors (policy reload)',
  'token-expired': 'the reader\'s token expired',
  'token-invalid': 'the reader\'s token no longer passes verification under the policy in force (tokens.maxLifetime)'
}

/** The record of refusals counted rather than recorded one by one (see audit/refusal-limiter.ts). */
export function refusedReadsSummary (summary: RefusalSummary): AuditInput {
  const names = [...Object.entries(summary.userCounts), ...Object.entries(summary.peerCounts)].map(([name, n]) => `${name} (${n})`)
  return {
    kind: 'system',
    action: 'audit.read.refused.summary',
    reason: `${summary.refused} more audit reads refused on the API from ${summary.first} to ${summary.last}, counted rather than recorded one by one ` +
      `(${Object.entries(summary.codes).map(([code, n]) => `${n} ${code}`).join(', ')})` +
      (names.length > 0 ? `; claimed by ${names.join(', ')}${summary.unnamed > 0 ? ` and ${summary.unnamed} unnamed` : ''}` : ''),
    fields: { ...summary }
  }
}

/** Counts the body bytes a response sends (headers aside). */
function countBytes (res: Response): { total: number } {
  const counter = { total: 0 }
  const write = res.write.bind(res) as (...args: unknown[]) => boolean
  const end = res.end.bind(res) as (...args: unknown[]) => Response
  const add = (chunk: unknown, encoding: unknown): void => {
    if (typeof chunk === 'string') counter.total += Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8')
    else if (chunk instanceof Uint8Array) counter.total += chunk.byteLength
  }
  res.write = ((chunk: unknown, ...rest: unknown[]) => { add(chunk, rest[0]); return write(chunk, ...rest) }) as Response['write']
  res.end = ((chunk?: unknown, ...rest: unknown[]) => { if (typeof chunk !== 'function') add(chunk, rest[0]); return end(chunk, ...rest) }) as Response['end']
  return counter
}

function boundedQuery (req: Request): Record<string, string> {
  const query: Record<string, string> = {}
  for (const [key, value] of Object.entries(req.query).slice(0, MAX_QUERY_KEYS)) {
    query[key.slice(0, MAX_QUERY_VALUE)] = (typeof value === 'string' ? value : JSON.stringify(value)).slice(0, MAX_QUERY_VALUE)
  }
  return query
}

function readerText (reader: AuditReader): string {
  return `${reader.via === 'admin-socket' ? 'through the admin socket' : 'through the API'} by ${whoText(reader)}`
}

function whoText (reader: AuditReader): string {
  return reader.via === 'admin-socket' ? describePeer(reader.peer) : `${reader.user}${reader.tokenId !== null ? ` (token ${reader.tokenId})` : ''}`
}

function claimText (claim: ReaderClaim): string {
  if (claim.via === 'admin-socket') return `on the admin socket${claim.peer != null ? ` for ${describePeer(claim.peer)}` : ''}`
  return `on the API${claim.user != null ? ` for ${claim.user}${claim.tokenId != null ? ` (token ${claim.tokenId})` : ''}` : ''}`
}
