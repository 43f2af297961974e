// The plugin under test: `node dist/cli.js serve` as its own process, registered with the daemon the legacy
// way (/etc/docker/plugins/NAME.spec holding unix://SOCKET), plus the few CLI commands the benchmark needs.

import { execFile, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, rmSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { killPids, onProcessEnd, signalAndWait } from './cleanup.js'

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url))
export const PORTCULLIS_CLI = path.join(REPO_ROOT, 'dist', 'cli.js')
const PLUGIN_SPEC_DIR = '/etc/docker/plugins'

/** The build under test; `--cli` points it at another one (a copy of dist/ with a change to try). */
let cliPath = PORTCULLIS_CLI

export function usePortcullisCli (file) {
  cliPath = file
}

/** Runs `node dist/cli.js ARGS` and resolves with its stdout; rejects with its output on a non-zero exit. */
export function portcullis (args, { timeoutMs = 30_000 } = {}) {
  if (!existsSync(cliPath)) return Promise.reject(new Error(`${cliPath} does not exist; run \`npm run build\` first`))
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [cliPath, ...args], { cwd: REPO_ROOT, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      cancelSafetyNet()
      if (err) reject(new Error(`portcullis ${args[0]} ${args[1] ?? ''} failed: ${err.message}\n${stdout}${stderr}`))
      else resolve(stdout)
    })
    const cancelSafetyNet = onProcessEnd(() => killPids([child.pid]))
  })
}

/** `keys init`, then one token per user; resolves with { user: token }. */
export async function issueTokens (keysDir, users) {
  await portcullis(['keys', 'init', '--keys', keysDir])
  const tokens = {}
  for (const user of users) {
    const stdout = await portcullis(['token', 'issue', '--keys', keysDir, '--user', user, '--ttl', '1h'])
    tokens[user] = stdout.trim().split('\n').pop().trim()
  }
  return tokens
}

/** The seq of the newest durable audit record, read the way an operator would. */
export async function auditHeadSeq (adminSocket) {
  const stdout = await portcullis(['audit', 'tail', '-n', '1', '--json', '--admin-socket', adminSocket])
  const last = stdout.trim().split('\n').pop()
  return last ? JSON.parse(last).seq : 0
}

/** The store's write counters from `status` (batches and records since start), or null when the build has none. */
export function auditWriteStats (adminSocket) {
  return new Promise((resolve) => {
    http.get({ socketPath: adminSocket, path: '/v1/status', agent: false }, (res) => {
      let body = ''
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => {
        try {
          const audit = JSON.parse(body).audit
          resolve(typeof audit?.batches === 'number' && typeof audit?.records === 'number' ? { batches: audit.batches, records: audit.records } : null)
        } catch {
          resolve(null)
        }
      })
    }).on('error', () => resolve(null))
  })
}

/**
 * Streams audit records fromSeq..toSeq through `audit export` and counts them by `kindOf(record)`, in
 * constant memory (a load run leaves tens of thousands of records).
 */
export function countAuditRecords (adminSocket, fromSeq, toSeq, kindOf, { timeoutMs = 120_000 } = {}) {
  const args = [cliPath, 'audit', 'export', '--from-seq', String(fromSeq), '--to-seq', String(toSeq), '--admin-socket', adminSocket]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    const cancelSafetyNet = onProcessEnd(() => killPids([child.pid]))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    const counts = {}
    let stderr = ''
    child.stderr.on('data', (chunk) => { stderr += chunk })
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      if (line === '') return
      const kind = kindOf(JSON.parse(line))
      counts[kind] = (counts[kind] ?? 0) + 1
    })
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      cancelSafetyNet()
      if (code === 0) resolve(counts)
      else reject(new Error(`portcullis audit export exited with ${code}: ${stderr}`))
    })
  })
}

/**
 * Starts `serve` in `dir` and waits until POST /Plugin.Activate answers, then writes the spec file.
 * `cpuProfileDir` runs it under `node --cpu-prof`; the profile is written when it stops. `nodeFlags` go before the
 * script (e.g. `--import` of a preload), `env` replaces the environment (e.g. with LD_PRELOAD).
 */
export async function startPortcullis ({ dir, policyFile, keysDir, dockerSocket, name, cpuProfileDir, cli = cliPath, nodeFlags: extraNodeFlags = [], env }) {
  await mkdir(dir, { recursive: true })
  const socket = path.join(dir, 'portcullis.sock')
  const adminSocket = path.join(dir, 'admin.sock')
  const nodeFlags = [...extraNodeFlags, ...(cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir])]
  const args = [
    ...nodeFlags, cli, 'serve',
    '--config', policyFile,
    '--socket', socket,
    '--data', path.join(dir, 'data'),
    '--admin-socket', adminSocket,
    '--keys', keysDir,
    '--docker-host', `unix://${dockerSocket}`,
    '--plugin-name', name,
    '--elevation-listen', 'off',
    '--log-level', 'warn'
  ]
  const plugin = await startPluginProcess({ dir, name, socket, args, logFile: path.join(dir, 'portcullis.log'), env })
  return { ...plugin, adminSocket }
}

/** The allow-everything plugin of bench/noop-plugin.js, registered as `name`. */
export function startNoopPlugin ({ dir, name }) {
  const socket = path.join(dir, 'noop.sock')
  const script = fileURLToPath(new URL('./noop-plugin.js', import.meta.url))
  return startPluginProcess({ dir, name, socket, args: [script, socket], logFile: path.join(dir, 'noop.log') })
}

/** Runs `node ARGS`, waits until it answers POST /Plugin.Activate on `socket`, then writes the spec file. */
async function startPluginProcess ({ dir, name, socket, args, logFile, env = process.env }) {
  await mkdir(dir, { recursive: true })
  const specFile = path.join(PLUGIN_SPEC_DIR, `${name}.spec`)
  const logFd = openSync(logFile, 'a')
  const spawnedAt = performance.now()
  let child
  try {
    child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', logFd, logFd] })
  } finally {
    closeSync(logFd)
  }
  child.once('error', () => {})
  const pid = child.pid
  const cancelSafetyNet = onProcessEnd(() => {
    if (pid !== undefined) killPids([pid])
    rmSync(specFile, { force: true })
  })
  const stop = async () => {
    try {
      if (!(await signalAndWait(child, 'SIGTERM', 15_000))) await signalAndWait(child, 'SIGKILL', 5_000)
    } finally {
      rmSync(specFile, { force: true })
      cancelSafetyNet()
    }
  }

  let readyMs
  try {
    if (pid === undefined) throw new Error(`could not start ${process.execPath} ${args.join(' ')}`)
    await waitUntilActive(child, socket, logFile)
    readyMs = performance.now() - spawnedAt
    await mkdir(PLUGIN_SPEC_DIR, { recursive: true })
    await writeFile(specFile, `unix://${socket}\n`)
  } catch (err) {
    await stop()
    throw err
  }
  // readyMs: from spawn until POST /Plugin.Activate was answered (polled every 20 ms).
  return { name, pid, socket, logFile, readyMs, stop }
}

async function waitUntilActive (child, socket, logFile, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the plugin process exited during startup (${child.exitCode ?? child.signalCode}).\n${await readFile(logFile, 'utf8').catch(() => '')}`)
    }
    if (existsSync(socket) && (await activate(socket))) return
    await sleep(20)
  }
  throw new Error(`the plugin did not answer POST /Plugin.Activate on ${socket} within ${timeoutMs} ms; see ${logFile}`)
}

function activate (socketPath) {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, method: 'POST', path: '/Plugin.Activate', timeout: 2_000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
    req.end()
  })
}

