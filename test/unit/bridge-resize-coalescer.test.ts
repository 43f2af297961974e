// Window-change floods: a session sends at most one resize at a time and at most 10 a second, the latest size
// wins, and nothing is sent once the session is closing.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ResizeCoalescer, type TerminalSize } from '../../src/bridge/resize-coalescer.js'

let sent: TerminalSize[]
let answers: Array<() => void>
const send = (size: TerminalSize): Promise<void> => {
  sent.push(size)
  return new Promise((resolve) => answers.push(resolve))
}
const answerAll = async (): Promise<void> => {
  for (const answer of answers.splice(0)) answer()
  await vi.advanceTimersByTimeAsync(0)
}

beforeEach(() => {
  vi.useFakeTimers()
  sent = []
  answers = []
})
afterEach(() => { vi.useRealTimers() })

const coalescer = (initial: TerminalSize | null = null): ResizeCoalescer => new ResizeCoalescer({ send, initial, now: () => Date.now() })

describe('ResizeCoalescer', () => {
  it('sends the first resize at once', () => {
    coalescer().request({ cols: 100, rows: 30 })
    expect(sent).toEqual([{ cols: 100, rows: 30 }])
  })

  it('keeps one resize in flight; of the thousands that came meanwhile only the latest is sent', async () => {
    const c = coalescer()
    for (let i = 1; i <= 5000; i++) c.request({ cols: 80 + (i % 50), rows: 24 + (i % 7) })
    c.request({ cols: 132, rows: 43 })
    expect(sent).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1000)
    expect(sent).toHaveLength(1)
    await answerAll()
    await vi.advanceTimersByTimeAsync(100)
    expect(sent).toEqual([{ cols: 81, rows: 25 }, { cols: 132, rows: 43 }])
  })

  it('starts at most one resize per 100 ms however fast they are answered', async () => {
    const c = coalescer()
    for (let ms = 0; ms < 2000; ms += 5) {
      c.request({ cols: 80 + (ms % 40), rows: 24 })
      await answerAll()
      await vi.advanceTimersByTimeAsync(5)
    }
    expect(sent.length).toBeLessThanOrEqual(21)
    expect(sent.length).toBeGreaterThanOrEqual(10)
  })

  it('does not send the size the terminal already has', async () => {
    const c = coalescer({ cols: 80, rows: 24 })
    c.request({ cols: 80, rows: 24 })
    expect(sent).toEqual([])
    c.request({ cols: 90, rows: 24 })
    await answerAll()
    await vi.advanceTimersByTimeAsync(200)
    c.request({ cols: 90, rows: 24 })
    await vi.advanceTimersByTimeAsync(200)
    expect(sent).toEqual([{ cols: 90, rows: 24 }])
  })

  it('ignores sizes no terminal can have', () => {
    const c = coalescer()
    for (const size of [{ cols: 0, rows: 10 }, { cols: 10, rows: 0 }, { cols: 70_000, rows: 10 }, { cols: 1.5, rows: 10 }, { cols: -1, rows: -1 }]) c.request(size)
    expect(sent).toEqual([])
  })

  it('sends nothing once closed, and close waits for the resize in flight', async () => {
    const c = coalescer()
    c.request({ cols: 100, rows: 30 })
    c.request({ cols: 101, rows: 30 })
    let closed = false
    const closing = c.close().then(() => { closed = true })
    c.request({ cols: 102, rows: 30 })
    await vi.advanceTimersByTimeAsync(500)
    expect(closed).toBe(false)
    await answerAll()
    await closing
    await vi.advanceTimersByTimeAsync(500)
    expect(sent).toEqual([{ cols: 100, rows: 30 }])
  })

  it('a failed resize does not stop the next one', async () => {
    const c = new ResizeCoalescer({ send: async (size) => { sent.push(size); throw new Error('409') }, now: () => Date.now() })
    c.request({ cols: 100, rows: 30 })
    c.request({ cols: 110, rows: 30 })
    await vi.advanceTimersByTimeAsync(200)
    expect(sent).toEqual([{ cols: 100, rows: 30 }, { cols: 110, rows: 30 }])
  })
})
