// The shipper's PostgreSQL connection, held by a worker thread (pg-worker.ts). Shipping every decision means an
// INSERT of up to a thousand records every few milliseconds at load: node-postgres serialising its parameters and
// parsing its answers cost serve's main thread, which decides every Docker call, about a tenth of its time
// (BENCHMARKS.md, "Shipping the audit to a fleet database"). Here the main thread only posts the query's values
// (a structured clone of strings) and reads back the answer. Same contract as the pg.Client it replaces, as far
// as the shipper uses it: query(), end(), and an 'error' event when the connection is lost while idle.

import { EventEmitter } from 'node:events'
import { Worker } from 'node:worker_threads'
import { AnsweredError, PortcullisError } from '../errors.js'
import type { FleetQueryable, FleetTarget } from './connection.js'
import type { WorkerAnswer, WorkerAsk, WorkerFailure } from './worker-messages.js'

/** The thread's code, next to this file. Run from the TypeScript source (the tests load src/ directly), a thread
 * cannot load a .ts file: it runs the built one from dist/, which the tests build first. */
const WORKER_FILE = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/fleet/pg-worker.js', import.meta.url)
  : new URL('./pg-worker.js', import.meta.url)

interface Waiting {
  resolve: (result: { rows: unknown[], rowCount: number | null }) => void
  reject: (err: Error) => void
}

export class WorkerFleetClient extends EventEmitter implements FleetQueryable {
  readonly #worker: Worker
  readonly #waiting = new Map<number, Waiting>()
  #nextId = 1
  /** Set once the connection or the thread is gone: every query from then on fails with it. */
  #gone: Error | null = null

  private constructor (worker: Worker) {
    super()
    this.#worker = worker
    // Lost while nobody listens yet (the shipper listens once it has read the database's state): not a crash.
    this.on('error', () => {})
  }

  /** Connects in a new thread to the first server of `target` that answers (as connectFleet does), or throws its error. */
  static async connect (target: FleetTarget): Promise<WorkerFleetClient> {
    const worker = new Worker(WORKER_FILE, { workerData: { target } })
    const client = new WorkerFleetClient(worker)
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number): void => reject(new PortcullisError('PORTCULLIS_FLEET_UNREACHABLE', target.url, `the fleet connection's thread stopped (exit code ${code}) before it connected`))
      worker.once('exit', onExit)
      worker.once('error', reject)
      worker.once('message', (answer: WorkerAnswer) => {
        worker.off('exit', onExit)
        worker.off('error', reject)
        if (answer.type === 'connected') {
          resolve()
          return
        }
        void worker.terminate()
        reject(answer.type === 'connect-failed' ? errorOf(answer.error) : new Error(`unexpected first message from the fleet connection's thread: ${answer.type}`))
      })
    })
    worker.on('message', (answer: WorkerAnswer) => client.#answered(answer))
    worker.on('error', (err) => client.#lost(err))
    worker.on('exit', (code) => client.#lost(new Error(`the fleet connection's thread stopped (exit code ${code})`)))
    return client
  }

  async query<R = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<{ rows: R[], rowCount: number | null }> {
    if (this.#gone !== null) throw this.#gone
    const id = this.#nextId++
    const result = new Promise<{ rows: unknown[], rowCount: number | null }>((resolve, reject) => this.#waiting.set(id, { resolve, reject }))
    this.#worker.postMessage({ type: 'query', id, text, values } satisfies WorkerAsk)
    return await result as { rows: R[], rowCount: number | null }
  }

  /** Closes the connection and ends the thread (at once if it does not answer within a second). */
  async end (): Promise<void> {
    if (this.#gone !== null) return
    this.#gone = new Error('the fleet connection was closed')
    const ended = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()))
    this.#worker.postMessage({ type: 'end' } satisfies WorkerAsk)
    const timer = setTimeout(() => { void this.#worker.terminate() }, 1_000)
    await ended
    clearTimeout(timer)
    this.#failWaiting(this.#gone)
  }

  #answered (answer: WorkerAnswer): void {
    if (answer.type === 'result') {
      const waiting = this.#waiting.get(answer.id)
      if (waiting === undefined) return
      this.#waiting.delete(answer.id)
      if (answer.ok) waiting.resolve({ rows: answer.rows, rowCount: answer.rowCount })
      else waiting.reject(errorOf(answer.error))
    } else if (answer.type === 'connection-error') {
      this.#lost(errorOf(answer.error))
    }
  }

  /** The connection or its thread is gone: what waits fails, and the owner hears of it once. */
  #lost (err: Error): void {
    const first = this.#gone === null
    this.#gone ??= err
    this.#failWaiting(err)
    if (first) {
      void this.#worker.terminate()
      this.emit('error', err)
    }
  }

  #failWaiting (err: Error): void {
    for (const waiting of this.#waiting.values()) waiting.reject(err)
    this.#waiting.clear()
  }
}

/** The error the thread reported, rebuilt: ours keeps its code and message, PostgreSQL's its SQLSTATE. */
function errorOf (failure: WorkerFailure): Error {
  if (failure.portcullisCode !== undefined) return new AnsweredError(failure.portcullisCode, failure.message, failure.status ?? 500)
  const err = new Error(failure.message) as Error & { code?: string }
  if (failure.code !== undefined) err.code = failure.code
  return err
}
