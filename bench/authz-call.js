// Single AuthZReq calls from the parent process, for the moment a plugin starts: one call on a fresh connection,
// and a loop that repeats it until the plugin answers. (The load itself goes through bench/load-worker.js.)

import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'

const HEADER_END = Buffer.from('\r\n\r\n')

/**
 * Sends the raw request `bytes` on a new connection to `socket` and resolves with the reply's
 * { status, allowed, body }. Rejects when nothing listens there (yet) or no full reply comes within `timeoutMs`.
 */
function authzCall (socket, bytes, { timeoutMs = 5_000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path: socket })
    const timer = setTimeout(() => sock.destroy(new Error(`no reply on ${socket} within ${timeoutMs} ms`)), timeoutMs)
    let pending = Buffer.alloc(0)
    const settle = (outcome) => {
      clearTimeout(timer)
      sock.destroy()
      outcome()
    }
    sock.on('connect', () => sock.write(bytes))
    sock.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk])
      const headerEnd = pending.indexOf(HEADER_END)
      if (headerEnd === -1) return
      const head = pending.toString('latin1', 0, headerEnd)
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? NaN)
      if (!Number.isFinite(length)) return settle(() => reject(new Error(`reply without Content-Length: ${head}`)))
      if (pending.length < headerEnd + HEADER_END.length + length) return
      const body = pending.toString('utf8', headerEnd + HEADER_END.length, headerEnd + HEADER_END.length + length)
      const status = Number(head.split(' ')[1])
      settle(() => resolve({ status, allowed: status === 200 && body.includes('"Allow":true'), body }))
    })
    sock.on('error', (err) => settle(() => reject(err)))
    sock.on('close', () => settle(() => reject(new Error(`${socket} closed the connection without a full reply`))))
  })
}

/**
 * Repeats `authzCall` every `intervalMs` until one is answered (allowed or not). Resolves with the reply and
 * `answeredAt` (performance.now() when it arrived); rejects after `timeoutMs`, with the last connection error,
 * or as soon as `signal` aborts.
 */
export async function waitForFirstDecision (socket, bytes, { intervalMs = 5, timeoutMs = 60_000, signal } = {}) {
  const deadline = performance.now() + timeoutMs
  let lastError = null
  while (performance.now() < deadline) {
    if (signal?.aborted) throw new Error(`stopped waiting for an AuthZReq answer on ${socket}`)
    try {
      const reply = await authzCall(socket, bytes)
      return { ...reply, answeredAt: performance.now() }
    } catch (err) {
      lastError = err // ENOENT or ECONNREFUSED until the plugin listens
    }
    await sleep(intervalMs)
  }
  throw new Error(`no AuthZReq answered on ${socket} within ${timeoutMs / 1000} s (last: ${lastError?.message ?? 'none'})`)
}
