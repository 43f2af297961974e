// Follows the daemon's event feed so cached name look-ups are dropped the moment a name could point elsewhere.
// While the feed is down, `connected` is false and the resolver keeps no name answers at all.

import type { Logger } from 'pino'
import type { ResourceKind } from '../core/types.js'
import type { DockerApi } from './api.js'

const WATCHED: Record<string, string[]> = {
  container: ['create', 'destroy', 'rename'],
  volume: ['create', 'destroy'],
  network: ['create', 'destroy'],
  plugin: ['install', 'remove', 'enable', 'disable']
}

/** One line of the daemon's event feed (only the fields portcullis reads). */
export interface DaemonEvent { Type?: unknown, Action?: unknown, Actor?: { ID?: unknown } }

export class EventWatcher {
  connected = false
  private stopped = false
  private retryTimer: NodeJS.Timeout | undefined
  private current: { destroy: () => void } | undefined

  constructor (private readonly docker: DockerApi, private readonly logger: Logger, private readonly onChange: (kind: ResourceKind | 'all', event?: DaemonEvent) => void, private readonly onConnect?: () => void) {}

  start (): void {
    this.stopped = false
    void this.connect(250)
  }

  stop (): void {
    this.stopped = true
    this.connected = false
    clearTimeout(this.retryTimer)
    this.current?.destroy()
  }

  private async connect (retryMs: number): Promise<void> {
    if (this.stopped) return
    const filters = JSON.stringify({ type: Object.keys(WATCHED), event: [...new Set(Object.values(WATCHED).flat())] })
    try {
      const res = await this.docker.stream(`/events?filters=${encodeURIComponent(filters)}`)
      if (this.stopped) {
        res.destroy()
        return
      }
      this.current = res
      this.connected = true
      this.onConnect?.()
      this.logger.debug('following the daemon event feed')
      let buffered = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffered += chunk
        let newline
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline)
          buffered = buffered.slice(newline + 1)
          this.handle(line)
        }
      })
      const lost = (): void => {
        if (!this.connected) return
        this.connected = false
        this.onChange('all')
        if (!this.stopped) this.schedule(250)
      }
      res.on('end', lost)
      res.on('error', lost)
      res.on('close', lost)
    } catch (err) {
      this.connected = false
      this.logger.debug({ err: (err as Error).message }, 'event feed unavailable; name look-ups are not cached until it is back')
      this.schedule(Math.min(retryMs * 2, 5000))
    }
  }

  private schedule (retryMs: number): void {
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => { void this.connect(retryMs) }, retryMs)
    this.retryTimer.unref()
  }

  private handle (line: string): void {
    if (line.trim() === '') return
    try {
      const event = JSON.parse(line) as DaemonEvent
      const kind = event.Type
      if (typeof kind === 'string' && kind in WATCHED) this.onChange(kind as ResourceKind, event)
    } catch {
      this.onChange('all')
    }
  }
}
