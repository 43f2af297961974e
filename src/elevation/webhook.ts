// Tells a project's webhook about each elevation event: POST JSON `{event, request, time}`. Sent in the
// background and retried with backoff; it never holds up a request, a decision or shutdown, and a hook that stays
// down costs a few log lines, nothing else. The alert sink (src/alerts/sinks.ts) sends its alerts through it too.

import type { Logger } from 'pino'
import type { ElevationRequest } from './request.js'
import { isHttpUrl } from '../policy/elevation.js'

export interface WebhookPayload {
  /** `elevation.request`, `elevation.approve`, `elevation.deny`, `elevation.expire`, `elevation.revoke`, `elevation.end`; `alert.<kind>`. */
  event: string
  request?: ElevationRequest
  /** ISO 8601. */
  time: string
  [field: string]: unknown
}

/** What became of one delivery: null when the hook answered 2xx, else the last problem and the tries made. */
export type DeliveryOutcome = { ok: true, attempts: number } | { ok: false, attempts: number, problem: string }

export interface WebhookOptions {
  logger: Logger
  /** Per attempt. Default 5 s. */
  timeoutMs?: number
  /** The waits between attempts; their count + 1 is the number of tries. Default 1, 2, 4, 8 s (5 tries). */
  retryDelaysMs?: readonly number[]
  /** How log lines name the hook. Default `elevation webhook`. */
  name?: string
}

const DEFAULT_TIMEOUT_MS = 5000
const DEFAULT_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000]

export class Webhook {
  readonly #logger: Logger
  readonly #timeoutMs: number
  readonly #retryDelaysMs: readonly number[]
  readonly #name: string
  /** Deliveries still trying, so close() can stop them and tests can wait for them. */
  readonly #inFlight = new Set<Promise<void>>()
  readonly #stop = new AbortController()

  constructor (options: WebhookOptions) {
    this.#logger = options.logger
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS
    this.#name = options.name ?? 'elevation webhook'
  }

  /** Starts delivering `payload` to `url` and returns at once. */
  send (url: string, payload: WebhookPayload, done?: (outcome: DeliveryOutcome) => void): void {
    if (this.#stop.signal.aborted) return
    if (!isHttpUrl(url)) {
      this.#logger.warn({ url, event: payload.event }, `${this.#name} skipped: only http:// and https:// URLs are called`)
      done?.({ ok: false, attempts: 0, problem: 'not an http(s) URL' })
      return
    }
    const delivery = this.#deliver(url, JSON.stringify(payload), payload).then((outcome) => done?.(outcome))
    this.#inFlight.add(delivery)
    void delivery.finally(() => this.#inFlight.delete(delivery))
  }

  /** Resolves once every delivery started so far succeeded or gave up. */
  async settled (): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight)
  }

  /** Abandons every delivery still trying (they are logged as given up). */
  close (): void {
    this.#stop.abort()
  }

  async #deliver (url: string, body: string, payload: WebhookPayload): Promise<DeliveryOutcome> {
    const tries = this.#retryDelaysMs.length + 1
    const context = { url, event: payload.event, ...(payload.request !== undefined ? { request: payload.request.id } : {}) }
    let problem = ''
    for (let attempt = 1; attempt <= tries; attempt++) {
      problem = await this.#post(url, body) ?? ''
      if (problem === '') {
        if (attempt > 1) this.#logger.info({ ...context, attempt }, `${this.#name} delivered after retrying`)
        return { ok: true, attempts: attempt }
      }
      if (this.#stop.signal.aborted) {
        this.#logger.warn({ ...context, attempt, problem }, `${this.#name} given up: portcullis is stopping`)
        return { ok: false, attempts: attempt, problem }
      }
      if (attempt === tries) break
      const wait = this.#retryDelaysMs[attempt - 1]!
      this.#logger.warn({ ...context, attempt, problem, retryInMs: wait }, `${this.#name} failed; will retry`)
      if (!await this.#sleep(wait)) {
        this.#logger.warn({ ...context, attempt, problem }, `${this.#name} given up: portcullis is stopping`)
        return { ok: false, attempts: attempt, problem }
      }
    }
    this.#logger.error({ ...context, attempts: tries, problem }, `${this.#name} failed; giving up on this event`)
    return { ok: false, attempts: tries, problem }
  }

  /** One attempt: null when the hook answered 2xx, else what went wrong. */
  async #post (url: string, body: string): Promise<string | null> {
    const attempt = new AbortController()
    const timer = setTimeout(() => attempt.abort(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs)
    const onStop = (): void => attempt.abort(new Error('portcullis is stopping'))
    this.#stop.signal.addEventListener('abort', onStop)
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': this.#name === 'elevation webhook' ? 'portcullis-elevation' : 'portcullis' },
        body,
        // A hook that redirects is misconfigured; following it would send the event somewhere the policy never named.
        redirect: 'manual',
        signal: attempt.signal
      })
      await res.body?.cancel()
      return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`
    } catch (err) {
      const reason = attempt.signal.aborted ? attempt.signal.reason as unknown : (err as { cause?: unknown }).cause ?? err
      return reason instanceof Error ? reason.message : String(reason)
    } finally {
      clearTimeout(timer)
      this.#stop.signal.removeEventListener('abort', onStop)
    }
  }

  /** Waits `ms`; false when close() cut the wait short. */
  #sleep (ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.#stop.signal.aborted) {
        resolve(false)
        return
      }
      const onStop = (): void => {
        clearTimeout(timer)
        resolve(false)
      }
      const timer = setTimeout(() => {
        this.#stop.signal.removeEventListener('abort', onStop)
        resolve(true)
      }, ms)
      timer.unref()
      this.#stop.signal.addEventListener('abort', onStop, { once: true })
    })
  }
}
