// The managed-plugin path, for real: `make plugin` builds the bundle offline, it is pushed to a registry on
// loopback (Debian's docker-registry), installed with `docker plugin install`, enabled, and turned on as the
// daemon's authorization plugin through daemon.json + SIGHUP. Then the core checks run through it, the plugin
// protects itself, and an upgrade keeps the audit chain unbroken.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createDocker, expectDenied, expectOk, importBusyboxImage, portcullisCliOk, REPO_ROOT,
  removeDirSync, startDockerd, TEST_IMAGE, type Docker, type DockerResult, type Dockerd
} from '../helpers/index.js'
import { freeTcpPort } from '../helpers/tls.js'
import { knownHostsFile, makeSshKey, runSsh, SSH_CLIENT, sshArgs, type SshOptions } from '../helpers/ssh.js'
import { signalAndWait } from '../helpers/process.js'
import { waitUntil } from '../helpers/wait.js'
import { detectAllocator } from '../../src/daemon/allocator.js'

const example = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
// A role that manages plugins but is not unsafe: it must still not touch portcullis itself.
const policy = structuredClone(example)
policy.roles.pluginops = { allow: ['system.*', 'plugin.*'] }
policy.global.members.pat = 'pluginops'

let dir: string
let ssh: SshOptions
let registry: ChildProcess | undefined
let dockerd: Dockerd | undefined
let docker: Docker
let repo: string
const tokens: Record<string, string> = {}
const paths = { etc: '', data: '', run: '', daemonJson: '', admin: '' }
const timings: Record<string, number> = {}

const as = (user: string | null, args: string[], timeoutMs = 60_000): Promise<DockerResult> =>
  docker(args, { token: user === null ? undefined : tokens[user], timeoutMs })
const denied = (result: DockerResult, message?: string | RegExp): void => expectDenied(result, 'portcullis:latest', message)

async function adminCli (args: string[]): Promise<string> {
  return await portcullisCliOk([...args, '--admin-socket', paths.admin])
}

/** Turns authorization on (or re-arms it after the plugin was disabled): daemon.json + SIGHUP, then waits
 * until an anonymous `docker ps` is refused by the plugin. Returns how long that took. */
async function armAuthorization (): Promise<number> {
  const started = Date.now()
  writeFileSync(paths.daemonJson, JSON.stringify({ 'authorization-plugins': ['portcullis'] }))
  process.kill(dockerd!.pid, 'SIGHUP')
  let ps: DockerResult | undefined
  await waitUntil('an anonymous `docker ps` refused by the plugin after SIGHUP', async () => {
    ps = await as(null, ['ps'])
    return ps.code !== 0 && ps.stderr.includes('authorization denied by plugin portcullis')
  }, { timeoutMs: 20_000, intervalMs: 100, detail: () => `the last answer: ${ps?.code} ${ps?.stderr}` })
  return Date.now() - started
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-managed-'))
  execFileSync('bash', [path.join(REPO_ROOT, 'scripts/build-plugin.sh')], { cwd: REPO_ROOT, stdio: 'pipe', timeout: 300_000 })

  paths.etc = path.join(dir, 'etc')
  paths.data = path.join(dir, 'data')
  paths.run = path.join(dir, 'run')
  paths.admin = path.join(paths.run, 'admin.sock')
  paths.daemonJson = path.join(dir, 'daemon.json')
  for (const p of [paths.etc, paths.data, paths.run]) mkdirSync(p, { recursive: true })
  // The bridge too: the plugin has the host network and the host PID namespace, so it listens on the host's
  // loopback and can stop the process of a session whose client went away.
  const aliceKey = await makeSshKey(dir, 'ed25519', 'alice')
  const sshPort = await freeTcpPort()
  policy.users.alice.sshKeys = [aliceKey.publicLine]
  policy.bridge = { enabled: true, listen: `127.0.0.1:${sshPort}` }
  writeFileSync(path.join(paths.etc, 'policy.json'), JSON.stringify(policy, null, 2))
  await portcullisCliOk(['keys', 'init', '--keys', path.join(paths.etc, 'keys')])
  const hostKey = readFileSync(path.join(paths.etc, 'keys', 'ssh_host_ed25519_key.pub'), 'utf8').trim()
  ssh = { port: sshPort, login: 'alice+pay-ssh', keyPath: aliceKey.privatePath, knownHosts: await knownHostsFile(dir, sshPort, hostKey) }
  for (const user of ['ops', 'alice', 'bob', 'pat']) {
    tokens[user] = (await portcullisCliOk(['token', 'issue', '--keys', path.join(paths.etc, 'keys'), '--user', user, '--ttl', '1h'])).trim()
  }

  const port = await freeTcpPort()
  repo = `localhost:${port}/portcullis`
  writeFileSync(path.join(dir, 'registry.yml'), `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/registry\nhttp:\n  addr: 127.0.0.1:${port}\n`)
  registry = spawn('docker-registry', ['serve', path.join(dir, 'registry.yml')], { stdio: 'ignore' })
  await waitUntil(`the registry answering on 127.0.0.1:${port}`, () => fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false), { intervalMs: 100 })

  writeFileSync(paths.daemonJson, '{}')
  dockerd = await startDockerd({ dir: path.join(dir, 'dockerd'), configFile: paths.daemonJson })
  docker = createDocker({ socket: dockerd.socket, configRoot: path.join(dir, 'docker-config') })

  // Build → push → remove → install from the registry, as a site would.
  expectOk(await as(null, ['plugin', 'create', `${repo}:1`, path.join(REPO_ROOT, 'plugin')], 120_000))
  expectOk(await as(null, ['plugin', 'push', `${repo}:1`], 120_000))
  expectOk(await as(null, ['plugin', 'rm', `${repo}:1`]))
  expectOk(await as(null, ['plugin', 'install', '--grant-all-permissions', '--disable', '--alias', 'portcullis', `${repo}:1`], 120_000))
  expectOk(await as(null, ['plugin', 'set', 'portcullis', `policy.source=${paths.etc}`, `data.source=${paths.data}`,
    `run.source=${paths.run}`, `docker.source=${dockerd.socket}`]))
  const enabling = Date.now()
  expectOk(await as(null, ['plugin', 'enable', 'portcullis']))
  timings.enable = Date.now() - enabling
  timings.firstDecision = timings.enable + await armAuthorization()
  await importBusyboxImage(docker, { token: tokens.ops })
}, 600_000)

