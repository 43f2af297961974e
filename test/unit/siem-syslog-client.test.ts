// The syslog client against real sockets on this machine: it frames by octet counting, waits (bounded) while the
// receiver is away and delivers once it is back, counts what it drops, and says plainly that a datagram socket
// such as /dev/log cannot be written.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { SyslogClient } from '../../src/siem/syslog.js'
import { parseSyslogAddress } from '../../src/policy/syslog-address.js'
import { waitFor, waitUntil } from '../helpers/wait.js'

const logger = pino({ level: 'silent' })
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup() })

/** A stream receiver that splits octet-counted frames, as rsyslog's imptcp does with SupportOctetCountedFraming. */
function receiver (): { server: net.Server, messages: string[], sockets: net.Socket[] } {
  const messages: string[] = []
  const sockets: net.Socket[] = []
  const server = net.createServer((socket) => {
    sockets.push(socket)
    let buffer = Buffer.alloc(0)
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      for (;;) {
        const space = buffer.indexOf(0x20)
        if (space < 0) return
        const length = Number(buffer.subarray(0, space).toString('ascii'))
        if (buffer.length < space + 1 + length) return
        messages.push(buffer.subarray(space + 1, space + 1 + length).toString('utf8'))
        buffer = buffer.subarray(space + 1 + length)
      }
    })
  })
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    server.close(() => resolve())
  }))
  return { server, messages, sockets }
}

async function listen (server: net.Server, where: number | string): Promise<void> {
  await new Promise<void>((resolve) => server.listen(where as number, '127.0.0.1', resolve))
}

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'syslog-client-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

function client (address: string, maxQueue?: number): SyslogClient {
  const made = new SyslogClient({ address, logger, maxBackoffMs: 200, ...(maxQueue !== undefined ? { maxQueue } : {}) })
  cleanups.push(() => made.close(100))
  return made
}

describe('syslog addresses', () => {
  it('reads tcp:HOST:PORT (v6 in brackets) and unix:/path, and refuses anything else with a coded error', () => {
    expect(parseSyslogAddress('tcp:127.0.0.1:5514')).toEqual({ transport: 'tcp', host: '127.0.0.1', port: 5514 })
    expect(parseSyslogAddress('tcp:[::1]:514')).toEqual({ transport: 'tcp', host: '::1', port: 514 })
    expect(parseSyslogAddress('unix:/run/syslog.sock')).toEqual({ transport: 'unix', path: '/run/syslog.sock' })
    for (const bad of ['udp:127.0.0.1:514', 'tcp:host', 'tcp:host:0', 'tcp:host:70000', 'unix:relative', '/dev/log']) {
      expect(() => parseSyslogAddress(bad), bad).toThrow(expect.objectContaining({ code: 'PORTCULLIS_SYSLOG_ADDRESS' }))
    }
  })
})

describe('the syslog client', () => {
  it('sends octet-counted frames over TCP, line breaks inside a message and all', async () => {
    const { server, messages } = receiver()
    await listen(server, 0)
    const sender = client(`tcp:127.0.0.1:${(server.address() as net.AddressInfo).port}`)
    sender.send('<134>1 - - portcullis - - - \uFEFFone\ntwo')
    sender.send('<134>1 - - portcullis - - - \uFEFFthree')
    await waitUntil('both messages received', () => messages.length === 2)
    expect(messages).toEqual(['<134>1 - - portcullis - - - \uFEFFone\ntwo', '<134>1 - - portcullis - - - \uFEFFthree'])
    expect(sender.status()).toMatchObject({ connected: true, sent: 2, dropped: 0, queued: 0 })
  })

  it('sends over a unix stream socket', async () => {
    const socketPath = path.join(await tempDir(), 'syslog.sock')
    const { server, messages } = receiver()
    await new Promise<void>((resolve) => server.listen(socketPath, resolve))
    const sender = client(`unix:${socketPath}`)
    sender.send('<134>1 - - portcullis - - - \uFEFFover unix')
    await waitUntil('the message received', () => messages.length === 1)
    expect(messages[0]).toContain('over unix')
  })

  it('holds messages while the receiver is away and delivers them, in order, once it listens; never throws', async () => {
    const probe = net.createServer()
    await listen(probe, 0)
    const port = (probe.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const sender = client(`tcp:127.0.0.1:${port}`)
    for (let i = 0; i < 5; i++) expect(sender.send(`m${i}`)).toBe(true)
    await waitFor('a connection error noted', () => sender.status().lastError ?? undefined)
    expect(sender.status()).toMatchObject({ connected: false, queued: 5, sent: 0 })
    const { server, messages } = receiver()
    await listen(server, port)
    await waitUntil('the held messages delivered', () => messages.length === 5)
    expect(messages).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'])
  })

  it('drops what is beyond its queue bound and counts it', async () => {
    const sender = client('tcp:127.0.0.1:1', 3)
    const taken = Array.from({ length: 5 }, (_, i) => sender.send(`m${i}`))
    expect(taken).toEqual([true, true, true, false, false])
    expect(sender.status()).toMatchObject({ queued: 3, dropped: 2 })
  })

  it('reconnects after the receiver closed the connection', async () => {
    const { server, messages, sockets } = receiver()
    await listen(server, 0)
    const sender = client(`tcp:127.0.0.1:${(server.address() as net.AddressInfo).port}`)
    sender.send('before')
    await waitUntil('the first message received', () => messages.length === 1)
    for (const socket of sockets) socket.destroy()
    await waitUntil('the client saw the close', () => !sender.status().connected)
    await waitUntil('the client connected again', () => sender.status().connected)
    sender.send('after')
    await waitUntil('the second message received', () => messages.length === 2)
    expect(sender.status().reconnects).toBeGreaterThanOrEqual(1)
  })

  it('says that a unix datagram socket (like /dev/log) cannot be written, with a coded error, and drops rather than retries', async () => {
    const socketPath = path.join(await tempDir(), 'dgram.sock')
    const python = spawn('python3', ['-c', `import socket,sys,time\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(${JSON.stringify(socketPath)})\nprint('ready',flush=True)\ntime.sleep(60)`], { stdio: ['ignore', 'pipe', 'inherit'] })
    cleanups.push(() => { python.kill() })
    await readyLine(python)
    const sender = client(`unix:${socketPath}`)
    sender.send('lost')
    const error = await waitFor('the datagram socket reported', () => sender.status().lastError ?? undefined)
    expect(error).toMatch(/^PORTCULLIS_SYSLOG_DATAGRAM_SOCKET: .*datagram socket.*stream socket/)
    expect(sender.send('also lost')).toBe(false)
    expect(sender.status()).toMatchObject({ connected: false, queued: 0, sent: 0, dropped: 2 })
  })
})

async function readyLine (child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`python3 exited ${String(code)}`)))
  })
}

describe('the syslog client at a high rate', () => {
  it('delivers 20,000 messages sent at once, in order, none dropped', async () => {
    const { server, messages } = receiver()
    await listen(server, 0)
    const sender = client(`tcp:127.0.0.1:${(server.address() as net.AddressInfo).port}`, 20_000)
    for (let i = 0; i < 20_000; i++) sender.send(`<134>1 - - portcullis - - [portcullis@32473 seq="${i}"]`)
    await waitUntil('every message received', () => messages.length === 20_000, { timeoutMs: 30_000 })
    expect(messages.every((m, i) => m.endsWith(`seq="${i}"]`))).toBe(true)
    expect(sender.status()).toMatchObject({ sent: 20_000, dropped: 0, queued: 0 })
  })
})
