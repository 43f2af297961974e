// The syslog output's sink against real sockets on this machine: its cursor is what the kernel took, a receiver that
// is away or a datagram socket fails the write with a coded error (the output then retries from the cursor), and a
// write stalled on a receiver that does not read ends when the output stops.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { StoredRecord } from '../../src/audit/query.js'
import { SyslogRecordSink } from '../../src/siem/syslog-sink.js'
import { waitUntil } from '../helpers/wait.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup() })

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'syslog-sink-'))
  cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

function rows (from: number, count: number, padding = 0): StoredRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const seq = from + i
    const record = { seq, time: '2026-12-06T00:00:00.000Z', kind: 'decision' as const, user: 'alice', authMethod: null, action: 'container.list', project: null, resource: null, method: 'GET', uri: '/containers/json', decision: 'allow' as const, reason: 'x'.repeat(padding), prevHash: '0'.repeat(64), hash: String(seq).padStart(64, '0') }
    return { record, text: JSON.stringify(record) }
  })
}

function sink (address: string): SyslogRecordSink {
  const made = new SyslogRecordSink({ address, facility: 'local0', hostname: 'h1' })
  cleanups.push(async () => { await made.abandon() })
  return made
}

/** A unix stream receiver that keeps its sockets; `read` false: it accepts and never reads. */
async function receiver (read: boolean): Promise<{ address: string, bytes: () => number }> {
  const socketPath = path.join(await tempDir(), 'syslog.sock')
  const sockets: net.Socket[] = []
  let bytes = 0
  const server = net.createServer((socket) => {
    sockets.push(socket)
    if (read) socket.on('data', (chunk: Buffer) => { bytes += chunk.length })
    else socket.pause()
  })
  await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    server.close(() => resolve())
  }))
  return { address: `unix:${socketPath}`, bytes: () => bytes }
}

describe('syslog record sink', () => {
  it('starts at the delivered mark and moves its cursor to the last record the kernel took', async () => {
    const { address, bytes } = await receiver(true)
    const out = sink(address)
    expect(await out.open(41)).toEqual({ seq: 41, hash: null })
    await out.write(rows(42, 100))
    expect(out.deliveredSeq).toBe(141)
    expect(out.status()).toMatchObject({ connected: true, sentSeq: 141, sent: 100, connects: 1 })
    await out.close()
    await waitUntil('the receiver to read them', () => bytes() > 100 * 200)
  })

  it('a receiver that is not there fails the write with PORTCULLIS_OUTPUT and leaves the cursor where it was', async () => {
    const out = sink(`unix:${path.join(await tempDir(), 'nobody.sock')}`)
    await out.open(7)
    await expect(out.write(rows(8, 3))).rejects.toMatchObject({ code: 'PORTCULLIS_OUTPUT' })
    expect(out.deliveredSeq).toBe(7)
    expect(out.status().connected).toBe(false)
  })

  it('a unix datagram socket (like /dev/log) fails the write with PORTCULLIS_SYSLOG_DATAGRAM_SOCKET', async () => {
    const socketPath = path.join(await tempDir(), 'dgram.sock')
    const python = spawn('python3', ['-c', `import socket,time\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(${JSON.stringify(socketPath)})\nprint('ready',flush=True)\ntime.sleep(60)`], { stdio: ['ignore', 'pipe', 'inherit'] })
    cleanups.push(() => { python.kill() })
    await new Promise<void>((resolve) => python.stdout!.once('data', () => resolve()))
    const out = sink(`unix:${socketPath}`)
    await out.open(null)
    await expect(out.write(rows(1, 1))).rejects.toMatchObject({ code: 'PORTCULLIS_SYSLOG_DATAGRAM_SOCKET' })
    expect(out.deliveredSeq).toBe(0)
  })

  it('a write stalled on a receiver that never reads ends when the output stops, its cursor short of the batch', async () => {
    const { address } = await receiver(false)
    const out = sink(address)
    await out.open(null)
    // Far more than a unix socket's buffers hold.
    const stalled = out.write(rows(1, 2000, 2000))
    await waitUntil('the write to wait on the receiver', () => out.status().pendingBytes > 0)
    out.interrupt()
    await expect(stalled).rejects.toThrow('stopping')
    expect(out.deliveredSeq).toBeLessThan(2000)
  })
})