afterAll(async () => {
  try {
    await dockerd?.stop()
  } finally {
    if (registry !== undefined) await signalAndWait(registry, 'SIGTERM', 5000)
    if (dir !== undefined) removeDirSync(dir)
  }
  if (timings.firstDecision !== undefined) {
    process.stdout.write(`managed plugin: enable took ${timings.enable} ms; enable → first decision ${timings.firstDecision} ms\n`)
  }
})

describe('installed from a registry as a managed plugin', () => {
  it('is the daemon\'s authorization plugin: members allowed, others denied with the reason', async () => {
    expectOk(await as('alice', ['run', '-d', '--name', 'pay-1', '--network', 'none', '--label', 'portcullis.project=payments', TEST_IMAGE, 'sleep', '600']))
    expectOk(await as('alice', ['exec', 'pay-1', 'true']))
    denied(await as('bob', ['stop', 'pay-1']), 'bob may not container.stop in project payments')
    denied(await as('alice', ['run', '--rm', '--privileged', '--network', 'none', '--label', 'portcullis.project=payments', TEST_IMAGE, 'true']), 'privileged')
    denied(await as(null, ['ps']), 'portcullis token issue')
  })

  it('serve runs on jemalloc: the bundle carries it and config.json preloads it', () => {
    // The plugin shares the host's PID namespace; its serve is the one with this test's data dir mounted.
    const pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('/opt/portcullis/dist/cli.js\0serve') &&
          readFileSync(`/proc/${pid}/mountinfo`, 'utf8').includes(` ${paths.data} `)
      } catch {
        return false
      }
    })
    expect(pids).toHaveLength(1)
    expect(detectAllocator(readFileSync(`/proc/${pids[0]}/maps`, 'utf8'))).toBe('jemalloc')
  })

  it('its audit trail is read from the host through the run mount', async () => {
    const lines = (await adminCli(['audit', 'tail', '--all', '-n', '200', '--json'])).trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.some((r) => r.user === 'alice' && r.action === 'container.exec' && r.decision === 'allow')).toBe(true)
    expect(lines.some((r) => r.user === 'bob' && r.action === 'container.stop' && r.decision === 'deny')).toBe(true)
    expect(await adminCli(['audit', 'verify'])).toMatch(/audit chain intact/)
  })
})

describe('the SSH bridge inside the managed plugin', () => {
  it('runs a recorded session, and stops the process of a client that went away', async () => {
    expectOk(await as('alice', ['run', '-d', '--name', 'pay-ssh', '--network', 'none', '--label', 'portcullis.project=payments', TEST_IMAGE, 'sleep', '600']))
    const result = await runSsh(ssh, 'echo from-the-managed-plugin; exit 3')
    expect(result.stdout.toString()).toBe('from-the-managed-plugin\n')
    expect(result.code, result.stderr).toBe(3)

    const client = spawn(SSH_CLIENT, [...sshArgs(ssh), 'sleep 4343'], { stdio: 'ignore' })
    const running = async (): Promise<boolean> => (await as('alice', ['top', 'pay-ssh', '-o', 'pid,args'])).stdout.includes('sleep 4343')
    await waitUntil('`sleep 4343` running in pay-ssh', running, { timeoutMs: 20_000, intervalMs: 200 })
    client.kill('SIGKILL')
    await waitUntil('the bridge stopping `sleep 4343` after its client went away', async () => !(await running()), { timeoutMs: 20_000, intervalMs: 200 })

    const sessions = JSON.parse(await adminCli(['audit', 'sessions', '--json', '-n', '2'])) as Array<{ endedBy: string, exitCode: number | null }>
    expect(sessions.map((s) => s.endedBy)).toEqual(['client', 'exit'])
    expect(sessions[1]!.exitCode).toBe(3)
  })
})

