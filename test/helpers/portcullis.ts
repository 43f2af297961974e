// Runs the plugin under test (`node dist/cli.js serve`) as its own process and registers it with the
// daemon the legacy way: /etc/docker/plugins/NAME.spec holding `unix://SOCKET`. The daemon reads that
// file by name for --authorization-plugin=NAME and activates the plugin with POST /Plugin.Activate.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, rmSync } from 'node:fs'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { signalAndWait } from './process.js'
import { onProcessEnd } from './safety-net.js'
import { waitFor } from './wait.js'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const PORTCULLIS_CLI = path.join(REPO_ROOT, 'dist', 'cli.js')
export const PLUGIN_SPEC_DIR = '/etc/docker/plugins'

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface CliOptions {
  input?: string | Buffer
  /** Default 30 s; the command is killed after that. */
  timeoutMs?: number
  env?: NodeJS.ProcessEnv
}

/** Runs `node dist/cli.js ARGS` from the repo root; never throws on a non-zero exit. */
export function runPortcullisCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  if (!existsSync(PORTCULLIS_CLI)) {
    return Promise.reject(new Error(`${PORTCULLIS_CLI} does not exist; run \`npm run build\` first`))
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PORTCULLIS_CLI, ...args], {
      cwd: REPO_ROOT,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') })
    })
    if (options.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {})
      child.stdin.end(options.input)
    }
  })
}

/** Runs a CLI command that must succeed and returns its stdout; throws with its output otherwise. */
export async function portcullisCliOk(args: string[], options?: CliOptions): Promise<string> {
  const result = await runPortcullisCli(args, options)
  if (result.code !== 0) {
    throw new Error(`portcullis ${args.join(' ')} exited with ${result.code}\n--- stdout\n${result.stdout}--- stderr\n${result.stderr}`)
  }
  return result.stdout
}

export function pluginSpecFile(name: string): string {
  return path.join(PLUGIN_SPEC_DIR, `${name}.spec`)
}

export interface StartPortcullisOptions {
  /** Directory for the plugin's sockets, data and log; owned by the caller. */
  dir: string
  policyFile: string
  /** Made beforehand with `keys init`. */
  keysDir: string
  /** The daemon's API socket (it need not exist yet). */
  dockerSocket: string
  /** Legacy plugin name; `portcullis-<random>` when omitted, so parallel runs never share a spec file. */
  name?: string
  logLevel?: string
  readyTimeoutMs?: number
  /** Where the audit store lives; default `<dir>/data`. */
  dataDir?: string
  /** `host:port` for the access-request API; default `off`, so stacks never compete for the default port. */
  elevationListen?: string
  /** More `serve` options, e.g. `['--allow-anonymous']`. */
  extraArgs?: string[]
}

export interface Portcullis {
  name: string
  socket: string
  adminSocket: string
  dataDir: string
  keysDir: string
  policyFile: string
  logFile: string
  specFile: string
  /** Pid of the running plugin process, null while it is down. */
  readonly pid: number | null
  /** SIGTERM, wait, and remove the spec file. */
  stop(): Promise<void>
  /** SIGTERM, wait, start again with the same arguments and wait until it answers. */
  restart(): Promise<void>
  /** SIGKILL, for "the plugin is down" tests; the spec file stays, as after a crash. */
  kill(): Promise<void>
  /** SIGHUP: reread the policy. Use waitForLog to see that it was applied. */
  reload(): void
  /** Runs another CLI command, e.g. `cli(['audit', 'tail', '--admin-socket', plugin.adminSocket, '--json'])`. */
  cli(args: string[], options?: CliOptions): Promise<CliResult>
  readLog(): Promise<string>
  /** Size of the log now; pass it as `since` to only match what is logged afterwards. */
  logOffset(): Promise<number>
  waitForLog(pattern: RegExp, options?: { since?: number; timeoutMs?: number }): Promise<string>
}

