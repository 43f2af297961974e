import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { startInOrder, type Component, type StopCause } from '../../src/daemon/lifecycle.js'
import { PortcullisError } from '../../src/errors.js'

const logger = pino({ level: 'silent' })

function parts (names: string[], events: string[], failing?: { name: string, error: unknown }): Component[] {
  return names.map((name) => ({
    name,
    start: () => {
      if (failing?.name === name) throw failing.error
      events.push(`start ${name}`)
    },
    stop: (cause: StopCause) => { events.push(`stop ${name}${cause.failedAt === undefined ? '' : ` (${cause.failedAt} failed)`}`) }
  }))
}

describe('daemon lifecycle', () => {
  it('starts components in order and stops them in reverse order', async () => {
    const events: string[] = []
    const started = await startInOrder(parts(['store', 'admin socket', 'plugin socket'], events), logger)
    await started.stop()
    expect(events).toEqual(['start store', 'start admin socket', 'start plugin socket', 'stop plugin socket', 'stop admin socket', 'stop store'])
  })

  it('a failed start stops what already started, newest first, and rethrows the error with its code', async () => {
    const events: string[] = []
    const error = new PortcullisError('PORTCULLIS_SOCKET_IN_USE', '/run/x.sock')
    await expect(startInOrder(parts(['store', 'admin socket', 'plugin socket', 'bridge'], events, { name: 'plugin socket', error }), logger)).rejects.toBe(error)
    expect(events).toEqual(['start store', 'start admin socket', 'stop admin socket (plugin socket failed)', 'stop store (plugin socket failed)'])
  })

  it('a failure without a code gets PORTCULLIS_START_FAILED naming the part', async () => {
    const events: string[] = []
    const failure = startInOrder(parts(['store', 'bridge'], events, { name: 'bridge', error: new Error('EACCES: permission denied') }), logger)
    await expect(failure).rejects.toMatchObject({ code: 'PORTCULLIS_START_FAILED', message: expect.stringContaining('could not start its bridge: EACCES') })
    expect(events).toEqual(['start store', 'stop store (bridge failed)'])
  })

  it('a part that fails to stop does not keep the others from stopping; stop twice stops once', async () => {
    const events: string[] = []
    const components = parts(['store', 'socket'], events)
    components[1]!.stop = () => { throw new Error('boom') }
    const started = await startInOrder(components, logger)
    await Promise.all([started.stop(), started.stop()])
    expect(events).toEqual(['start store', 'start socket', 'stop store'])
  })
})
