// The RELP sink against a scripted receiver on loopback: its delivered seq moves only with a `rsp 200`, in order, and
// a receiver that misbehaves (another txnr, a 500, serverclose, bytes that are not RELP, an open without syslog) ends
// the session with a coded error and never moves the delivered seq past what was acknowledged. The output then opens
// the sink again at the delivered seq, and the unacknowledged are sent again.
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import type { StoredRecord } from '../../src/audit/query.js'
import { encodeRelpFrame, RelpFrameReader, type RelpFrame } from '../../src/siem/relp.js'
import { RelpSession } from '../../src/siem/relp-session.js'
import { RelpRecordSink } from '../../src/siem/relp-sink.js'
import { waitUntil } from '../helpers/wait.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup() })

function rows (from: number, count: number): StoredRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const seq = from + i
    const record = { seq, time: '2026-12-06T00:00:00.000Z', kind: 'decision' as const, user: 'alice', authMethod: null, action: 'container.list', project: null, resource: null, method: 'GET', uri: '/containers/json', decision: 'allow' as const, reason: 'ok', prevHash: '0'.repeat(64), hash: String(seq).padStart(64, '0') }
    return { record, text: JSON.stringify(record) }
  })
}

const OPEN_ANSWER = '200 OK\nrelp_version=0\nrelp_software=test\ncommands=syslog'

interface Receiver {
  address: string
  /** syslog commands received, by connection: [txnr, seq]. */
  received: Array<Array<[number, number]>>
  connections: net.Socket[]
}

/** A RELP receiver whose answers `answer` writes (by default: open accepted, each syslog 200 at once). */
async function receiver (answer?: (frame: RelpFrame, socket: net.Socket, connection: number) => void): Promise<Receiver> {
  const state: Receiver = { address: '', received: [], connections: [] }
  const server = net.createServer((socket) => {
    const connection = state.connections.push(socket) - 1
    state.received.push([])
    const reader = new RelpFrameReader(1 << 20)
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) {
        if (frame.command === 'syslog') state.received[connection]!.push([frame.txnr, Number(/ seq="(\d+)"/.exec(frame.data.toString())?.[1])])
        if (answer !== undefined) answer(frame, socket, connection)
        else socket.write(encodeRelpFrame(frame.txnr, 'rsp', frame.command === 'open' ? OPEN_ANSWER : '200 OK'))
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const socket of state.connections) socket.destroy()
    server.close(() => resolve())
  }))
  state.address = `relp:127.0.0.1:${(server.address() as net.AddressInfo).port}`
  return state
}

function sink (address: string): RelpRecordSink {
  const made = new RelpRecordSink({ address, facility: 'local0', hostname: 'h1' })
  cleanups.push(async () => { await made.abandon() })
  return made
}

/** Answers open, then hands each syslog frame to `onSyslog`. */
function scripted (onSyslog: (frame: RelpFrame, socket: net.Socket, connection: number) => void) {
  return (frame: RelpFrame, socket: net.Socket, connection: number): void => {
    if (frame.command === 'open') socket.write(encodeRelpFrame(frame.txnr, 'rsp', OPEN_ANSWER))
    else if (frame.command === 'syslog') onSyslog(frame, socket, connection)
    else socket.write(encodeRelpFrame(frame.txnr, 'rsp', ''))
  }
}