export async function startPortcullis(options: StartPortcullisOptions): Promise<Portcullis> {
  const name = options.name ?? `portcullis-${randomBytes(4).toString('hex')}`
  const dir = options.dir
  await mkdir(dir, { recursive: true })
  const socket = path.join(dir, 'portcullis.sock')
  const adminSocket = path.join(dir, 'admin.sock')
  const dataDir = options.dataDir ?? path.join(dir, 'data')
  const logFile = path.join(dir, 'portcullis.log')
  const specFile = pluginSpecFile(name)
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000

  const args = [
    PORTCULLIS_CLI, 'serve',
    '--config', options.policyFile,
    '--socket', socket,
    '--data', dataDir,
    '--admin-socket', adminSocket,
    '--keys', options.keysDir,
    '--docker-host', `unix://${options.dockerSocket}`,
    '--plugin-name', name,
    '--elevation-listen', options.elevationListen ?? 'off',
    '--log-level', options.logLevel ?? 'debug',
    ...(options.extraArgs ?? []),
  ]

  let child: ChildProcess | null = null
  const cancelSafetyNet = onProcessEnd(() => {
    if (child?.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    rmSync(specFile, { force: true })
  })

  const launch = async (): Promise<void> => {
    if (!existsSync(PORTCULLIS_CLI)) throw new Error(`${PORTCULLIS_CLI} does not exist; run \`npm run build\` first`)
    const logFd = openSync(logFile, 'a')
    try {
      child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', logFd, logFd] })
    } finally {
      closeSync(logFd)
    }
    await waitUntilActive(child, socket, logFile, readyTimeoutMs)
  }

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child
    child = null
    if (running === null) return
    if (!(await signalAndWait(running, signal, 10_000))) await signalAndWait(running, 'SIGKILL', 5_000)
  }

  const stop = async (): Promise<void> => {
    try {
      await halt('SIGTERM')
    } finally {
      rmSync(specFile, { force: true })
      cancelSafetyNet()
    }
  }

  try {
    await launch()
    await mkdir(PLUGIN_SPEC_DIR, { recursive: true })
    await writeFile(specFile, `unix://${socket}\n`)
  } catch (err) {
    await stop()
    throw err
  }

  return {
    name,
    socket,
    adminSocket,
    dataDir,
    keysDir: options.keysDir,
    policyFile: options.policyFile,
    logFile,
    specFile,
    get pid() {
      return child?.pid ?? null
    },
    stop,
    restart: async () => {
      await halt('SIGTERM')
      await launch()
    },
    kill: () => halt('SIGKILL'),
    reload: () => {
      if (child === null) throw new Error('the plugin is not running; start or restart it before reload()')
      child.kill('SIGHUP')
    },
    cli: (cliArgs, cliOptions) => runPortcullisCli(cliArgs, cliOptions),
    readLog: () => readFile(logFile, 'utf8'),
    logOffset: async () => (await stat(logFile)).size,
    waitForLog: (pattern, waitOptions = {}) => waitForLog(logFile, pattern, waitOptions.since ?? 0, waitOptions.timeoutMs ?? 10_000),
  }
}

/** Polls POST /Plugin.Activate the way the daemon sends it (no body) until it lists `authz`. */
async function waitUntilActive(child: ChildProcess, socket: string, logFile: string, timeoutMs: number): Promise<void> {
  const answer = await waitFor(`portcullis answering POST /Plugin.Activate on ${socket}`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`portcullis serve exited during startup (${child.exitCode ?? child.signalCode}).\n${await logTail(logFile)}`)
    }
    return existsSync(socket) ? (await activate(socket)) ?? undefined : undefined
  }, { timeoutMs, intervalMs: 100, detail: () => logTail(logFile) })
  if (answer.status !== 200 || !/"authz"/.test(answer.body)) {
    throw new Error(`POST /Plugin.Activate answered ${answer.status} ${answer.body}; expected 200 with Implements ["authz"]`)
  }
}

function activate(socketPath: string): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        socketPath,
        method: 'POST',
        path: '/Plugin.Activate',
        headers: { Accept: 'application/vnd.docker.plugins.v1+json' },
        timeout: 2_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', () => resolve(null))
      },
    )
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(null))
    req.end()
  })
}


async function waitForLog(logFile: string, pattern: RegExp, since: number, timeoutMs: number): Promise<string> {
  return await waitFor(`a line matching ${pattern} in ${logFile}`, async () => {
    const text = (await readFile(logFile)).subarray(since).toString('utf8')
    return text.split('\n').find((candidate) => pattern.test(candidate))
  }, { timeoutMs, intervalMs: 100, detail: () => logTail(logFile) })
}

async function logTail(file: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(file, 'utf8')
    return `last lines of ${file}:\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`
  } catch {
    return `(no log at ${file})`
  }
}
