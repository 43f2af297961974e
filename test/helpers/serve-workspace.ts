// A temp dir for tests that start `portcullis serve` on stores of their own without a dockerd: the example policy,
// a token key, a directory per case, and serve either run to its end (a start that fails must end by itself) or
// started and waited for until its plugin socket appears.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect } from 'vitest'
import { PORTCULLIS_CLI, portcullisCliOk, REPO_ROOT, removeDirSync, runPortcullisCli, type CliResult } from './index.js'
import { signalAndWait } from './process.js'
import { onProcessEnd } from './safety-net.js'
import { waitUntil } from './wait.js'

/** One case's directory, its sockets and its store (none of them made but the directory). */
export interface ServePaths { dir: string, socket: string, admin: string, data: string }

/** What a case changes of the workspace's serve command line. */
interface ServeOptions {
  /** The policy file; default the workspace's copy of examples/policy.json. */
  config?: string
  /** The keys directory; default the workspace's. */
  keys?: string
  /** Default a unix socket in the case's directory where no dockerd listens. */
  dockerHost?: string
  /** Flags appended to the command line. */
  extra?: string[]
}

interface StartOptions extends ServeOptions {
  /** Runs serve from `sh` under this umask (e.g. '022', as from a login shell). */
  umask?: string
  /** Pause between two looks for the plugin socket; default 50 ms. */
  intervalMs?: number
}

/** A serve whose plugin socket has appeared (its start may still be finishing). */
export interface StartedServe {
  child: ChildProcess
  socket: string
  stderr: () => string
  /** Settles with how the process ended. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** SIGTERM; the test fails unless serve ends within 20 s. */
  stop: () => Promise<void>
  /** SIGKILL, as a crash would end it; resolves once it has ended. */
  kill: () => Promise<void>
}

export interface ServeWorkspace {
  /** Set once beforeAll has run. */
  readonly root: string
  readonly keysDir: string
  readonly policyFile: string
  /** A directory for one case, and the paths serve uses in it. */
  pathsIn: (name: string) => ServePaths
  /** serve's command line for a case's directory and store. */
  serveArgs: (dir: string, data: string, options?: ServeOptions) => string[]
  /** Runs serve on `data` until it exits by itself (at most 60 s). */
  serveUntilExit: (dir: string, data: string, options?: ServeOptions) => Promise<CliResult>
  /** Starts serve and resolves once its plugin socket file exists; throws with its stderr if it exits first. */
  startServe: (dir: string, data: string, options?: StartOptions) => Promise<StartedServe>
}

/** Registers the workspace's beforeAll and afterAll in the calling test file. */
export function serveWorkspace (prefix: string): ServeWorkspace {
  const examplePolicy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8'))
  const workspace: ServeWorkspace = {
    root: '',
    keysDir: '',
    policyFile: '',
    pathsIn (name) {
      const dir = path.join(workspace.root, name)
      mkdirSync(dir, { recursive: true })
      return { dir, socket: path.join(dir, 'plugin.sock'), admin: path.join(dir, 'run', 'admin.sock'), data: path.join(dir, 'data') }
    },
    serveArgs (dir, data, options = {}) {
      return ['serve', '--config', options.config ?? workspace.policyFile, '--socket', path.join(dir, 'plugin.sock'),
        '--admin-socket', path.join(dir, 'run', 'admin.sock'), '--data', data, '--keys', options.keys ?? workspace.keysDir,
        '--docker-host', options.dockerHost ?? `unix://${path.join(dir, 'no-dockerd.sock')}`, '--elevation-listen', 'off', '--log-level', 'warn',
        ...(options.extra ?? [])]
    },
    async serveUntilExit (dir, data, options = {}) {
      const result = await runPortcullisCli(workspace.serveArgs(dir, data, options), { timeoutMs: 60_000 })
      expect(result.code, `serve did not exit by itself:\n${result.stderr}`).not.toBeNull()
      return result
    },
    async startServe (dir, data, options = {}) {
      const command = [PORTCULLIS_CLI, ...workspace.serveArgs(dir, data, options)]
      const child = options.umask === undefined
        ? spawn(process.execPath, command, { stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn('sh', ['-c', `umask ${options.umask}; exec "$0" "$@"`, process.execPath, ...command], { stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
      const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
      const cancel = onProcessEnd(() => child.kill('SIGKILL'))
      const socket = path.join(dir, 'plugin.sock')
      await waitUntil('serve\'s plugin socket', () => {
        if (child.exitCode !== null) throw new Error(`serve exited before its plugin socket appeared:\n${stderr}`)
        return existsSync(socket)
      }, { timeoutMs: 30_000, intervalMs: options.intervalMs, detail: () => stderr })
      return {
        child,
        socket,
        stderr: () => stderr,
        exited,
        stop: async () => {
          expect(await signalAndWait(child, 'SIGTERM', 20_000), `serve did not stop on SIGTERM:\n${stderr}`).toBe(true)
          cancel()
        },
        kill: async () => {
          expect(await signalAndWait(child, 'SIGKILL', 10_000)).toBe(true)
          cancel()
        }
      }
    }
  }
  beforeAll(async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), prefix))
    Object.assign(workspace, { root, keysDir: path.join(root, 'keys'), policyFile: path.join(root, 'policy.json') })
    await writeFile(workspace.policyFile, JSON.stringify(examplePolicy))
    await portcullisCliOk(['keys', 'init', '--keys', workspace.keysDir])
  })
  afterAll(() => {
    if (workspace.root !== '') removeDirSync(workspace.root)
  })
  return workspace
}

/** Exit status 2 with `code` on stderr, never an "unexpected error" with a stack. */
export function expectFailedWith (result: CliResult, code: string): void {
  expect(result.code, result.stderr).toBe(2)
  expect(result.stderr).toContain(`[${code}]`)
  expect(result.stderr).not.toContain('unexpected error')
  expect(result.stderr).not.toMatch(/^\s+at /m)
}
