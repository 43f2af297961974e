// Admin routes for the audit trail's signatures and retention: sign a checkpoint now, expire old records now.

import type express from 'express'
import type { Request, Response } from 'express'
import type { Logger } from 'pino'
import { signCheckpoint } from '../audit/checkpoints.js'
import { expireRecords } from '../audit/retention.js'
import type { AuditSigningKey } from '../audit/signing-key.js'
import type { AuditStore } from '../audit/store.js'
import { PortcullisError } from '../errors.js'
import type { PolicySource } from '../policy/source.js'
import { adminCallerFields } from './peer-identity.js'

export interface AuditIntegrityDeps {
  audit: AuditStore
  policy: PolicySource
  logger: Logger
  /** The daemon's checkpoint key; null when it has none (both routes then answer 503). */
  auditKey?: AuditSigningKey | null
}

/** Answers for errors a caller can act on; anything else goes to the app's error handler (500). */
const STATUS_OF: Record<string, number> = {
  PORTCULLIS_AUDIT_NO_RECORD: 404,
  PORTCULLIS_AUDIT_CHAIN_BROKEN: 409,
  PORTCULLIS_AUDIT_CORRUPT: 409,
  PORTCULLIS_AUDIT_CLOSED: 503,
  PORTCULLIS_AUDIT_UNAVAILABLE: 503,
  PORTCULLIS_AUDIT_RECOVERY_REFUSED: 503
}

export function addAuditIntegrityRoutes (app: express.Express, deps: AuditIntegrityDeps): void {
  // ?seq=N signs record N (default: the newest) once the chain up to it checks out; answers the checkpoint.
  app.post('/v1/audit/checkpoint', async (req, res) => {
    const key = signingKey(deps, res)
    if (key === null) return
    const seq = req.query.seq
    if (seq !== undefined && (typeof seq !== 'string' || !/^\d+$/.test(seq))) {
      res.status(400).json({ error: 'seq must be a record sequence number', code: 'PORTCULLIS_USAGE' })
      return
    }
    await answer(res, async () => await signCheckpoint(deps.audit, key, { ...(seq !== undefined ? { seq: Number(seq) } : {}), logger: deps.logger }))
  })

  // ?dryRun=true reports what would go; ?force=true removes old records even when no bundle holds them.
  app.post('/v1/audit/expire', async (req, res) => {
    const key = signingKey(deps, res)
    if (key === null) return
    const { retentionMs } = deps.policy.current.audit
    await answer(res, async () => ({
      retention: deps.policy.current.document.audit?.retention ?? null,
      // audit.expired names who asked (the socket's peer), above all for --force.
      ...await expireRecords(deps.audit, { retentionMs, key, dryRun: flag(req, 'dryRun'), force: flag(req, 'force'), logger: deps.logger, requestedBy: { via: 'admin-socket', ...await adminCallerFields(req) } })
    }))
  })
}

function signingKey (deps: AuditIntegrityDeps, res: Response): AuditSigningKey | null {
  if (deps.auditKey != null) return deps.auditKey
  const err = new PortcullisError('PORTCULLIS_AUDIT_NO_SIGNING_KEY', 'the daemon log says why')
  res.status(503).json({ error: err.message, code: err.code })
  return null
}

async function answer (res: Response, work: () => Promise<unknown>): Promise<void> {
  try {
    res.json(await work())
  } catch (err) {
    const code = (err as { code?: unknown }).code
    const status = typeof code === 'string' ? STATUS_OF[code] : undefined
    if (status === undefined) throw err
    res.status(status).json({ error: (err as Error).message, code })
  }
}

function flag (req: Request, name: string): boolean {
  const raw = req.query[name]
  return raw === 'true' || raw === '1' || raw === ''
}
