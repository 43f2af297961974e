// `docker inspect` as API calls (GET /v1.41/containers/ID/json), one after another over the daemon socket
// with a token header, against several daemons: one that asks portcullis (AuthZReq and AuthZRes per call), one
// that asks a no-op plugin, one that asks nobody. They are measured in rotating blocks so that drift on the
// machine hits all of them alike.

import http from 'node:http'
import { performance } from 'node:perf_hooks'
import { TOKEN_HEADER } from './docker-cli.js'
import { summarize } from './stats.js'

/**
 * `targets` maps a name to { socket, containerId }. Resolves with { calls, [name]: latency summary }.
 */
export async function compareInspectLatency (targets, { token, calls = 2000, blockSize = 250, warmup = 100 }) {
  const names = Object.keys(targets)
  const clients = Object.fromEntries(names.map((name) => [name, inspectClient(targets[name], token)]))
  try {
    for (const name of names) for (let i = 0; i < warmup; i++) await clients[name].call()
    const latencies = Object.fromEntries(names.map((name) => [name, []]))
    for (let done = 0, round = 0; done < calls; done += blockSize, round++) {
      const n = Math.min(blockSize, calls - done)
      // Rotate who goes first, so no daemon always follows the same other one.
      const order = names.map((_, i) => names[(i + round) % names.length])
      for (const name of order) for (let i = 0; i < n; i++) latencies[name].push(await clients[name].call())
    }
    return { calls, ...Object.fromEntries(names.map((name) => [name, summarize(latencies[name])])) }
  } finally {
    for (const client of Object.values(clients)) client.close()
  }
}

function inspectClient ({ socket, containerId }, token) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const options = {
    socketPath: socket,
    agent,
    method: 'GET',
    path: `/v1.41/containers/${containerId}/json`,
    headers: { [TOKEN_HEADER]: token, 'User-Agent': 'Docker-Client/20.10.24+dfsg1 (linux)' },
    timeout: 30_000
  }
  const call = () => new Promise((resolve, reject) => {
    const start = performance.now()
    const req = http.request(options, (res) => {
      const chunks = []
      res.on('data', (chunk) => chunks.push(chunk))
      res.on('end', () => {
        const elapsed = performance.now() - start
        if (res.statusCode === 200) resolve(elapsed)
        else reject(new Error(`GET ${options.path} on ${socket} answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8')}`))
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${options.path} on ${socket}: no answer within 30 s`)))
    req.on('error', reject)
    req.end()
  })
  return { call, close: () => agent.destroy() }
}
