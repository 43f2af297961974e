// Runs the real docker CLI against a test daemon, as a given token holder.
// The token travels the way users send it: an HttpHeaders entry in the CLI's config.json.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { expect } from 'vitest'

/** The Debian docker.io CLI (20.10), matching the daemon; not whatever else is on PATH. */
export const DOCKER_CLI = '/usr/bin/docker'

export const TOKEN_HEADER = 'X-Portcullis-Token'

export interface DockerResult {
  /** Exit code, or null when the CLI was killed by a signal. */
  code: number | null
  signal: NodeJS.Signals | null
  /** True when the CLI was killed because it ran past `timeoutMs`. */
  timedOut: boolean
  stdout: string
  stderr: string
}

export interface DockerRunOptions {
  /** Sent as the X-Portcullis-Token header; no header when omitted. */
  token?: string
  /** Written to the CLI's stdin, then closed. Without it stdin is /dev/null. */
  input?: string | Buffer
  /** Default 60 s; the CLI is killed after that. */
  timeoutMs?: number
}

export type Docker = (args: string[], options?: DockerRunOptions) => Promise<DockerResult>

export interface CreateDockerOptions {
  /** The daemon's API socket path. */
  socket: string
  /** A directory this client may fill with one config dir per token. */
  configRoot: string
}

/** Returns a `docker(args, options)` function bound to one daemon. It never throws on a non-zero exit. */
export function createDocker({ socket, configRoot }: CreateDockerOptions): Docker {
  const configDirs = new Map<string, Promise<string>>()

  const configDirFor = (token: string | undefined): Promise<string> => {
    const key = token ?? ''
    let dir = configDirs.get(key)
    if (dir === undefined) {
      dir = writeConfigDir(configRoot, token)
      configDirs.set(key, dir)
    }
    return dir
  }

  return async (args, options = {}) => {
    const configDir = await configDirFor(options.token)
    return runCli(['--config', configDir, '--host', `unix://${socket}`, ...args], options)
  }
}

async function writeConfigDir(configRoot: string, token: string | undefined): Promise<string> {
  const name = token === undefined ? 'anonymous' : `token-${createHash('sha256').update(token).digest('hex').slice(0, 16)}`
  const dir = path.join(configRoot, name)
  await mkdir(dir, { recursive: true })
  const config = token === undefined ? {} : { HttpHeaders: { [TOKEN_HEADER]: token } }
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(config, null, 2), { mode: 0o600 })
  return dir
}

/** Runs the docker CLI with exactly these arguments (a test that brings its own --config). */
export function runCli(args: string[], options: DockerRunOptions): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOCKER_CLI, args, {
      env: cliEnvironment(),
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk))

    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, options.timeoutMs ?? 60_000)

    child.on('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`could not run ${DOCKER_CLI}: ${err.message}`))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({
        code,
        signal,
        timedOut,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      })
    })

    if (options.input !== undefined && child.stdin) {
      // The CLI may exit before reading all of it (e.g. denied); that is its answer, not our error.
      child.stdin.on('error', () => {})
      child.stdin.end(options.input)
    }
  })
}

/** The caller's environment without settings that would point the CLI at another daemon or config. */
function cliEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('DOCKER_')) env[name] = value
  }
  return env
}

/**
 * The plugin's message when the daemon refused the call, else null. The CLI prints
 * `Error response from daemon: authorization denied by plugin NAME: MSG` (`docker run` adds a final dot).
 */
export function deniedMessage(result: DockerResult, pluginName: string): string | null {
  const marker = `authorization denied by plugin ${pluginName}: `
  const start = result.stderr.indexOf(marker)
  if (start === -1) return null
  const rest = result.stderr.slice(start + marker.length)
  const end = rest.indexOf('\n')
  return end === -1 ? rest : rest.slice(0, end)
}

/** Asserts that the CLI failed because `pluginName` denied the call, and that its message says `message`. */
export function expectDenied(result: DockerResult, pluginName: string, message?: string | RegExp): void {
  const denied = deniedMessage(result, pluginName)
  expect(denied, `expected a denial by ${pluginName}\n${describeResult(result)}`).not.toBeNull()
  expect(result.code, describeResult(result)).not.toBe(0)
  if (typeof message === 'string') expect(denied).toContain(message)
  else if (message !== undefined) expect(denied).toMatch(message)
}

/**
 * Asserts that the daemon refused the call because it could not reach the plugin: it prints
 * `plugin NAME failed with error: ...`. The daemon retries for about 15 s per plugin call first, and the CLI's
 * ping fails the same way, so allow such a call 90 s or more (`timeoutMs`).
 */
export function expectPluginUnreachable(result: DockerResult, pluginName: string): void {
  expect(result.stderr, describeResult(result)).toContain(`plugin ${pluginName} failed with error:`)
  expect(result.code, describeResult(result)).not.toBe(0)
}

/** Asserts a zero exit, showing the CLI's output when it was not. */
export function expectOk(result: DockerResult): void {
  expect(result.code, describeResult(result)).toBe(0)
}

export function describeResult(result: DockerResult): string {
  const status = result.timedOut ? 'timed out' : result.signal !== null ? `killed by ${result.signal}` : `exit ${result.code}`
  return `docker ${status}\n--- stdout\n${result.stdout}--- stderr\n${result.stderr}`
}
