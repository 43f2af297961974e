// What the fleet benchmarks share: the private PostgreSQL (scripts/lib/postgres.js, as the tests start it), and
// `serve` hosts with their own keys, stores and sockets and no dockerd (nothing here asks one), stopped by pid.

import { execFileSync, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startPostgres } from '../scripts/lib/postgres.js'
import { killPids, onProcessEnd, signalAndWait } from './cleanup.js'
import { PORTCULLIS_CLI, REPO_ROOT } from './portcullis.js'

export const TOKEN_HEADER = 'X-Portcullis-Token'

export function cli (args) {
  return execFileSync(process.execPath, [PORTCULLIS_CLI, ...args], { encoding: 'utf8' })
}

/** PostgreSQL in `dir` with the fleet schema (init-db) and a login `fleet_hosts` in the ingest role. */
export async function startFleetDatabase (dir) {
  const pg = await startPostgres(dir, { onProcessEnd })
  cli(['fleet', 'init-db', '--fleet', pg.adminUrl])
  await pg.sql("CREATE ROLE fleet_hosts LOGIN PASSWORD 'host-secret' IN ROLE portcullis_ingest")
  return pg
}

/** Makes a host's keys (its own host ID and audit key) and a token for alice; returns how to start it. */
export function prepareHost (hostDir) {
  mkdirSync(hostDir, { recursive: true })
  const keys = path.join(hostDir, 'keys')
  cli(['keys', 'init', '--keys', keys])
  const token = cli(['token', 'issue', '--keys', keys, '--user', 'alice', '--ttl', '1h']).trim().split('\n').pop().trim()
  const policy = path.join(hostDir, 'policy.json')
  copyFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), policy)
  return { dir: hostDir, keys, token, policy, socket: path.join(hostDir, 'plugin.sock'), admin: path.join(hostDir, 'admin.sock'), data: path.join(hostDir, 'data') }
}

/** Starts `serve` for a prepared host with `extraArgs`; resolves once its admin socket answers. */
export async function startHost (host, extraArgs = []) {
  const child = spawn(process.execPath, [PORTCULLIS_CLI, 'serve', '--config', host.policy, '--socket', host.socket,
    '--admin-socket', host.admin, '--data', host.data, '--keys', host.keys, '--docker-host', `unix://${path.join(host.dir, 'no-dockerd.sock')}`,
    '--elevation-listen', 'off', '--log-level', 'error', ...extraArgs], { stdio: ['ignore', 'ignore', 'inherit'] })
  const cancel = onProcessEnd(() => killPids([child.pid]))
  const deadline = Date.now() + 60_000
  while (!existsSync(host.admin) || await get(host.admin, '/v1/status').catch(() => null) === null) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${host.dir}: serve did not start`)
    await sleep(50)
  }
  return {
    pid: child.pid,
    stop: async () => {
      if (!(await signalAndWait(child, 'SIGTERM', 20_000))) await signalAndWait(child, 'SIGKILL', 5_000)
      cancel()
    }
  }
}

/** GET over a unix socket; resolves with the body. */
export function get (socketPath, uri) {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: uri, agent: false }, (res) => {
      let body = ''
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => resolve(body))
      res.on('error', reject)
    }).on('error', reject)
  })
}
