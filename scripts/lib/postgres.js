// A private PostgreSQL for the fleet tests and benchmarks: Debian's server binaries, `initdb` into a temp dir,
// `pg_ctl start` with its socket in that dir and no TCP port, stopped by its pid. PostgreSQL refuses to run as
// root, so as root the cluster belongs to the `postgres` user the Debian package makes, and its commands run as
// that user. A streaming standby of it (pg_basebackup -R) stands in for a production failover pair.
import { execFile } from 'node:child_process'
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { isAlive } from './procfs.js'

const run = promisify(execFile)

/** Where Debian's postgresql package puts the newest server it installed. */
function postgresBinDir () {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : []
  if (versions.length === 0) throw new Error('PostgreSQL is not installed: `make deps` installs Debian\'s postgresql package')
  return path.join(root, versions[0], 'bin')
}

async function owner () {
  if (process.getuid?.() !== 0) return null
  return { uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()), gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()) }
}

/** Runs a PostgreSQL program as the cluster's owner. */
async function as (cluster, command, args) {
  const program = path.join(postgresBinDir(), command)
  const [file, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', program, ...args]] : [program, args]
  return (await run(file, argv, { cwd: cluster.dir, maxBuffer: 64 * 1024 * 1024 })).stdout
}

/** A directory of the cluster's own, owned by its user. */
async function ownedDir (dir) {
  mkdirSync(dir, { recursive: true })
  const user = await owner()
  if (user === null) return
  chownSync(dir, user.uid, user.gid)
  // The caller's temp dir is root's and 0700: let the cluster's user pass through it (not list or read it).
  const parent = path.dirname(dir)
  chmodSync(parent, statSync(parent).mode | 0o001)
}

async function configure (cluster, settings) {
  const file = path.join(cluster.data, 'postgresql.auto.conf')
  // Later lines win: a standby's copy of its primary's settings is overridden by its own.
  appendFileSync(file, `listen_addresses = ''\nunix_socket_directories = '${cluster.socketDir}'\nport = ${cluster.port}\n${settings}`)
  const user = await owner()
  if (user !== null) chownSync(file, user.uid, user.gid)
}

function control (cluster, onProcessEnd) {
  let pid = null
  const start = async () => {
    await as(cluster, 'pg_ctl', ['-D', cluster.data, '-l', path.join(cluster.dir, 'postgres.log'), '-w', '-t', '60', 'start'])
    pid = Number(readFileSync(path.join(cluster.data, 'postmaster.pid'), 'utf8').split('\n')[0])
  }
  const cancelSafetyNet = onProcessEnd(() => {
    if (pid !== null) {
      try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
    }
  })
  const url = (user) => `postgresql://${encodeURIComponent(user)}@/portcullis?host=${encodeURIComponent(cluster.socketDir)}&port=${cluster.port}`
  return {
    socketDir: cluster.socketDir,
    port: cluster.port,
    adminUrl: url('postgres'),
    url,
    get pid () { return pid },
    sql: async (statement) => await as(cluster, 'psql', ['-h', cluster.socketDir, '-p', String(cluster.port), '-U', 'postgres', '-d', 'portcullis', '-v', 'ON_ERROR_STOP=1', '-At', '-c', statement]),
    start,
    stop: async () => {
      if (pid === null) return
      const was = pid
      pid = null
      try {
        process.kill(was, 'SIGINT') // fast shutdown: open sessions are ended, the cluster stays consistent
      } catch { /* gone */ }
      const deadline = Date.now() + 60_000
      while (isAlive(was) && Date.now() < deadline) await sleep(50)
      if (isAlive(was)) throw new Error(`PostgreSQL (pid ${was}) did not stop within 60 s`)
      cancelSafetyNet()
    },
    promote: async () => {
      await as(cluster, 'pg_ctl', ['-D', cluster.data, '-w', '-t', '60', 'promote'])
    }
  }
}

const randomPort = () => 15_000 + Math.floor(Math.random() * 20_000)

/**
 * Makes a cluster in `dir` with a database `portcullis`, and starts it. Password logins use scram-sha-256; the
 * superuser `postgres` logs in (and replicates) over the socket without one. `onProcessEnd(cleanup)` registers the
 * caller's last-resort cleanup (it returns a cancel function): the server is SIGKILLed if the caller dies first.
 */
export async function startPostgres (dir, { port = randomPort(), onProcessEnd }) {
  const cluster = { dir, data: path.join(dir, 'pgdata'), socketDir: path.join(dir, 'pgsock'), port }
  await ownedDir(dir)
  await ownedDir(cluster.socketDir)
  await as(cluster, 'initdb', ['-D', cluster.data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'])
  await configure(cluster, 'max_connections = 200\n')
  writeFileSync(path.join(cluster.data, 'pg_hba.conf'), 'local all postgres trust\nlocal replication postgres trust\nlocal all all scram-sha-256\n')
  const user = await owner()
  if (user !== null) chownSync(path.join(cluster.data, 'pg_hba.conf'), user.uid, user.gid)
  const server = control(cluster, onProcessEnd)
  await server.start()
  await as(cluster, 'createdb', ['-h', cluster.socketDir, '-p', String(cluster.port), '-U', 'postgres', 'portcullis'])
  return server
}

/** A streaming standby of `primary` in `dir`: a base backup with replication configured (-R), started read-only. */
export async function startStandby (primary, dir, { onProcessEnd }) {
  const cluster = { dir, data: path.join(dir, 'pgdata'), socketDir: path.join(dir, 'pgsock'), port: randomPort() }
  await ownedDir(dir)
  await ownedDir(cluster.socketDir)
  await as(cluster, 'pg_basebackup', ['-h', primary.socketDir, '-p', String(primary.port), '-U', 'postgres', '-D', cluster.data, '-R', '-X', 'stream', '--no-sync', '--checkpoint=fast'])
  await configure(cluster, '')
  const server = control(cluster, onProcessEnd)
  await server.start()
  return server
}
