// The admin socket: the only way other commands reach the audit store while `serve` owns it (LevelDB allows one
// process). A unix socket readable by root alone; the routes are versioned so the CLI and daemon can differ.

import { chmodSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type http from 'node:http'
import express, { type Request, type Response } from 'express'
import type { Logger } from 'pino'
import type { AuditStore } from '../audit/store.js'
import type { AuditRecord } from '../audit/record.js'
import type { PolicySource } from '../policy/source.js'

export interface AdminDeps {
  audit: AuditStore
  policy: PolicySource
  logger: Logger
  startedAt: Date
  version: string
}

export function createAdminApp (deps: AdminDeps): express.Express {
  const app = express()
  app.disable('x-powered-by')

  app.get('/v1/status', (_req, res) => {
    res.json({
      version: deps.version,
      pid: process.pid,
      startedAt: deps.startedAt.toISOString(),
      policy: { path: deps.policy.path, digest: deps.policy.current.digest, loadedAt: deps.policy.loadedAt.toISOString() },
      audit: { head: deps.audit.head(), ...deps.audit.stats() }
    })
  })

  app.post('/v1/policy/reload', (_req, res) => {
    const outcome = deps.policy.reload()
    res.status(outcome.ok ? 200 : 422).json(outcome)
  })

  app.get('/v1/audit/tail', async (req, res) => {
    const n = intParam(req, 'n', 20)
    const follow = req.query.follow === 'true' || req.query.follow === '1'
    res.type('application/x-ndjson')
    const recent = await deps.audit.tail(n)
    for (const record of recent) res.write(JSON.stringify(record) + '\n')
    if (!follow) {
      res.end()
      return
    }
    let last = recent.at(-1)?.seq ?? deps.audit.head().seq
    const unsubscribe = deps.audit.subscribe((record: AuditRecord) => {
      if (record.seq <= last) return
      last = record.seq
      res.write(JSON.stringify(record) + '\n')
    })
    res.on('close', unsubscribe)
  })

  app.get('/v1/audit/export', async (req, res) => {
    const fromSeq = intParam(req, 'fromSeq', 1)
    const toSeq = intParam(req, 'toSeq', Number.MAX_SAFE_INTEGER)
    res.type('application/x-ndjson')
    await streamRecords(res, deps.audit.read({ fromSeq, toSeq }))
  })

  app.get('/v1/audit/verify', async (_req, res) => {
    res.json(await deps.audit.verify())
  })

  app.use((err: Error, _req: Request, res: Response, _next: unknown) => {
    deps.logger.error({ err }, 'admin request failed')
    if (res.headersSent) res.destroy()
    else res.status(500).json({ error: err.message })
  })
  return app
}

/** Writes records with backpressure, so an export of millions of records stays in constant memory. */
async function streamRecords (res: Response, records: AsyncIterable<AuditRecord>): Promise<void> {
  for await (const record of records) {
    if (res.destroyed) return
    if (!res.write(JSON.stringify(record) + '\n')) {
      await new Promise<void>((resolve) => {
        res.once('drain', resolve)
        res.once('close', resolve)
      })
    }
  }
  res.end()
}

function intParam (req: Request, name: string, fallback: number): number {
  const raw = req.query[name]
  if (typeof raw !== 'string' || !/^\d+$/.test(raw)) return fallback
  return Number(raw)
}

export function listenAdmin (app: express.Express, socketPath: string): Promise<http.Server> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 })
  return new Promise((resolve, reject) => {
    const server = app.listen(socketPath, (err?: Error) => {
      if (err !== undefined) {
        reject(err)
        return
      }
      chmodSync(socketPath, 0o600)
      resolve(server)
    })
  })
}
