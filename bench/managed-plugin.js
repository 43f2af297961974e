// The plugin under test as a Docker managed plugin: the bundle made by scripts/build-plugin.sh, turned into a
// plugin on a private dockerd with `docker plugin create`, `set` and `enable`, the way
// test/e2e/managed-plugin.test.ts does it. dockerd 20.10 keeps a managed plugin's socket in
// /run/docker/plugins/ID/ whatever its --exec-root, so the host reaches it there; the admin socket is in the run
// mount. Everything is undone by `stop()` (disable, rm), or by pid if the run ends without it.

import { cp, mkdir, readFile } from 'node:fs/promises'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { waitForFirstDecision } from './authz-call.js'
import { killPids, onProcessEnd } from './cleanup.js'
import { managedPluginPid } from './dockerd.js'
import { isAlive, startedAtMs } from '../scripts/lib/procfs.js'

/** Where dockerd on Linux puts managed plugins' sockets (daemon getPluginExecRoot; not under --exec-root). */
const MANAGED_SOCKET_ROOT = '/run/docker/plugins'

/**
 * Creates plugin `name` from `bundleDir` on `dockerd` (through `docker`, a docker-cli.js runner for that
 * daemon) and points its mounts at dirs under `dir`: etc/ (a copy of `policyFile` and `keysDir`, so the
 * tokens of the host-mode run work here too), data/ (the audit store), run/ (the admin socket). It stays
 * disabled until `enable()`.
 */
export async function createManagedPlugin ({ docker, dockerd, bundleDir, name, dir, policyFile, keysDir, logLevel = 'warn' }) {
  const etc = path.join(dir, 'etc')
  const data = path.join(dir, 'data')
  const run = path.join(dir, 'run')
  for (const d of [etc, data, run]) await mkdir(d, { recursive: true })
  await cp(policyFile, path.join(etc, 'policy.json'))
  await cp(keysDir, path.join(etc, 'keys'), { recursive: true })
  const manifest = JSON.parse(await readFile(path.join(bundleDir, 'config.json'), 'utf8'))

  const creating = performance.now()
  await docker(['plugin', 'create', name, bundleDir])
  const createMs = performance.now() - creating
  const id = (await docker(['plugin', 'inspect', '--format', '{{.Id}}', name])).trim()
  const socketDir = path.join(MANAGED_SOCKET_ROOT, id)
  let stopped = false

  const plugin = {
    name,
    id,
    socket: path.join(socketDir, manifest.interface.socket),
    adminSocket: path.join(run, 'admin.sock'),
    createMs,
    /** The plugin's process as the host sees it; known once enabled. */
    pid: null,
    enable,
    stop
  }
  const cancelSafetyNet = onProcessEnd(() => {
    if (plugin.pid !== null) killPids([plugin.pid])
    rmSync(socketDir, { recursive: true, force: true })
  })

  try {
    // The same log level as the host-mode serve, so both write the same (nothing, under this load).
    await docker(['plugin', 'set', name, `policy.source=${etc}`, `data.source=${data}`, `run.source=${run}`,
      `docker.source=${dockerd.socket}`, `PORTCULLIS_LOG_LEVEL=${logLevel}`])
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }

  /**
   * `docker plugin enable`, timed from just before the CLI runs: until the CLI returns, and until the first
   * AuthZReq (`probe`, raw request bytes) sent straight to the plugin socket is answered.
   */
  async function enable (probe) {
    const wallStart = Date.now()
    const start = performance.now()
    const stopPolling = new AbortController()
    const first = waitForFirstDecision(plugin.socket, probe, { signal: stopPolling.signal })
    first.catch(() => {}) // awaited below; this only keeps an early rejection from going unhandled
    let enableMs
    try {
      await docker(['plugin', 'enable', name])
      enableMs = performance.now() - start
    } catch (err) {
      stopPolling.abort()
      throw err
    }
    const reply = await first
    plugin.pid = managedPluginPid(dockerd.dir, id)
    if (plugin.pid === null) throw new Error(`plugin ${name} is enabled but runc has no live process for it under ${dockerd.dir}/exec`)
    const processStartedAt = startedAtMs(plugin.pid)
    return {
      enableMs,
      firstDecisionMs: reply.answeredAt - start,
      reply,
      // When the plugin's process was started (by containerd and runc), to within a few clock ticks.
      processStartMs: processStartedAt === null ? null : processStartedAt - wallStart
    }
  }

  async function stop () {
    if (stopped) return
    stopped = true
    const problems = []
    // Force both: the daemon must let go of the plugin even when something still refers to it.
    for (const args of [['plugin', 'disable', '--force', name], ['plugin', 'rm', '--force', name]]) {
      try {
        await docker(args)
      } catch (err) {
        if (!/is already disabled|plugin .* not found/i.test(err.message)) problems.push(err.message.split('\n')[0])
      }
    }
    const pid = plugin.pid
    if (pid !== null) {
      const deadline = Date.now() + 15_000
      while (isAlive(pid) && Date.now() < deadline) await sleep(100)
      if (isAlive(pid)) {
        problems.push(`the plugin process ${pid} outlived \`docker plugin disable\`; killed it`)
        killPids([pid])
      }
    }
    rmSync(socketDir, { recursive: true, force: true })
    cancelSafetyNet()
    if (problems.length > 0) throw new Error(`while removing managed plugin ${name}: ${problems.join('; ')}`)
  }

  return plugin
}
