// Host mode: `scripts/install.sh` with DESTDIR puts the built tree, a `portcullis` command, the systemd unit, a spec
// file and the example policy into a staging root; that installed copy then serves a real dockerd as its legacy
// authorization plugin, found through the spec file. systemd is not PID 1 here, so the unit is checked with
// `systemd-analyze` instead of being started. Last, `--uninstall` takes it all away again except policy and data.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, rmSync } from 'node:fs'
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULTS } from '../../src/cli/defaults.js'
import type { Record as AuditRecord } from '../helpers/audit.js'
import {
  createDocker, dockerdPaths, expectDenied, expectOk, importBusyboxImage, pluginSpecFile, removeDirSync, REPO_ROOT,
  startDockerd, TEST_IMAGE, type Docker, type Dockerd
} from '../helpers/index.js'
import { signalAndWait } from '../helpers/process.js'
import { onProcessEnd } from '../helpers/safety-net.js'
import { waitUntil } from '../helpers/wait.js'

const INSTALL_SCRIPT = path.join(REPO_ROOT, 'scripts', 'install.sh')
const UNIT_TEMPLATE = path.join(REPO_ROOT, 'plugin', 'portcullis.service')
const PREFIX = '/usr/local'

let dir: string
let destdir: string
/** Not the default socket, so the install writes a spec file. */
let socket: string
const installed = (p: string): string => path.join(destdir, p)
const bin = (): string => installed(`${PREFIX}/bin/portcullis`)

interface RunResult { code: number | null, stdout: string, stderr: string }

function run (command: string, args: string[], options: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(command, args, { env: options.env ?? process.env, timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null
      resolve({ code, stdout, stderr })
    })
  })
}

const install = (args: string[] = []): Promise<RunResult> =>
  run('bash', [INSTALL_SCRIPT, ...args], { env: { ...process.env, DESTDIR: destdir, SOCKET: socket }, timeoutMs: 180_000 })

/** Every path under `root`, with size and mode: what "the same tree" means for a second install. */
async function listTree (root: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name)
      const info = await stat(full)
      out.push(`${path.relative(root, full)} ${entry.isDirectory() ? 'dir' : info.size} ${(info.mode & 0o7777).toString(8)}`)
      if (entry.isDirectory()) await walk(full)
    }
  }
  await walk(root)
  return out.sort()
}

/** The unit's [Service]/[Unit]/[Install] keys, continuation lines joined; a key given twice keeps every value. */
function parseUnit (text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>()
  const logical = text.replace(/\s*\\\n\s*/g, ' ').split('\n')
  for (const line of logical) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim())
    if (match === null) continue
    keys.set(match[1]!, [...(keys.get(match[1]!) ?? []), match[2]!])
  }
  return keys
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-host-'))
  destdir = path.join(dir, 'root')
  socket = path.join(dir, 'run', 'portcullis.sock')
  const result = await install()
  expect(result.code, result.stdout + result.stderr).toBe(0)
}, 180_000)

afterAll(() => {
  if (dir !== undefined) removeDirSync(dir)
})

