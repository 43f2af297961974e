// A private Docker daemon for the benchmark: its own socket, data root, exec root and managed containerd, all
// in one dir, so it never touches another daemon on the machine. The same approach as test/helpers/dockerd.ts,
// in plain JS so `npm run bench` needs no TypeScript runner. Everything it starts is stopped by pid.

import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { killPids, onProcessEnd, signalAndWait } from './cleanup.js'
import { isAlive, processesUsing, startTimeOf } from '../scripts/lib/procfs.js'

export const DOCKERD_BINARY = '/usr/sbin/dockerd'
/** The containerd namespace dockerd runs managed plugins in. */
const PLUGIN_NAMESPACE = 'plugins.moby'

/** Where a daemon started in `dir` keeps its socket; known before it starts (the plugin needs it). */
export function dockerdSocket (dir) {
  return path.join(dir, 'docker.sock')
}

/**
 * Starts dockerd in `dir` (which the caller owns and removes). `authorizationPlugin` is a legacy plugin name
 * whose spec file must already exist. Resolves once the API answers.
 */
export async function startDockerd ({ dir, authorizationPlugin, logLevel = 'warn', startTimeoutMs = 60_000 }) {
  await mkdir(dir, { recursive: true })
  const socket = dockerdSocket(dir)
  const execRoot = path.join(dir, 'exec')
  const logFile = path.join(dir, 'dockerd.log')
  const args = [
    '--host', `unix://${socket}`,
    '--data-root', path.join(dir, 'data'),
    '--exec-root', execRoot,
    '--pidfile', path.join(dir, 'docker.pid'),
    '--bridge=none',
    '--iptables=false',
    '--ip-forward=false',
    '--log-level', logLevel
  ]
  if (authorizationPlugin !== undefined) args.push(`--authorization-plugin=${authorizationPlugin}`)

  const logFd = openSync(logFile, 'a')
  let child
  try {
    child = spawn(DOCKERD_BINARY, args, { stdio: ['ignore', logFd, logFd] })
  } finally {
    closeSync(logFd)
  }
  child.once('error', () => {}) // a failed spawn shows as a missing pid, reported just below
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not start ${DOCKERD_BINARY}; install docker.io (make system-deps)`)

  const cancelSafetyNet = onProcessEnd(() => {
    killPids([pid, ...containerInitPids(execRoot), ...containerInitPids(execRoot, PLUGIN_NAMESPACE), ...processesUsing(execRoot)])
    unmountUnder(dir)
  })
  const stop = async () => {
    try {
      await stopDaemon(child, dir, execRoot)
    } finally {
      cancelSafetyNet()
    }
  }

  try {
    await waitForApi(child, socket, logFile, startTimeoutMs)
  } catch (err) {
    await stop()
    throw err
  }
  return { dir, socket, pid, logFile, stop }
}

async function waitForApi (child, socket, logFile, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`dockerd exited during startup (${child.exitCode ?? child.signalCode}).\n${await logTail(logFile)}`)
    }
    // Any HTTP answer means the API is served; with an authz plugin even /_ping may be refused.
    if (existsSync(socket) && (await pingStatus(socket)) !== null) return
    await sleep(200)
  }
  throw new Error(`dockerd did not answer on ${socket} within ${timeoutMs} ms.\n${await logTail(logFile)}`)
}

function pingStatus (socketPath) {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: 2_000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? null)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(null))
  })
}

async function stopDaemon (child, dir, execRoot) {
  // Containers ignore SIGTERM as PID 1 and the daemon waits 10 s for each; they hold nothing worth keeping.
  killPids(containerInitPids(execRoot))
  if (await signalAndWait(child, 'SIGTERM', 30_000)) {
    await waitUntilGone(processesUsing(execRoot), 10_000) // its containerd stops on the way out
  } else {
    await signalAndWait(child, 'SIGKILL', 5_000)
  }
  // A killed daemon leaves its containerd and shims behind; only they name the exec root. A managed plugin's
  // process does not: it is found through runc's state, like a container's.
  const leftovers = [...containerInitPids(execRoot), ...containerInitPids(execRoot, PLUGIN_NAMESPACE), ...processesUsing(execRoot)]
  if (leftovers.length > 0) {
    killPids(leftovers)
    await waitUntilGone(leftovers, 5_000)
  }
  unmountUnder(dir)
}


async function waitUntilGone (pids, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(100)
}

/** The pid of an enabled managed plugin's process on the daemon started in `dir`, or null when it runs none. */
export function managedPluginPid (dir, pluginId) {
  return initPidOf(path.join(dir, 'exec', 'runtime-runc', PLUGIN_NAMESPACE, pluginId))
}

/**
 * Init pids of the daemon's running containers (containerd namespace `moby`) or managed plugins
 * (`plugins.moby`), from runc's state.
 */
function containerInitPids (execRoot, namespace = 'moby') {
  const stateRoot = path.join(execRoot, 'runtime-runc', namespace)
  let ids
  try {
    ids = readdirSync(stateRoot)
  } catch {
    return []
  }
  return ids.map((id) => initPidOf(path.join(stateRoot, id))).filter((pid) => pid !== null)
}

/** The init pid in runc's state dir, if that process still runs: its start time must match the live pid's. */
function initPidOf (stateDir) {
  try {
    const state = JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8'))
    const pid = state.init_process_pid
    return pid > 0 && String(startTimeOf(pid)) === String(state.init_process_start) ? pid : null
  } catch {
    return null // removed while we looked
  }
}

/** Lazily unmounts anything still mounted inside `dir` (overlay layers, netns, the data-root bind mount). */
export function unmountUnder (dir) {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`
  const mountPoints = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8))))
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(prefix))
    .sort((a, b) => b.length - a.length)
  for (const mountPoint of mountPoints) spawnSync('umount', ['-l', mountPoint], { stdio: 'ignore' })
}

async function logTail (file, lines = 30) {
  try {
    const text = await readFile(file, 'utf8')
    return `last lines of ${file}:\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`
  } catch {
    return `(no log at ${file})`
  }
}