describe('the plugin protects itself', () => {
  it('a role that manages plugins but is not unsafe may not disable, remove, set, upgrade or push portcullis', async () => {
    expectOk(await as('pat', ['plugin', 'ls']))
    denied(await as('pat', ['plugin', 'disable', 'portcullis']), 'on the portcullis plugin itself needs an unsafe role')
    denied(await as('pat', ['plugin', 'rm', '-f', 'portcullis']), 'needs an unsafe role')
    denied(await as('pat', ['plugin', 'set', 'portcullis', 'PORTCULLIS_LOG_LEVEL=debug']), 'needs an unsafe role')
    // The CLI refuses to upgrade an enabled plugin by itself, so ask the API directly, as any client could.
    const upgrade = await apiPost(`/v1.41/plugins/portcullis/upgrade?remote=${encodeURIComponent(`${repo}:1`)}`, '[]', tokens.pat!)
    expect(upgrade.status).toBe(403)
    expect(upgrade.body).toContain('on the portcullis plugin itself needs an unsafe role')
    denied(await as('pat', ['plugin', 'push', 'portcullis']), 'needs an unsafe role')
    expect((await as('ops', ['plugin', 'inspect', '--format', '{{.Enabled}}', 'portcullis'])).stdout.trim()).toBe('true')
  })

  it('each attempt is on record', async () => {
    const lines = (await adminCli(['audit', 'tail', '--all', '-n', '100', '--json'])).trim().split('\n').map((l) => JSON.parse(l))
    const pats = lines.filter((r) => r.user === 'pat' && r.kind === 'decision' && r.decision === 'deny').map((r) => r.action)
    expect(pats).toEqual(expect.arrayContaining(['plugin.disable', 'plugin.remove', 'plugin.set', 'plugin.upgrade', 'plugin.push']))
    expect(lines.find((r) => r.user === 'pat' && r.action === 'plugin.disable')).toMatchObject({ code: 'SELF_PROTECTION' })
  })
})

describe('upgrade', () => {
  it('an unsafe admin upgrades to a new build; the audit chain continues unbroken across it', async () => {
    // A second build: the same bundle with a marker file, so its layers differ.
    const v2 = path.join(dir, 'plugin-v2')
    cpSync(path.join(REPO_ROOT, 'plugin'), v2, { recursive: true })
    writeFileSync(path.join(v2, 'rootfs/opt/portcullis/BUILD'), 'upgrade-test-2\n')
    expectOk(await as('ops', ['plugin', 'create', `${repo}:2`, v2], 120_000))
    expectOk(await as('ops', ['plugin', 'push', `${repo}:2`], 120_000))
    expectOk(await as('ops', ['plugin', 'rm', `${repo}:2`]))

    const before = JSON.parse((await adminCli(['audit', 'tail', '--all', '-n', '1', '--json'])).trim())
    // Disabling a managed authorization plugin switches authorization off in dockerd until it is enabled
    // again and the daemon's configuration reloaded: that is why only unsafe roles may do it.
    expectOk(await as('ops', ['plugin', 'disable', 'portcullis']))
    expectOk(await as('ops', ['plugin', 'upgrade', '--grant-all-permissions', '--skip-remote-check', 'portcullis', `${repo}:2`], 120_000))
    // An upgrade resets the plugin's settings to the new manifest's defaults: set the mounts again.
    expectOk(await as('ops', ['plugin', 'set', 'portcullis', `policy.source=${paths.etc}`, `data.source=${paths.data}`,
      `run.source=${paths.run}`, `docker.source=${dockerd!.socket}`]))
    expectOk(await as('ops', ['plugin', 'enable', 'portcullis']))
    await armAuthorization()
    expect((await as('ops', ['plugin', 'inspect', '--format', '{{.PluginReference}}', 'portcullis'])).stdout.trim()).toBe(`${repo}:2`)

    expectOk(await as('alice', ['exec', 'pay-1', 'true']))
    denied(await as('bob', ['stop', 'pay-1']))

    const after = (await adminCli(['audit', 'export', '--from-seq', String(before.seq)])).trim().split('\n').map((l) => JSON.parse(l))
    // The disable was decided and recorded by the old build before it stopped; the new build starts right after.
    const disable = after.find((r) => r.action === 'plugin.disable' && r.user === 'ops')
    expect(disable).toMatchObject({ decision: 'allow' })
    const restart = after.find((r) => r.kind === 'system' && r.action === 'portcullis.start')
    expect(restart.seq).toBeGreaterThan(disable.seq)
    for (let i = 1; i < after.length; i++) {
      expect(after[i].seq).toBe(after[i - 1].seq + 1)
      expect(after[i].prevHash).toBe(after[i - 1].hash)
    }
    expect(await adminCli(['audit', 'verify'])).toMatch(/audit chain intact/)
  })
})

/** A raw API call on the daemon socket with a token, for what the CLI will not send. */
function apiPost (uri: string, body: string, token: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: dockerd!.socket, path: uri, method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Portcullis-Token': token } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}
