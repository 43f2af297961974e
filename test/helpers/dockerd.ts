// Starts a private Docker daemon for one test file: its own socket, data root, exec root and managed
// containerd, all under one temp dir, so it never touches another daemon on the machine.
// Everything it starts is found again by that dir (in command lines and runc state) and stopped by pid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { isAlive, processesUsing, startTimeOf } from '../../scripts/lib/procfs.js'
import { signalAndWait } from './process.js'

export { isAlive, processesUsing }
import { onProcessEnd } from './safety-net.js'
import { waitUntil } from './wait.js'

const DOCKERD_BINARY = '/usr/sbin/dockerd'

export interface DockerdPaths {
  dir: string
  /** Path of the API socket. */
  socket: string
  /** `unix://` + socket, for `--host` / `DOCKER_HOST`. */
  host: string
  dataRoot: string
  execRoot: string
  pidFile: string
  logFile: string
}

/** Where a daemon started in `dir` keeps its files; known before it starts (the plugin needs the socket path). */
export function dockerdPaths(dir: string): DockerdPaths {
  const socket = path.join(dir, 'docker.sock')
  return {
    dir,
    socket,
    host: `unix://${socket}`,
    dataRoot: path.join(dir, 'data'),
    execRoot: path.join(dir, 'exec'),
    pidFile: path.join(dir, 'docker.pid'),
    logFile: path.join(dir, 'dockerd.log'),
  }
}

export interface StartDockerdOptions {
  /** Directory for sockets and state. A fresh temp dir when omitted; only that one is removed on stop. */
  dir?: string
  /** Legacy plugin name for `--authorization-plugin`; its spec file must exist before the daemon starts. */
  authorizationPlugin?: string
  logLevel?: 'debug' | 'info' | 'warn' | 'error'
  /** How long to wait for the API to answer. The daemon gives up on an unreachable authz plugin after ~15 s. */
  startTimeoutMs?: number
  /** How long SIGTERM may take before SIGKILL. */
  stopTimeoutMs?: number
  /** Also serve the API on TCP with mutual TLS; the daemon then names the client certificate's CN as the user. */
  tls?: DockerdTls
  /** `--config-file`: a daemon.json the test may edit and apply with `reload()` (SIGHUP). */
  configFile?: string
}

/** A TCP listener with `--tlsverify`: the daemon only talks to clients whose certificate `caCert` signed. */
interface DockerdTls {
  /** `tcp://127.0.0.1:PORT`; the server certificate must name that address. */
  host: string
  caCert: string
  cert: string
  key: string
}

export interface Dockerd extends DockerdPaths {
  pid: number
  /** The daemon's own containerd, read from its pid file once the API answered. */
  containerdPid: number | null
  readLog(): Promise<string>
  /** Stops the daemon, its containerd, shims and containers, then removes the dir if this helper made it. */
  stop(): Promise<void>
}

