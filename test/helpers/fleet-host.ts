// One host of a test fleet: `portcullis serve` with its own keys (so its own host ID and audit key), store and
// sockets, shipping to the test's PostgreSQL, and no dockerd: the load is AuthZReq calls posted to its plugin
// socket the way dockerd posts them.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { postAuthzReq } from './authz-request.js'
import { adminJson } from '../../src/admin/client.js'
import { PORTCULLIS_CLI, portcullisCliOk } from './index.js'
import { signalAndWait } from './process.js'
import { onProcessEnd } from './safety-net.js'
import { waitUntil } from './wait.js'

export interface FleetHost {
  readonly name: string
  readonly dir: string
  readonly data: string
  readonly keysDir: string
  readonly hostId: string
  readonly adminSocket: string
  readonly pid: number | null
  start: () => Promise<void>
  /** SIGTERM and wait (serve ships what is left before it exits, for up to 3 s). */
  stop: () => Promise<void>
  kill: () => Promise<void>
  /** Posts `calls` AuthZReqs, `workers` at a time (the nth to `uriOf(n)`, by default a container list); resolves with how many were allowed. */
  load: (calls: number, workers?: number, uriOf?: (n: number) => string) => Promise<number>
  /** The `fleet` part of the admin socket's status, what `portcullis status` prints (read without a CLI process:
   * tests poll it, twenty hosts at a time). */
  fleetStatus: () => Promise<{ state: string, lag: number, shippedSeq: number, headSeq: number, alarms: unknown[], halted: unknown, lastError: { code: string, message: string } | null }>
  log: () => string
}

export async function makeFleetHost (root: string, name: string, policyFile: string, fleetArgs: string[]): Promise<FleetHost> {
  const dir = path.join(root, name)
  const keysDir = path.join(dir, 'keys')
  mkdirSync(dir, { recursive: true })
  await portcullisCliOk(['keys', 'init', '--keys', keysDir])
  const token = (await portcullisCliOk(['token', 'issue', '--keys', keysDir, '--user', 'alice', '--ttl', '1h'])).trim().split('\n').pop()!.trim()
  const socket = path.join(dir, 'plugin.sock')
  const adminSocket = path.join(dir, 'admin.sock')
  const data = path.join(dir, 'data')
  let child: ChildProcess | null = null
  let output = ''
  let cancel = (): void => {}

  const host: FleetHost = {
    name,
    dir,
    data,
    keysDir,
    hostId: readFileSync(path.join(keysDir, 'host-id'), 'utf8').trim(),
    adminSocket,
    get pid () { return child?.pid ?? null },
    async start () {
      const started = spawn(process.execPath, [PORTCULLIS_CLI, 'serve', '--config', policyFile, '--socket', socket, '--admin-socket', adminSocket,
        '--data', data, '--keys', keysDir, '--docker-host', `unix://${path.join(dir, 'no-dockerd.sock')}`, '--elevation-listen', 'off', '--log-level', 'info', ...fleetArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] })
      child = started
      started.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString() })
      started.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
      cancel = onProcessEnd(() => started.kill('SIGKILL'))
      await waitUntil(`${name}'s plugin socket`, async () => {
        if (started.exitCode !== null) throw new Error(`${name}: serve exited during start:\n${output}`)
        return (await postAuthzReq(socket, '/_ping', { token })) !== null
      }, { timeoutMs: 30_000, detail: () => output })
    },
    async stop () {
      const running = child
      child = null
      if (running === null) return
      if (!(await signalAndWait(running, 'SIGTERM', 20_000))) await signalAndWait(running, 'SIGKILL', 5_000)
      cancel()
    },
    async kill () {
      const running = child
      child = null
      if (running === null) return
      await signalAndWait(running, 'SIGKILL', 5_000)
      cancel()
    },
    async load (calls, workers = 8, uriOf = (n) => `/v1.41/containers/json?limit=${n}`) {
      let next = 0
      let allowed = 0
      await Promise.all(Array.from({ length: workers }, async () => {
        while (next < calls) {
          next++
          if ((await postAuthzReq(socket, uriOf(next), { token }))?.Allow === true) allowed++
        }
      }))
      return allowed
    },
    async fleetStatus () {
      return (await adminJson<{ fleet: Awaited<ReturnType<FleetHost['fleetStatus']>> }>(adminSocket, 'GET', '/v1/status')).body.fleet
    },
    log: () => output
  }
  return host
}

/** A GET on the host's admin socket, as `portcullis status` and `audit tail` make it (without a process each): the body. */
export function adminGet (host: FleetHost, uri: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: host.adminSocket, path: uri, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve(Buffer.concat(chunks).toString()))
      res.on('error', reject)
    }).on('error', reject)
  })
}

/** Resolves once the host ships and has nothing left to ship (at most 30 s). */
export async function shippedAll (host: FleetHost): Promise<void> {
  await waitUntil(`${host.name} to ship every record`, async () => {
    const status = await host.fleetStatus()
    return status.state === 'shipping' && status.lag === 0
  }, { timeoutMs: 30_000, detail: async () => JSON.stringify(await host.fleetStatus()) })
}
