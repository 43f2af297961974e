// A private PostgreSQL for the fleet tests: Debian's server binaries, `initdb` into a temp dir, `pg_ctl start` with
// its socket in that dir and no TCP port, stopped by its pid. PostgreSQL refuses to run as root, so as root the
// cluster belongs to the `postgres` user the Debian package makes, and its commands run as that user.
import { execFile } from 'node:child_process'
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { isAlive } from './dockerd.js'
import { onProcessEnd } from './safety-net.js'
import { waitUntil } from './wait.js'

const run = promisify(execFile)

/** Where Debian's postgresql package puts the newest server it installed. */
function postgresBinDir (): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : []
  if (versions.length === 0) throw new Error('PostgreSQL is not installed: `make deps` installs Debian\'s postgresql package')
  return path.join(root, versions[0]!, 'bin')
}

export interface Postgres {
  /** The directory holding the cluster's socket: a libpq `host`. */
  readonly socketDir: string
  readonly port: number
  /** The superuser's connection URL (peer-less: trust on the private socket). */
  readonly adminUrl: string
  /** A URL for `user` (with `password` when given) on this cluster. */
  url: (user: string, password?: string) => string
  readonly pid: number | null
  /** Runs SQL as the superuser with psql; resolves with its stdout. */
  sql: (statement: string) => Promise<string>
  /** Stops the server (fast shutdown) and waits for its process to end. */
  stop: () => Promise<void>
  /** Starts it again on the same directory and port. */
  start: () => Promise<void>
  /** SIGKILLs the postmaster (a crash). */
  kill: () => void
}

/** Makes a cluster in `dir` (which must exist) and starts it. Password logins use scram-sha-256; the superuser
 * `postgres` logs in over the socket without one. */
export async function startPostgres (dir: string, options: { port?: number } = {}): Promise<Postgres> {
  const bin = postgresBinDir()
  const data = path.join(dir, 'pgdata')
  const socketDir = path.join(dir, 'pgsock')
  mkdirSync(socketDir, { recursive: true })
  const asRoot = process.getuid?.() === 0
  const owner = asRoot ? Number((await run('id', ['-u', 'postgres'])).stdout.trim()) : process.getuid!()
  const group = asRoot ? Number((await run('id', ['-g', 'postgres'])).stdout.trim()) : process.getgid!()
  if (asRoot) {
    chownSync(dir, owner, group)
    chownSync(socketDir, owner, group)
  }
  const as = async (command: string, args: string[]): Promise<string> => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(bin, command), ...args]] : [path.join(bin, command), args]
    return (await run(file, argv, { cwd: dir, maxBuffer: 64 * 1024 * 1024 })).stdout
  }
  await as('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'])
  // A port only names the socket file (`.s.PGSQL.<port>`): TCP is off.
  const port = options.port ?? 15_000 + Math.floor(Math.random() * 20_000)
  writeFileSync(path.join(data, 'postgresql.auto.conf'),
    `listen_addresses = ''\nunix_socket_directories = '${socketDir}'\nport = ${port}\nfsync = on\nmax_connections = 200\n`)
  // Password logins for the roles the tests make (the superuser keeps trust on the local socket).
  writeFileSync(path.join(data, 'pg_hba.conf'), 'local all postgres trust\nlocal all all scram-sha-256\n')
  if (asRoot) {
    chownSync(path.join(data, 'postgresql.auto.conf'), owner, group)
    chownSync(path.join(data, 'pg_hba.conf'), owner, group)
  }

  let pid: number | null = null
  const start = async (): Promise<void> => {
    await as('pg_ctl', ['-D', data, '-l', path.join(dir, 'postgres.log'), '-w', '-t', '60', 'start'])
    pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
  }
  const stop = async (): Promise<void> => {
    if (pid === null) return
    const was = pid
    pid = null
    try {
      process.kill(was, 'SIGINT') // fast shutdown: open sessions are ended, the cluster stays consistent
    } catch {
      return
    }
    await waitUntil('PostgreSQL to stop', () => !isAlive(was), { timeoutMs: 60_000 })
  }
  const cancelSafetyNet = onProcessEnd(() => {
    if (pid !== null) {
      try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
    }
  })
  await start()
  const url = (user: string, password?: string): string =>
    `postgresql://${encodeURIComponent(user)}${password !== undefined ? ':' + encodeURIComponent(password) : ''}@/portcullis?host=${encodeURIComponent(socketDir)}&port=${port}`
  const server: Postgres = {
    socketDir,
    port,
    adminUrl: url('postgres'),
    url,
    get pid () { return pid },
    sql: async (statement) => await as('psql', ['-h', socketDir, '-p', String(port), '-U', 'postgres', '-d', 'portcullis', '-v', 'ON_ERROR_STOP=1', '-At', '-c', statement]),
    start,
    stop: async () => {
      await stop()
      cancelSafetyNet()
    },
    kill: () => {
      if (pid === null) return
      try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
      pid = null
    }
  }
  await as('createdb', ['-h', socketDir, '-p', String(port), '-U', 'postgres', 'portcullis'])
  return server
}