export async function startDockerd(options: StartDockerdOptions = {}): Promise<Dockerd> {
  const ownsDir = options.dir === undefined
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'portcullis-dockerd-')))
  await mkdir(dir, { recursive: true })
  const paths = dockerdPaths(dir)

  const args = [
    '--host', paths.host,
    '--data-root', paths.dataRoot,
    '--exec-root', paths.execRoot,
    '--pidfile', paths.pidFile,
    '--bridge=none',
    '--iptables=false',
    '--ip-forward=false',
    '--log-level', options.logLevel ?? 'debug',
  ]
  if (options.authorizationPlugin !== undefined) args.push(`--authorization-plugin=${options.authorizationPlugin}`)
  if (options.configFile !== undefined) args.push('--config-file', options.configFile)
  if (options.tls !== undefined) {
    const { host, caCert, cert, key } = options.tls
    args.push('--host', host, '--tlsverify', '--tlscacert', caCert, '--tlscert', cert, '--tlskey', key)
  }

  const logFd = openSync(paths.logFile, 'a')
  let child: ChildProcess
  try {
    child = spawn(DOCKERD_BINARY, args, { stdio: ['ignore', logFd, logFd] })
  } finally {
    closeSync(logFd)
  }
  child.once('error', () => {}) // a failed spawn shows as a missing pid, reported just below
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not start ${DOCKERD_BINARY}; is docker.io installed?`)

  // Last resort if the test process ends without calling stop(): kill by pid, unmount, remove.
  const cancelSafetyNet = onProcessEnd(() => {
    killSync([pid, ...containerInitPids(paths.execRoot), ...processesUsing(paths.execRoot)])
    removeBridgesOf(paths.dataRoot)
    unmountUnder(dir)
    if (ownsDir) removeDirSync(dir)
  })

  const stopAll = async (): Promise<void> => {
    try {
      await stopDaemon(child, paths, options.stopTimeoutMs ?? 30_000)
    } finally {
      removeBridgesOf(paths.dataRoot)
      cancelSafetyNet()
      if (ownsDir) removeDirSync(dir)
    }
  }

  try {
    await waitForApi(child, paths, options.startTimeoutMs ?? 60_000)
  } catch (err) {
    await stopAll()
    throw err
  }

  return {
    ...paths,
    pid,
    containerdPid: readPid(path.join(paths.execRoot, 'containerd', 'containerd.pid')),
    readLog: () => readFile(paths.logFile, 'utf8'),
    stop: stopAll,
  }
}

async function waitForApi(child: ChildProcess, paths: DockerdPaths, timeoutMs: number): Promise<void> {
  await waitUntil(`dockerd answering on ${paths.socket}`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`dockerd exited during startup (${child.exitCode ?? child.signalCode}).\n${await logTail(paths.logFile)}`)
    }
    // Any HTTP answer means the API is served; with an authz plugin even /_ping may be refused.
    return existsSync(paths.socket) && (await pingStatus(paths.socket)) !== null
  }, { timeoutMs, intervalMs: 200, detail: () => logTail(paths.logFile) })
}

function pingStatus(socketPath: string): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: 2_000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? null)
    })
    // The socket exists before the daemon serves it: a connection can sit unanswered.
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(null))
  })
}

async function stopDaemon(child: ChildProcess, paths: DockerdPaths, timeoutMs: number): Promise<void> {
  // Containers ignore SIGTERM as PID 1 and the daemon waits 10 s for each; they hold no state worth keeping.
  killSync(containerInitPids(paths.execRoot))

  const stoppedCleanly = await signalAndWait(child, 'SIGTERM', timeoutMs)
  if (stoppedCleanly) {
    // The daemon stops its containerd on the way out; let that finish.
    await waitUntilGone(processesUsing(paths.execRoot), 10_000)
  } else {
    await signalAndWait(child, 'SIGKILL', 5_000)
  }

  // A daemon that was killed leaves its containerd, shims and containers behind. Only they name the exec
  // root: the plugin and docker CLIs name the API socket, and are not the daemon's to stop.
  const leftovers = [...containerInitPids(paths.execRoot), ...processesUsing(paths.execRoot)]
  if (leftovers.length > 0) {
    killSync(leftovers)
    await waitUntilGone(leftovers, 5_000)
  }
  unmountUnder(paths.dir)
}


/** Waits for the processes to exit; one still alive past the deadline is left to the caller's SIGKILL. */
async function waitUntilGone(pids: number[], timeoutMs: number): Promise<void> {
  await waitUntil(`processes ${pids.join(', ')} exiting`, () => !pids.some(isAlive), { timeoutMs, intervalMs: 100 }).catch(() => undefined)
}


/**
 * Init pids of this daemon's running containers, from runc's state files. The recorded start time must
 * match the live process, so a reused pid is never hit.
 */
function containerInitPids(execRoot: string): number[] {
  const stateRoot = path.join(execRoot, 'runtime-runc', 'moby')
  let ids: string[]
  try {
    ids = readdirSync(stateRoot)
  } catch {
    return []
  }
  const pids: number[] = []
  for (const id of ids) {
    try {
      const state = JSON.parse(readFileSync(path.join(stateRoot, id, 'state.json'), 'utf8')) as {
        init_process_pid?: number
        init_process_start?: number | string
      }
      const pid = state.init_process_pid
      if (pid !== undefined && pid > 0 && String(startTimeOf(pid)) === String(state.init_process_start)) {
        pids.push(pid)
      }
    } catch {
      // container removed while we looked
    }
  }
  return pids
}

/** True while the pid runs; a zombie counts as gone. */

function killSync(pids: number[]): void {
  for (const pid of new Set(pids)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

/**
 * Deletes the host bridge interfaces of the networks this daemon made. dockerd leaves them behind when it stops,
 * with their routes, and its address pools skip subnets that overlap a route: left alone, a few test runs use up
 * every default pool ("could not find an available, non-overlapping IPv4 address pool"). The names are read from
 * the daemon's own network store, so no other daemon's bridge is touched.
 */
function removeBridgesOf(dataRoot: string): void {
  let store: string
  try {
    store = readFileSync(path.join(dataRoot, 'network', 'files', 'local-kv.db'), 'latin1')
  } catch {
    return
  }
  const names = new Set([...store.matchAll(/"BridgeName":"(br-[0-9a-f]{12})"/g)].map((m) => m[1] as string))
  for (const name of names) spawnSync('ip', ['link', 'delete', name], { stdio: 'ignore' })
}

/** Lazily unmounts anything still mounted inside `dir` (overlay layers, netns, the data-root bind mount). */
function unmountUnder(dir: string): void {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`
  const mountPoints = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => unescapeMountPath(line.split(' ')[4] ?? ''))
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(prefix))
    .sort((a, b) => b.length - a.length)
  for (const mountPoint of mountPoints) spawnSync('umount', ['-l', mountPoint], { stdio: 'ignore' })
}

function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
}

function readPid(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

/** Set PORTCULLIS_KEEP_TEST_DIRS=1 to keep daemon logs and state after a failing run. */
export function removeDirSync(dir: string): void {
  if (process.env.PORTCULLIS_KEEP_TEST_DIRS) {
    process.stderr.write(`kept test dir ${dir}\n`)
    return
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
}

async function logTail(file: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(file, 'utf8')
    return `last lines of ${file}:\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`
  } catch {
    return `(no log at ${file})`
  }
}