describe('scripts/install.sh with DESTDIR', () => {
  it('installs the built code, production dependencies only, under PREFIX/lib/portcullis', async () => {
    const lib = installed(`${PREFIX}/lib/portcullis`)
    for (const file of ['dist/cli.js', 'dist/serve.js', 'package.json', 'package-lock.json', 'node_modules/level/package.json', 'node_modules/classic-level/package.json']) {
      expect(existsSync(path.join(lib, file)), file).toBe(true)
    }
    const modules = await readdir(path.join(lib, 'node_modules'))
    for (const devOnly of ['vitest', 'typescript', 'vite', '@vitest']) expect(modules).not.toContain(devOnly)
    expect(JSON.parse(await readFile(path.join(lib, 'package.json'), 'utf8'))).toMatchObject({ name: 'portcullis', type: 'module' })
    expect((await stat(bin())).mode & 0o111).toBe(0o111)
  })

  it('writes the unit, a spec file naming the non-default socket, and the example policy; no keys under DESTDIR', async () => {
    expect(existsSync(installed('/etc/systemd/system/portcullis.service'))).toBe(true)
    expect(await readFile(installed('/etc/docker/plugins/portcullis.spec'), 'utf8')).toBe(`unix://${socket}\n`)
    expect(await readFile(installed('/etc/portcullis/policy.json'), 'utf8')).toBe(await readFile(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8'))
    // `keys init` only runs for a real install: with DESTDIR the keys belong to the target machine.
    expect(existsSync(installed('/etc/portcullis/keys'))).toBe(false)
    expect(existsSync(installed('/var/lib/portcullis'))).toBe(false)
  })

  it('the installed command runs: --help, and policy validate on the installed policy', async () => {
    const help = await run(bin(), ['--help'])
    expect(help.code, help.stderr).toBe(0)
    expect(help.stdout).toMatch(/^portcullis \d+\.\d+\.\d+/)
    expect(help.stdout).toContain('Usage: portcullis COMMAND')

    const validate = await run(bin(), ['policy', 'validate', '--config', installed('/etc/portcullis/policy.json')])
    expect(validate.code, validate.stderr).toBe(0)
    expect(validate.stdout).toContain('valid (4 roles, 2 projects')
  })

  it('the unit runs the installed command with the defaults, before docker.service, hardened', async () => {
    const unit = parseUnit(await readFile(installed('/etc/systemd/system/portcullis.service'), 'utf8'))
    expect(unit.get('ExecStart')).toEqual([[
      `${PREFIX}/bin/portcullis serve`,
      `--config ${DEFAULTS.config}`,
      `--socket ${socket}`,
      `--data ${DEFAULTS.data}`,
      `--admin-socket ${DEFAULTS.adminSocket}`,
      `--keys ${DEFAULTS.keys}`,
      `--docker-host ${DEFAULTS.dockerHost}`
    ].join(' ')])
    expect(unit.get('Before')).toEqual(['docker.service'])
    expect(unit.get('Restart')).toEqual(['on-failure'])
    expect(unit.get('WantedBy')?.[0]?.split(' ')).toEqual(expect.arrayContaining(['multi-user.target', 'docker.service']))
    // Writable: the audit store, the admin socket's dir, the plugin socket's dir. Read-only everything else.
    expect(unit.get('ProtectSystem')).toEqual(['strict'])
    expect(unit.get('StateDirectory')).toEqual([path.basename(DEFAULTS.data)])
    expect(unit.get('RuntimeDirectory')).toEqual([path.basename(path.dirname(DEFAULTS.adminSocket))])
    expect(unit.get('ReadWritePaths')).toEqual([path.dirname(socket)])
    expect(unit.get('ExecStartPost')?.[0]).toContain(`[ -S ${socket} ]`)
    // One capability, for naming the admin socket's peer (ss -x -p, /proc): audit reads are refused without it.
    expect(unit.get('CapabilityBoundingSet')).toEqual(['CAP_SYS_PTRACE'])
    expect(unit.get('RestrictAddressFamilies')?.[0]?.split(' ')).toContain('AF_NETLINK')
    expect(unit.get('NoNewPrivileges')).toEqual(['yes'])

    // The template itself carries exactly the defaults of src/cli/defaults.ts.
    const template = parseUnit(await readFile(UNIT_TEMPLATE, 'utf8'))
    expect(template.get('ExecStart')?.[0]).toContain(`--socket ${DEFAULTS.socket} `)
    expect(template.get('ReadWritePaths')).toEqual([path.dirname(DEFAULTS.socket)])
  })

  it('the unit preloads the machine\'s jemalloc (make install installs libjemalloc2), so serve\'s memory stays bounded', async () => {
    const unit = parseUnit(await readFile(installed('/etc/systemd/system/portcullis.service'), 'utf8'))
    const found = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' }).split('\n').map((line) => /^\s*libjemalloc\.so\.2 .*=> (\S+)$/.exec(line)?.[1]).find((lib) => lib !== undefined)
    expect(found, 'libjemalloc2 is installed by make system-deps').toBeDefined()
    expect(unit.get('Environment')).toEqual(['PORTCULLIS_LOG_LEVEL=info', `LD_PRELOAD=${found}`])
  })

  it('without jemalloc the unit leaves the preload out and the install says what to install', async () => {
    const bare = path.join(dir, 'bare')
    const result = await run('bash', [INSTALL_SCRIPT], { env: { ...process.env, DESTDIR: bare, SOCKET: socket, JEMALLOC: '/nonexistent/libjemalloc.so.2' }, timeoutMs: 180_000 })
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toContain('WARNING: no jemalloc library found (apt-get install libjemalloc2')
    const unit = parseUnit(await readFile(path.join(bare, '/etc/systemd/system/portcullis.service'), 'utf8'))
    expect(unit.get('Environment')).toEqual(['PORTCULLIS_LOG_LEVEL=info'])
  })

  it.runIf(existsSync('/usr/bin/systemd-analyze'))('systemd-analyze verify finds nothing wrong, and rates its exposure OK', async () => {
    // verify checks that every command exists: point ExecStart at the staged copy, the rest is as installed.
    const verifyDir = path.join(dir, 'verify')
    await mkdir(verifyDir, { recursive: true })
    for (const [name, source] of [['installed', installed('/etc/systemd/system/portcullis.service')], ['template', UNIT_TEMPLATE]] as const) {
      const unitFile = path.join(verifyDir, name, 'portcullis.service')
      await mkdir(path.dirname(unitFile), { recursive: true })
      await writeFile(unitFile, (await readFile(source, 'utf8')).replace(`ExecStart=${PREFIX}/bin/portcullis`, `ExecStart=${bin()}`))
      const verify = await run('systemd-analyze', ['verify', unitFile])
      expect(verify.code, `${name}: ${verify.stderr}`).toBe(0)
      // Unknown or misspelt keys are only warnings: any output is a finding.
      expect(verify.stderr + verify.stdout, name).toBe('')

      const security = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', unitFile])
      const level = /Overall exposure level for portcullis\.service: ([\d.]+)/.exec(security.stdout)
      expect(level, security.stdout + security.stderr).not.toBeNull()
      expect(Number(level![1])).toBeLessThanOrEqual(3)
    }
  })

  it('running it again changes nothing, and keeps a policy the operator edited', async () => {
    const edited = JSON.stringify(JSON.parse(await readFile(installed('/etc/portcullis/policy.json'), 'utf8')))
    await writeFile(installed('/etc/portcullis/policy.json'), edited)
    const before = await listTree(destdir)

    const again = await install()
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(again.stdout).not.toContain('wrote the example policy')
    expect(await listTree(destdir)).toEqual(before)
    expect(await readFile(installed('/etc/portcullis/policy.json'), 'utf8')).toBe(edited)
    // No staging dirs left behind.
    expect((await readdir(installed(`${PREFIX}/lib`))).sort()).toEqual(['portcullis'])
  })
})

describe('the installed portcullis serves a real dockerd, found through the spec file', () => {
  const name = `portcullis-host-${randomBytes(4).toString('hex')}`
  const specFile = pluginSpecFile(name)
  let keysDir: string
  let dataDir: string
  let adminSocket: string
  let logFile: string
  let plugin: ChildProcess | null = null
  let dockerd: Dockerd | undefined
  let docker: Docker
  const tokens: { [user: string]: string } = {}
  let cancelSafetyNet = (): void => {}

  const cli = (args: string[]): Promise<RunResult> => run(bin(), args)

  beforeAll(async () => {
    keysDir = path.join(dir, 'keys')
    dataDir = path.join(dir, 'data')
    adminSocket = path.join(dir, 'admin', 'admin.sock')
    logFile = path.join(dir, 'portcullis.log')
    const dockerdDir = path.join(dir, 'dockerd')
    await mkdir(dockerdDir, { recursive: true })

    expect((await cli(['keys', 'init', '--keys', keysDir])).code).toBe(0)
    for (const user of ['alice', 'mallory', 'ops']) {
      const issued = await cli(['token', 'issue', '--keys', keysDir, '--user', user, '--ttl', '1h'])
      expect(issued.code, issued.stderr).toBe(0)
      tokens[user] = issued.stdout.trim().split('\n').pop()!.trim()
    }

    cancelSafetyNet = onProcessEnd(() => {
      if (plugin?.pid !== undefined) {
        try { process.kill(plugin.pid, 'SIGKILL') } catch { /* already gone */ }
      }
      rmSync(specFile, { force: true })
    })

    // The spec file the install wrote, under this run's own plugin name so nothing else on the machine is touched.
    await mkdir(path.dirname(specFile), { recursive: true })
    await copyFile(installed('/etc/docker/plugins/portcullis.spec'), specFile)
    await chmod(specFile, 0o644)

    const logFd = openSync(logFile, 'a')
    try {
      plugin = spawn(bin(), [
        'serve',
        '--config', installed('/etc/portcullis/policy.json'),
        '--socket', socket,
        '--data', dataDir,
        '--admin-socket', adminSocket,
        '--keys', keysDir,
        '--docker-host', dockerdPaths(dockerdDir).host,
        '--plugin-name', name
      ], { stdio: ['ignore', logFd, logFd] })
    } finally {
      closeSync(logFd)
    }
    await waitForServing(plugin, logFile)

    dockerd = await startDockerd({ dir: dockerdDir, authorizationPlugin: name })
    docker = createDocker({ socket: dockerd.socket, configRoot: path.join(dir, 'docker-config') })
    await importBusyboxImage(docker, { token: tokens.ops })
  }, 120_000)

  afterAll(async () => {
    try {
      await dockerd?.stop()
    } finally {
      if (plugin !== null && !(await signalAndWait(plugin, 'SIGTERM', 10_000))) await signalAndWait(plugin, 'SIGKILL', 5_000)
      rmSync(specFile, { force: true })
      cancelSafetyNet()
    }
  })

  it('the spec file the install wrote names the socket the installed serve listens on', async () => {
    expect(await readFile(specFile, 'utf8')).toBe(`unix://${socket}\n`)
    expect((await stat(socket)).isSocket()).toBe(true)
  })

  it('allows a member and denies a stranger, through the installed code', async () => {
    expectOk(await docker(['run', '--rm', '--network', 'none', '--label', 'portcullis.project=payments', TEST_IMAGE, 'true'], { token: tokens.alice }))
    expectDenied(await docker(['ps'], { token: tokens.mallory }), name)
  })

  it('records both decisions, and the chain verifies', async () => {
    const tail = await cli(['audit', 'tail', '--all', '-n', '1000', '--json', '--admin-socket', adminSocket])
    expect(tail.code, tail.stderr).toBe(0)
    const records = tail.stdout.trim().split('\n').map((line) => JSON.parse(line) as AuditRecord)
    expect(records[0]).toMatchObject({ kind: 'system', action: 'portcullis.start' })
    expect(records).toContainEqual(expect.objectContaining({ kind: 'decision', decision: 'allow', user: 'alice', action: 'container.create', project: 'payments' }))
    expect(records).toContainEqual(expect.objectContaining({ kind: 'decision', decision: 'deny', user: 'mallory', action: 'container.list' }))

    const verify = await cli(['audit', 'verify', '--admin-socket', adminSocket])
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    expect(verify.stdout).toMatch(/audit chain intact/)
  })
})

describe('scripts/install.sh --uninstall', () => {
  it('removes the code, command, unit and spec file; keeps the policy, keys and audit data', async () => {
    // What a real host would have next to the install: keys and an audit store.
    await mkdir(installed('/etc/portcullis/keys'), { recursive: true })
    await writeFile(installed('/etc/portcullis/keys/token.pub'), 'kept\n')
    await mkdir(installed('/var/lib/portcullis'), { recursive: true })
    await writeFile(installed('/var/lib/portcullis/CURRENT'), 'kept\n')

    const result = await install(['--uninstall'])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    for (const gone of [`${PREFIX}/lib/portcullis`, `${PREFIX}/bin/portcullis`, '/etc/systemd/system/portcullis.service', '/etc/docker/plugins/portcullis.spec']) {
      expect(existsSync(installed(gone)), gone).toBe(false)
    }
    for (const kept of ['/etc/portcullis/policy.json', '/etc/portcullis/keys/token.pub', '/var/lib/portcullis/CURRENT']) {
      expect(existsSync(installed(kept)), kept).toBe(true)
    }

    // And again: nothing left to remove is not an error.
    const again = await install(['--uninstall'])
    expect(again.code, again.stdout + again.stderr).toBe(0)
  })
})

/** Waits for the "portcullis is serving" log line: by then both sockets listen. */
async function waitForServing (child: ChildProcess, logFile: string, timeoutMs = 20_000): Promise<void> {
  const log = async (): Promise<string> => existsSync(logFile) ? await readFile(logFile, 'utf8') : ''
  await waitUntil('the installed portcullis serve logging "portcullis is serving"', async () => {
    const text = await log()
    if (text.includes('portcullis is serving')) return true
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the installed portcullis serve exited (${child.exitCode ?? child.signalCode}):\n${text}`)
    return false
  }, { timeoutMs, intervalMs: 100, detail: log })
}
