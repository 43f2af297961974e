// The load generator, run as its own process (forked by run.js) so that its CPU is measured apart from the
// plugin's. It keeps `connections` keep-alive connections to the plugin socket, each with one request in
// flight at a time, like the daemon's plugin client. To stay cheap it speaks HTTP/1.1 on raw sockets: the
// request is a pre-built Buffer, and a reply is read just far enough to find its status, length and Allow.
//
// Protocol: the parent sends { socket, request (base64), connections, durationMs }; the worker answers with
// one { type: "result", result } message per run, with the counts, latency percentiles and its own CPU time.

import net from 'node:net'
import { performance } from 'node:perf_hooks'

const MAX_SAMPLES = 4_000_000
const HEADER_END = Buffer.from('\r\n\r\n')
/** How long in-flight calls may take to finish after the window closes before they count as errors. */
const DRAIN_MS = 10_000

const samples = new Float64Array(MAX_SAMPLES)

process.on('message', (message) => {
  if (message.type === 'run') runLoad(message).then((result) => process.send({ type: 'result', result }))
  if (message.type === 'exit') process.exit(0)
})

async function runLoad ({ socket, request, connections, durationMs }) {
  const bytes = Buffer.from(request, 'base64')
  const sockets = await Promise.all(Array.from({ length: connections }, () => connect(socket)))

  const stats = { sent: 0, allowed: 0, errors: 0, inWindow: 0, samples: 0, firstError: null }
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  const deadline = start + durationMs

  await new Promise((resolve) => {
    let open = sockets.length
    const drainTimer = setTimeout(() => { for (const sock of sockets) sock.destroy() }, durationMs + DRAIN_MS)
    const closed = () => {
      if (--open > 0) return
      clearTimeout(drainTimer)
      resolve()
    }
    for (const sock of sockets) drive(sock, bytes, deadline, stats, closed)
  })

  const elapsedMs = performance.now() - start
  const cpu = process.cpuUsage(cpuStart)
  const latencies = samples.subarray(0, stats.samples).sort()
  const pick = (q) => latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  let total = 0
  for (const value of latencies) total += value
  return {
    connections,
    durationMs,
    elapsedMs,
    sent: stats.sent,
    completed: stats.allowed + stats.errors,
    allowed: stats.allowed,
    errors: stats.errors,
    firstError: stats.firstError,
    perSecond: stats.inWindow / (durationMs / 1000),
    latencyMs: { mean: total / Math.max(1, latencies.length), p50: pick(0.5), p90: pick(0.9), p99: pick(0.99), max: pick(1) },
    generatorCpuSeconds: (cpu.user + cpu.system) / 1e6
  }
}

function connect (path) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path }, () => {
      sock.off('error', reject)
      resolve(sock)
    })
    sock.once('error', reject)
  })
}

/** One connection's loop: send, read the whole reply, record it, send again until the deadline. */
function drive (sock, bytes, deadline, stats, done) {
  let pending = null
  let sentAt = 0
  let inFlight = false
  let finished = false

  const finish = () => {
    if (finished) return
    finished = true
    sock.destroy()
    done()
  }
  const fail = (why) => {
    stats.errors++
    stats.firstError ??= why
  }
  const send = () => {
    inFlight = true
    stats.sent++
    sentAt = performance.now()
    sock.write(bytes)
  }

  sock.on('data', (chunk) => {
    pending = pending === null ? chunk : Buffer.concat([pending, chunk])
    while (pending !== null && !finished) {
      const headerEnd = pending.indexOf(HEADER_END)
      if (headerEnd === -1) return
      const head = pending.toString('latin1', 0, headerEnd)
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? NaN)
      if (!Number.isFinite(length)) {
        fail(`reply without Content-Length: ${head}`)
        finish()
        return
      }
      const end = headerEnd + HEADER_END.length + length
      if (pending.length < end) return
      const now = performance.now()
      const body = pending.toString('utf8', headerEnd + HEADER_END.length, end)
      pending = pending.length === end ? null : pending.subarray(end)
      inFlight = false
      if (stats.samples < MAX_SAMPLES) samples[stats.samples++] = now - sentAt
      if (now <= deadline) stats.inWindow++
      if (head.startsWith('HTTP/1.1 200') && body.includes('"Allow":true')) stats.allowed++
      else fail(`${head.split('\r\n')[0]} ${body}`)
      if (now < deadline) send()
      else finish()
    }
  })
  sock.on('error', (err) => {
    if (inFlight) fail(`socket error: ${err.message}`)
    inFlight = false
    finish()
  })
  sock.on('close', () => {
    if (inFlight) fail('the plugin closed the connection with a call in flight (or it timed out)')
    inFlight = false
    finish()
  })
  send()
}
