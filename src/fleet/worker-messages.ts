// What WorkerFleetClient (worker-client.ts) and its thread (pg-worker.ts) say to each other: plain data only.

import type { ErrorCode } from '../errors.js'

/** An error crossing the thread boundary: ours by code and message, PostgreSQL's by its SQLSTATE `code`. */
export interface WorkerFailure {
  message: string
  code?: string
  portcullisCode?: ErrorCode
  status?: number
}

export type WorkerAsk =
  | { type: 'query', id: number, text: string, values: unknown[] }
  | { type: 'end' }

export type WorkerAnswer =
  | { type: 'connected' }
  | { type: 'connect-failed', error: WorkerFailure }
  | { type: 'connection-error', error: WorkerFailure }
  | { type: 'result', id: number, ok: true, rows: unknown[], rowCount: number | null }
  | { type: 'result', id: number, ok: false, error: WorkerFailure }
  | { type: 'ended' }
