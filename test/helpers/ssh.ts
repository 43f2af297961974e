// Drives the real OpenSSH client against the SSH bridge on 127.0.0.1, and tmux when a test needs a terminal:
// a pty of a known size, keys typed one by one, and the screen read back.
import { execFile, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { waitFor } from './wait.js'

/** Debian's OpenSSH client (9.2), not whatever else is on PATH. */
export const SSH_CLIENT = '/usr/bin/ssh'
export const SSH_KEYGEN = '/usr/bin/ssh-keygen'
export const TMUX = '/usr/bin/tmux'

/** True when `file` exists and may be executed, for `describe.skipIf(!isExecutable(TMUX))`. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

// --- keys and known_hosts -------------------------------------------------------------------------------------

export type SshKeyType = 'ed25519' | 'ecdsa' | 'rsa'

export interface SshKey {
  privatePath: string
  /** The `.pub` line, `<type> <base64> <comment>`: what goes in `users.<name>.sshKeys`. */
  publicLine: string
}

/** Makes a key pair without a passphrase in `dir` (file `name`, default `id_<type>`). */
export async function makeSshKey(dir: string, type: SshKeyType, name = `id_${type}`): Promise<SshKey> {
  const privatePath = path.join(dir, name)
  const size = type === 'rsa' ? ['-b', '3072'] : []
  await run(SSH_KEYGEN, ['-q', '-t', type, ...size, '-N', '', '-C', name, '-f', privatePath])
  const publicLine = (await readFile(`${privatePath}.pub`, 'utf8')).trim()
  return { privatePath, publicLine }
}

/** The public key line of a private key file, e.g. a host key the bridge was given. */
export async function publicLineOf(privatePath: string): Promise<string> {
  // -P '': fail on a key with a passphrase instead of prompting for it.
  return (await run(SSH_KEYGEN, ['-y', '-P', '', '-f', privatePath])).trim()
}

/** Writes `dir/known_hosts` naming the bridge's host key for 127.0.0.1:port, and returns its path. */
export async function knownHostsFile(dir: string, port: number, hostPublicKeyLine: string): Promise<string> {
  const [type, base64] = hostPublicKeyLine.trim().split(/\s+/)
  if (type === undefined || base64 === undefined) {
    throw new Error(`expected a public key line "<type> <base64> [comment]", got ${JSON.stringify(hostPublicKeyLine)}`)
  }
  // OpenSSH writes the bare address for port 22 and [address]:port otherwise; it only matches its own spelling.
  const host = port === 22 ? '127.0.0.1' : `[127.0.0.1]:${port}`
  const file = path.join(dir, 'known_hosts')
  await writeFile(file, `${host} ${type} ${base64}\n`)
  return file
}

// --- the ssh client -------------------------------------------------------------------------------------------

export interface SshOptions {
  port: number
  /** What goes before `@127.0.0.1`, e.g. `alice+web-1`. */
  login: string
  keyPath: string
  knownHosts: string
  /** false: -T (no pty); true: -t; 'force': -tt (a pty even when stdin is not a terminal); unset: ssh decides. */
  tty?: boolean | 'force'
  /** More options, put before the destination. */
  extra?: string[]
}

/**
 * The ssh argv (without the program) for one login, cut off from everything on this machine: no config file, no
 * agent, no other keys, no prompts, only the given known_hosts.
 */
export function sshArgs(options: SshOptions): string[] {
  const tty = options.tty === 'force' ? ['-tt'] : options.tty === true ? ['-t'] : options.tty === false ? ['-T'] : []
  return [
    '-F', '/dev/null',
    '-p', String(options.port),
    '-i', options.keyPath,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${options.knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    // Host key rotation would try to rewrite the test's known_hosts.
    '-o', 'UpdateHostKeys=no',
    '-o', 'PasswordAuthentication=no',
    '-o', 'KbdInteractiveAuthentication=no',
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=10',
    ...tty,
    ...(options.extra ?? []),
    `${options.login}@127.0.0.1`,
  ]
}

export interface SshResult {
  /** Exit code, or null when ssh was killed by a signal. ssh exits 255 on its own errors. */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: Buffer
  stderr: string
}

export interface RunSshOptions {
  /** Written to ssh's stdin, which is then closed (at once when there is no input). */
  input?: Buffer | string
  /** Default 30 s; ssh is killed after that and the promise rejects with what it printed so far. */
  timeoutMs?: number
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv
}

/** Runs ssh (no shell involved) and collects its output. `command` is sent as the remote command. */
export function runSsh(options: SshOptions, command?: string, runOptions: RunSshOptions = {}): Promise<SshResult> {
  const args = [...sshArgs(options), ...(command === undefined ? [] : [command])]
  const timeoutMs = runOptions.timeoutMs ?? 30_000
  return new Promise((resolve, reject) => {
    const child = spawn(SSH_CLIENT, args, {
      env: { ...process.env, ...runOptions.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))

    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(
        `ssh ${args.join(' ')} did not finish within ${timeoutMs} ms and was killed\n` +
        `--- stdout so far\n${Buffer.concat(stdout).toString('utf8')}\n--- stderr so far\n${Buffer.concat(stderr).toString('utf8')}`,
      ))
    }, timeoutMs)

    child.on('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`could not run ${SSH_CLIENT}: ${err.message}`))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8') })
    })

    // ssh may exit before reading all of it (a refused login); that is its answer, not our error.
    child.stdin.on('error', () => {})
    child.stdin.end(runOptions.input)
  })
}

// --- tmux -----------------------------------------------------------------------------------------------------

