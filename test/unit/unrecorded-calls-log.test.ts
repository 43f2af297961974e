// While the audit store cannot be written, every call is denied; the log gets the first at once and then one line
// per interval counting the calls denied since, never a line per call (issue 12, item 3).
import pino from 'pino'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { UnrecordedCallsLog } from '../../src/authz/unrecorded-calls-log.js'

function capturingLogger (): { logger: pino.Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString())); done() } })
  return { logger: pino({}, stream), lines }
}

describe('calls denied because they could not be recorded', () => {
  it('log the first at once with its error, then at most one line per interval with the count since the last', async () => {
    const { logger, lines } = capturingLogger()
    let now = 1_000_000
    const log = new UnrecordedCallsLog(logger, 10_000, () => now)
    const err = Object.assign(new Error('No space left on device'), { code: 'PORTCULLIS_AUDIT_WRITE_FAILED' })
    log.denied(err)
    for (let i = 0; i < 500; i++) { now += 10; log.denied(err) } // 5 s of a busy daemon
    now += 5_001
    log.denied(err)
    await new Promise((resolve) => setImmediate(resolve))
    expect(lines.map((line) => line.deniedCalls)).toEqual([1, 501])
    expect(lines.every((line) => line.level === 50 && (line.err as { message: string }).message === 'No space left on device')).toBe(true)
  })
})
