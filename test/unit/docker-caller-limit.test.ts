import { describe, expect, it } from 'vitest'
import { CallerLimit } from '../../src/docker/caller-limit.js'

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('CallerLimit', () => {
  it('runs at most max at a time for one caller; the rest wait in order', async () => {
    const limit = new CallerLimit(2)
    const releases: Array<() => void> = []
    const order: number[] = []
    const jobs = [0, 1, 2, 3].map((i) => limit.run('mallory', () => new Promise<void>((resolve) => { order.push(i); releases.push(resolve) })))
    await tick()
    expect(order).toEqual([0, 1])
    expect(limit.inFlight('mallory')).toBe(2)
    releases[0]!()
    await tick(); await tick()
    expect(order).toEqual([0, 1, 2])
    releases[1]!(); releases[2]!()
    await tick(); await tick()
    releases[3]!()
    await Promise.all(jobs)
    expect(limit.inFlight('mallory')).toBe(0)
  })

  it('does not hold up another caller', async () => {
    const limit = new CallerLimit(1)
    const blocked = limit.run('mallory', () => new Promise<void>(() => {}))
    void blocked
    void limit.run('mallory', async () => 'queued')
    await expect(limit.run('alice', async () => 'done')).resolves.toBe('done')
  })

  it('frees the place when the work fails', async () => {
    const limit = new CallerLimit(1)
    await expect(limit.run('a', async () => { throw new Error('lookup failed') })).rejects.toThrow('lookup failed')
    await expect(limit.run('a', async () => 1)).resolves.toBe(1)
  })
})