export interface TmuxStartOptions {
  width?: number
  height?: number
  /** Added to the environment of tmux and the program. TERM defaults to xterm-256color. */
  env?: NodeJS.ProcessEnv
}

export interface PaneState {
  dead: boolean
  /** Exit status once the program exited, null while it runs or when a signal killed it. */
  status: number | null
  /** Signal number that killed the program, else null. */
  signal: number | null
}

/**
 * One program in a terminal of a known size, on a tmux server of its own (private socket and config in a temp
 * dir), so tests never touch the user's tmux. The pane stays after the program exits, to read its exit status.
 */
export class TmuxSession {
  private constructor(
    readonly name: string,
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  static async start(name: string, argv: string[], options: TmuxStartOptions = {}): Promise<TmuxSession> {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`tmux session name ${JSON.stringify(name)}: use letters, digits, - and _`)
    if (argv.length === 0) throw new Error('TmuxSession.start needs a program to run')
    const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-tmux-'))
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', ...options.env }
    // Inside tmux, a TMUX variable would point the client at the user's server.
    delete env.TMUX
    delete env.TMUX_PANE
    const term = env.TERM ?? 'xterm-256color'
    // The pane's TERM comes from default-terminal, not from the environment. No status line: the pane gets every row.
    await writeFile(path.join(dir, 'tmux.conf'), [
      'set -g status off',
      'set -g remain-on-exit on',
      `set -g default-terminal "${term}"`,
      '',
    ].join('\n'))

    const session = new TmuxSession(name, dir, env)
    const width = options.width ?? 100
    const height = options.height ?? 30
    // tmux 3.3 does not always learn a pane's exit status (seen here, more often on a busy machine), so a small
    // shell runs the program and writes its status to a file. "$@" keeps every argv as given.
    const command = ['/bin/sh', '-c', '"$@"; echo $? > "$0"', session.statusFile, ...argv]
    try {
      await session.tmux(['new-session', '-d', '-s', name, '-x', String(width), '-y', String(height), ...command])
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      throw err
    }
    return session
  }

  /** tmux key names, e.g. 'C-c', 'Enter', 'Up', 'Escape', 'BSpace'. */
  async sendKeys(...keys: string[]): Promise<void> {
    await this.tmux(['send-keys', '-t', this.name, ...keys])
  }

  /** Types `text` as it is (no key names). */
  async type(text: string): Promise<void> {
    await this.tmux(['send-keys', '-t', this.name, '-l', '--', text])
  }

  /** The visible screen as text, one line per row, trailing spaces and trailing empty rows removed. */
  async capture(): Promise<string> {
    const screen = await this.tmux(['capture-pane', '-p', '-t', this.name])
    return screen.replace(/\s+$/, '')
  }

  /** Polls the screen every 100 ms until it shows `pattern`; returns that screen, or throws with the last one. */
  async waitFor(pattern: RegExp | string, timeoutMs = 15_000): Promise<string> {
    let screen = ''
    return await waitFor(`tmux ${this.name}: ${String(pattern)} appearing`, async () => {
      screen = await this.capture()
      return (typeof pattern === 'string' ? screen.includes(pattern) : pattern.test(screen)) ? screen : undefined
    }, { timeoutMs, intervalMs: 100, detail: () => `the screen shows:\n${screen}` })
  }

  /** Resizes the terminal; the program gets SIGWINCH. */
  async resize(width: number, height: number): Promise<void> {
    // tmux 3.3: resize-window also sets window-size to manual, so the size sticks with no client attached.
    await this.tmux(['resize-window', '-t', this.name, '-x', String(width), '-y', String(height)])
  }

  /** Where the wrapping shell writes the program's exit status. */
  get statusFile(): string {
    return path.join(this.dir, 'exit-status')
  }

  /**
   * Whether the program has exited, and how: from the status its wrapping shell wrote, where a status above 128 is
   * read as death by signal (status - 128), as the shell reports it.
   */
  async paneDead(): Promise<PaneState> {
    let text: string
    try {
      text = (await readFile(this.statusFile, 'utf8')).trim()
    } catch {
      return { dead: false, status: null, signal: null }
    }
    if (text === '') return { dead: false, status: null, signal: null }
    const code = Number(text)
    return code > 128 ? { dead: true, status: null, signal: code - 128 } : { dead: true, status: code, signal: null }
  }

  /** Polls until the program has exited; throws with the screen if it has not within `timeoutMs`. */
  async waitForExit(timeoutMs = 15_000): Promise<PaneState> {
    return await waitFor(`tmux ${this.name}: the program exiting`, async () => {
      const state = await this.paneDead()
      return state.dead ? state : undefined
    }, {
      timeoutMs,
      intervalMs: 100,
      detail: async () => {
        const raw = await this.tmux(['display-message', '-p', '-t', this.name, '#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal} pid #{pane_pid}'])
        return `pane ${raw.trim()}; the screen shows:\n${await this.capture()}`
      },
    })
  }

  /** Stops the private tmux server (and so the program) and removes its temp dir. Safe to call twice. */
  async kill(): Promise<void> {
    try {
      await this.tmux(['kill-server'])
    } catch {
      // Already gone: its last session ended, or kill() ran before.
    }
    await rm(this.dir, { recursive: true, force: true })
  }

  private tmux(args: string[]): Promise<string> {
    return run(TMUX, ['-S', path.join(this.dir, 'tmux.sock'), '-f', path.join(this.dir, 'tmux.conf'), ...args], this.env)
  }
}

/** Runs a program without a shell; resolves with stdout, rejects with stderr in the message. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stderr}`))
      else resolve(stdout)
    })
  })
}
