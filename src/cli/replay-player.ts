// Playing a recording's output at the pace it was recorded: when each event is due (ReplayTimeline) and the loop that
// waits for it (playCast). The clock is given, so tests play without waiting.
import type { CastItem } from '../audit/cast-stream.js'
import type { CastHeader } from '../audit/asciicast.js'

export interface ReplayClock {
  /** Milliseconds, from any origin. */
  now: () => number
  sleep: (ms: number) => Promise<void>
}

export interface ReplayOptions {
  /** 2 plays twice as fast. */
  speed: number
  /** Longest pause, in recorded seconds; the header's idle_time_limit when left out. */
  idleLimit?: number
  clock: ReplayClock
}

export interface ReplayResult {
  header: CastHeader
  /** Output events played. */
  outputEvents: number
  /** Seconds from the start of the recording to its last event. */
  recordedSeconds: number
  /** How long playing took. */
  playedMs: number
}

/**
 * When each event plays: milliseconds after the start of playback, for events given in recorded order. Every
 * gap between two events (of any kind: typing and resizes take time too) is cut to `idleLimit` seconds, then
 * the whole is scaled by `speed`.
 */
export class ReplayTimeline {
  readonly #speed: number
  readonly #idleLimit: number
  #lastTime = 0
  #position = 0

  constructor (speed: number, idleLimit: number = Infinity) {
    this.#speed = speed
    this.#idleLimit = idleLimit
  }

  at (time: number): number {
    this.#position += Math.min(Math.max(0, time - this.#lastTime), this.#idleLimit)
    this.#lastTime = Math.max(this.#lastTime, time)
    return this.#position * 1000 / this.#speed
  }
}

/** Plays a recording's output through `write`, waiting on `clock` between events. Input and marker events are
 * not shown; resizes cannot be applied to the viewer's terminal. */
export async function playCast (items: AsyncIterable<CastItem>, write: (text: string) => void | Promise<void>, options: ReplayOptions): Promise<ReplayResult> {
  const { clock } = options
  let header: CastHeader | undefined
  let timeline: ReplayTimeline | undefined
  let outputEvents = 0
  let recordedSeconds = 0
  const start = clock.now()
  for await (const item of items) {
    if ('header' in item) {
      header = item.header
      timeline = new ReplayTimeline(options.speed, options.idleLimit ?? header.idle_time_limit ?? Infinity)
      continue
    }
    const { time, code, data } = item.event
    recordedSeconds = time
    const due = timeline!.at(time)
    if (code !== 'o') continue
    const wait = due - (clock.now() - start)
    if (wait > 0) await clock.sleep(wait)
    await write(data)
    outputEvents++
  }
  return { header: header!, outputEvents, recordedSeconds, playedMs: clock.now() - start }
}
