// The daemon is a list of components that start in order and stop in reverse order. A start that fails undoes
// what already started, newest first, so a failed `serve` leaves no socket, no store lock and no timer behind, and
// a stop always drains what depends on a part before that part goes (the plugin socket before the look-ups).

import type { Logger } from 'pino'
import { hasPortcullisCode, PortcullisError } from '../errors.js'

/** Why the components are being stopped: a normal stop, or a start that failed at `failedAt`. */
export interface StopCause {
  failedAt?: string
  error?: unknown
}

export interface Component {
  readonly name: string
  start: () => Promise<void> | void
  /** Undoes `start`; called only for components whose start succeeded. */
  stop?: (cause: StopCause) => Promise<void> | void
}

export interface Started {
  /** Stops every component, newest first; calling it again waits for the same stop. */
  stop: () => Promise<void>
}

/**
 * Starts `components` one after another. If one fails, the ones already started are stopped in reverse order
 * and the failure is rethrown with its code (PORTCULLIS_START_FAILED for an error that has none).
 */
export async function startInOrder (components: readonly Component[], logger: Logger): Promise<Started> {
  const started: Component[] = []
  for (const component of components) {
    try {
      await component.start()
    } catch (thrown) {
      // Every failure reaches the user with a code; one nobody foresaw names the part that failed.
      const error = hasPortcullisCode(thrown) ? thrown : new PortcullisError('PORTCULLIS_START_FAILED', component.name, thrown instanceof Error ? thrown.message : String(thrown))
      if (error !== thrown) logger.error({ err: thrown, component: component.name }, 'start failed')
      await stopInReverse(started, { failedAt: component.name, error }, logger)
      throw error
    }
    started.push(component)
  }
  let stopping: Promise<void> | null = null
  return {
    stop: () => {
      stopping ??= stopInReverse(started, {}, logger)
      return stopping
    }
  }
}

/** A stop that fails is logged and the rest still stop: leaving the store open would be worse. */
async function stopInReverse (started: readonly Component[], cause: StopCause, logger: Logger): Promise<void> {
  for (const component of [...started].reverse()) {
    try {
      await component.stop?.(cause)
    } catch (err) {
      logger.error({ err, component: component.name }, 'could not stop a part of portcullis cleanly; stopping the rest')
    }
  }
}
