// The thread behind WorkerFleetClient (worker-client.ts): it owns one PostgreSQL connection and runs the queries the
// shipper posts, so the client's work (serialising an INSERT of a thousand records, parsing answers, the socket)
// happens here and not on serve's main thread, where every Docker call is decided.

import { parentPort, workerData } from 'node:worker_threads'
import type pg from 'pg'
import { PortcullisError } from '../errors.js'
import { connectFleet, type FleetTarget } from './connection.js'
import type { WorkerAnswer, WorkerAsk, WorkerFailure } from './worker-messages.js'

const port = parentPort
if (port === null) throw new Error('pg-worker.js runs as a worker thread (WorkerFleetClient), not on its own')

let client: pg.Client | null = null

/** An error as plain data: what the main thread needs to rebuild it (ours by code and message, PostgreSQL's by SQLSTATE). */
function failureOf (err: unknown): WorkerFailure {
  if (err instanceof PortcullisError) return { portcullisCode: err.code, message: err.message, status: err.status }
  const code = (err as { code?: unknown }).code
  return { message: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}) }
}

function post (answer: WorkerAnswer): void {
  port!.postMessage(answer)
}

async function run (): Promise<void> {
  try {
    client = await connectFleet((workerData as { target: FleetTarget }).target)
  } catch (err) {
    post({ type: 'connect-failed', error: failureOf(err) })
    return
  }
  // The server went away while idle: the main thread drops this connection, and the next query fails.
  client.on('error', (err) => post({ type: 'connection-error', error: failureOf(err) }))
  post({ type: 'connected' })
}

port.on('message', (ask: WorkerAsk) => {
  if (ask.type === 'end') {
    const ending = client?.end() ?? Promise.resolve()
    ending.catch(() => {}).finally(() => {
      post({ type: 'ended' })
      port.close()
    })
    return
  }
  if (client === null) {
    post({ type: 'result', id: ask.id, ok: false, error: { message: 'the fleet connection is not open' } })
    return
  }
  // A Buffer arrives as a plain Uint8Array: made a Buffer again, or the client would send it as JSON, not as bytes.
  const values = ask.values.map((value) => value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value)
  client.query(ask.text, values).then(
    (result) => post({ type: 'result', id: ask.id, ok: true, rows: result.rows, rowCount: result.rowCount }),
    (err: unknown) => post({ type: 'result', id: ask.id, ok: false, error: failureOf(err) })
  )
})

void run()
