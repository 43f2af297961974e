// The session's output reaches the client in the order it was produced, one write in flight at a time, so a
// closing stderr message cannot starve behind stdout when the SSH window is full.
import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { ChannelOutput, type OutputChannel } from '../../src/bridge/channel-output.js'

/** A channel whose writes complete only when the test says so, as a full SSH window would hold them. */
function heldChannel () {
  const written: string[] = []
  const pending: Array<() => void> = []
  let inFlight = 0
  let maxInFlight = 0
  const writer = (name: string) => ({
    write (data: Buffer, cb: () => void) {
      written.push(`${name}:${data.toString()}`)
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      pending.push(() => { inFlight--; cb() })
      return true
    }
  })
  const channel = Object.assign(new EventEmitter(), writer('out'), { stderr: writer('err'), destroyed: false, writableEnded: false })
  return {
    channel: channel satisfies OutputChannel,
    written,
    release: () => { pending.shift()?.() },
    maxInFlight: () => maxInFlight,
    close: () => { channel.destroyed = true; channel.emit('close') }
  }
}

describe('ChannelOutput', () => {
  it('writes stdout and stderr in the order given, never two at once', () => {
    const held = heldChannel()
    const output = new ChannelOutput(held.channel)
    output.out(Buffer.from('a'))
    output.err('why')
    output.out(Buffer.from('b'))
    expect(held.written).toEqual(['out:a'])
    held.release()
    held.release()
    held.release()
    expect(held.written).toEqual(['out:a', 'err:why', 'out:b'])
    expect(held.maxInFlight()).toBe(1)
  })

  it('joins chunks queued for the same stream into one write, never across streams', () => {
    const held = heldChannel()
    const output = new ChannelOutput(held.channel)
    output.out(Buffer.from('a'))
    output.out(Buffer.from('b'))
    output.out(Buffer.from('c'))
    output.err('e')
    output.out(Buffer.from('d'))
    held.release()
    held.release()
    held.release()
    expect(held.written).toEqual(['out:a', 'out:bc', 'err:e', 'out:d'])
  })

  it('drops queued output on discardQueued, and what comes after still goes out', () => {
    const held = heldChannel()
    const output = new ChannelOutput(held.channel)
    output.out(Buffer.from('sent'))
    output.out(Buffer.from('unrecorded'))
    output.discardQueued()
    output.err('portcullis: ends it')
    held.release()
    held.release()
    expect(held.written).toEqual(['out:sent', 'err:portcullis: ends it'])
  })

  it('asks the producer to pause past its limit and calls it back once drained', () => {
    const held = heldChannel()
    const output = new ChannelOutput(held.channel)
    expect(output.out(Buffer.alloc(3 * 1024 * 1024))).toBe(false)
    let drained = false
    output.onDrain(() => { drained = true })
    expect(drained).toBe(false)
    held.release()
    expect(drained).toBe(true)
  })

  it('flush resolves when the queue is empty or the client is gone', async () => {
    const held = heldChannel()
    const output = new ChannelOutput(held.channel)
    output.out(Buffer.from('x'))
    const flushed = output.flush(60_000)
    held.close()
    await flushed
    await output.flush(60_000)
  })
})