describe('RELP record sink', () => {
  it('the delivered seq moves only with each record\'s rsp 200, in order; status tells sent from acknowledged', async () => {
    const held: RelpFrame[] = []
    let socket: net.Socket | null = null
    const r = await receiver(scripted((frame, s) => { held.push(frame); socket = s }))
    const out = sink(r.address)
    expect(await out.open(10)).toEqual({ seq: 10, hash: null })
    await out.write(rows(11, 5))
    await waitUntil('the receiver to get five', () => held.length === 5)
    expect(out.deliveredSeq).toBe(10)
    expect(out.status()).toMatchObject({ delivery: 'acknowledged by the RELP receiver', connected: true, sentSeq: 15, acknowledgedSeq: 10, inFlight: 5 })
    // The first session's txnrs: open was 1, the records 2..6.
    expect(r.received[0]).toEqual([[2, 11], [3, 12], [4, 13], [5, 14], [6, 15]])
    socket!.write(Buffer.concat(held.slice(0, 2).map((f) => encodeRelpFrame(f.txnr, 'rsp', '200 OK'))))
    await waitUntil('two acknowledged', () => out.deliveredSeq === 12)
    socket!.write(Buffer.concat(held.slice(2).map((f) => encodeRelpFrame(f.txnr, 'rsp', '200 OK'))))
    await waitUntil('all acknowledged', () => out.deliveredSeq === 15)
    expect(out.status()).toMatchObject({ sentSeq: 15, acknowledgedSeq: 15, inFlight: 0, sent: 5, acknowledged: 5, sessions: 1 })
    await out.close()
  })

  it('no more than 128 commands wait for answers: the write waits for the window, and the output\'s stop ends the wait', async () => {
    const r = await receiver(scripted(() => {}))
    const out = sink(r.address)
    await out.open(0)
    const write = out.write(rows(1, 300))
    await waitUntil('a full window sent', () => (r.received[0]?.length ?? 0) === 128)
    expect(out.status()).toMatchObject({ sentSeq: 128, inFlight: 128, acknowledgedSeq: 0 })
    out.interrupt()
    await expect(write).rejects.toThrow('the output is stopping')
    expect(r.received[0]!.length).toBe(128)
    expect(out.deliveredSeq).toBe(0)
  })

  it('an answer with another txnr than the one due is PORTCULLIS_RELP_PROTOCOL; the unacknowledged are sent again on a new session', async () => {
    const r = await receiver(scripted((frame, socket, connection) => {
      // The first session answers the second record with the third's txnr; the second session behaves.
      if (connection === 0 && frame.txnr === 3) socket.write(encodeRelpFrame(4, 'rsp', '200 OK'))
      else socket.write(encodeRelpFrame(frame.txnr, 'rsp', '200 OK'))
    }))
    const out = sink(r.address)
    await out.open(0)
    await out.write(rows(1, 3))
    await waitUntil('the session to fail', () => !out.status().connected)
    expect(out.deliveredSeq).toBe(1)
    const failure = await out.tick().then(() => null, (err: unknown) => err)
    expect(failure).toMatchObject({ code: 'PORTCULLIS_RELP_PROTOCOL', message: expect.stringContaining('answered txnr 4 where txnr 3 (syslog) was due') })
    // What the output does next: abandon, open at the delivered seq, write from there.
    await out.abandon()
    expect(await out.open(1)).toEqual({ seq: 1, hash: null })
    await out.write(rows(2, 2))
    await waitUntil('both acknowledged', () => out.deliveredSeq === 3)
    expect(r.received[1]).toEqual([[2, 2], [3, 3]])
    expect(out.status()).toMatchObject({ sessions: 2, acknowledgedSeq: 3 })
  })

  it('a 500 answer is PORTCULLIS_RELP_REFUSED naming the record; the delivered seq stays before it', async () => {
    const r = await receiver(scripted((frame, socket) => {
      socket.write(encodeRelpFrame(frame.txnr, 'rsp', frame.txnr === 4 ? '500 queue full' : '200 OK'))
    }))
    const out = sink(r.address)
    await out.open(20)
    await out.write(rows(21, 5))
    await waitUntil('the session to fail', () => !out.status().connected)
    expect(out.deliveredSeq).toBe(22)
    await expect(out.write(rows(26, 1))).rejects.toMatchObject({ code: 'PORTCULLIS_RELP_REFUSED', message: expect.stringContaining('refused record 23: it answered "500 queue full"') })
  })

  it('serverclose ends the session: with records unanswered the output is told (PORTCULLIS_OUTPUT); with none, the next write opens a new session', async () => {
    const r = await receiver(scripted((frame, socket, connection) => {
      socket.write(encodeRelpFrame(frame.txnr, 'rsp', '200 OK'))
      if (connection === 0 && frame.txnr === 3) socket.end(encodeRelpFrame(0, 'serverclose'))
    }))
    const out = sink(r.address)
    await out.open(0)
    await out.write(rows(1, 2))
    await waitUntil('the session to end', () => !out.status().connected)
    expect(out.deliveredSeq).toBe(2)
    await out.tick()
    await out.write(rows(3, 2))
    await waitUntil('both acknowledged on a new session', () => out.deliveredSeq === 4)
    expect(out.status()).toMatchObject({ sessions: 2 })

    const unanswered = await receiver(scripted((frame, socket) => { if (frame.txnr === 3) socket.end(encodeRelpFrame(0, 'serverclose')) }))
    const second = sink(unanswered.address)
    await second.open(0)
    await second.write(rows(1, 3))
    await waitUntil('the session to end', () => !second.status().connected)
    await expect(second.tick()).rejects.toMatchObject({ code: 'PORTCULLIS_OUTPUT', message: expect.stringContaining('serverclose') })
    expect(second.deliveredSeq).toBe(0)
  })

  it('a receiver that leaves commands unanswered for the answer timeout loses the session (PORTCULLIS_RELP_PROTOCOL); nothing is acknowledged', async () => {
    const r = await receiver(scripted(() => {}))
    const [, host, port] = r.address.split(':')
    const acks: number[] = []
    // The timer itself is under test: 300 ms here, 90 s by default.
    const session = new RelpSession({ host: host!, port: Number(port), address: r.address, onAck: (tag) => acks.push(tag), answerTimeoutMs: 300 })
    cleanups.push(() => { session.fail(new Error('test over')) })
    await session.start()
    session.send(Buffer.from('<134>1 - h a - - - one'), 1)
    await expect(session.whenBelow(1)).rejects.toMatchObject({ code: 'PORTCULLIS_RELP_PROTOCOL', message: expect.stringContaining('1 command(s) had no answer for 0.3 s') })
    expect(acks).toEqual([])
  })

  it('a receiver that is not RELP (plain syslog, HTTP) or takes no syslog command fails the open with a coded error', async () => {
    const http = await receiver((_frame, socket) => { socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n') })
    await expect(sink(http.address).write(rows(1, 1))).rejects.toMatchObject({ code: 'PORTCULLIS_RELP_PROTOCOL', message: expect.stringContaining('does not start with TXNR COMMAND DATALEN') })
    const noSyslog = await receiver((frame, socket) => { socket.write(encodeRelpFrame(frame.txnr, 'rsp', '200 OK\nrelp_version=0\ncommands=eventlog')) })
    await expect(sink(noSyslog.address).write(rows(1, 1))).rejects.toMatchObject({ code: 'PORTCULLIS_RELP_REFUSED', message: expect.stringContaining('commands=eventlog (no syslog)') })
    const badLength = await receiver((frame, socket) => { socket.write(`${frame.txnr} rsp 3 200 OK\n`) })
    await expect(sink(badLength.address).write(rows(1, 1))).rejects.toMatchObject({ code: 'PORTCULLIS_RELP_PROTOCOL', message: expect.stringContaining('does not end with LF where its length says') })
  })
})

describe('RELP sessions over time', () => {
  for (const [what, talk] of [
    ['hints (txnr 0) every 100 ms', (socket: net.Socket) => socket.write(encodeRelpFrame(0, 'ping', ''))],
    ['a frame trickled a byte every 100 ms', (() => { let at = 0; const frame = '7 rsp 6 200 OK\n'; return (socket: net.Socket) => socket.write(frame[at++ % frame.length]!) })()]
  ] as const) {
    it(`a receiver that answers nothing but sends ${what} still loses the session at the answer timeout`, async () => {
      const talking: NodeJS.Timeout[] = []
      const r = await receiver(scripted((_frame, socket) => { talking.push(setInterval(() => talk(socket), 100)) }))
      cleanups.push(() => { for (const timer of talking) clearInterval(timer) })
      const [, host, port] = r.address.split(':')
      const session = new RelpSession({ host: host!, port: Number(port), address: r.address, onAck: () => {}, answerTimeoutMs: 300 })
      cleanups.push(() => { session.fail(new Error('test over')) })
      await session.start()
      session.send(Buffer.from('<134>1 - h a - - - one'), 1)
      await expect(session.whenBelow(1)).rejects.toMatchObject({ code: 'PORTCULLIS_RELP_PROTOCOL', message: expect.stringContaining('had no answer for 0.3 s') })
    })
  }

  it('a session ends before its txnr would wrap, and the next starts at 1: a receiver that numbers as librelp does loses nothing', async () => {
    // librelp's server expects txnr + 1 up to 999,999,999 and then 1,000,000,000 (relpEngineNextTXNR); the RELP spec says 1.
    const expected: number[] = []
    const r = await receiver((frame, socket, connection) => {
      const want = expected[connection] ?? frame.txnr
      if (frame.txnr !== want) {
        socket.destroy()
        return
      }
      expected[connection] = frame.txnr > 999_999_999 ? 1 : frame.txnr + 1
      socket.write(encodeRelpFrame(frame.txnr, 'rsp', frame.command === 'open' ? OPEN_ANSWER : frame.command === 'close' ? '' : '200 OK'))
      if (frame.command === 'close') socket.end(encodeRelpFrame(0, 'serverclose', ''))
    })
    const out = new RelpRecordSink({ address: r.address, facility: 'local0', hostname: 'h1' }, { firstTxnr: 999_999_990 })
    cleanups.push(async () => { await out.abandon() })
    await out.open(0)
    for (let seq = 1; seq <= 20; seq += 5) await out.write(rows(seq, 5))
    await waitUntil('every record acknowledged', () => out.deliveredSeq === 20)
    expect(r.connections).toHaveLength(2)
    expect(r.received[0]!.at(-1)![0]).toBeLessThanOrEqual(999_999_999)
    expect(r.received[1]![0]).toEqual([2, r.received[0]!.length + 1])
    expect(r.received.flat().map(([, seq]) => seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
  })
})
