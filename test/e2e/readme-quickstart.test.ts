// The README's quickstart, run as written: the shell block between `<!-- quickstart -->` and `<!-- /quickstart -->`
// is extracted from README.md and run by bash against a private dockerd. Only the values of the variables the block
// itself defines at its top are changed (paths into a temp dir, a plugin name and bridge port of this run, the test
// daemon's daemon.json, pid file and socket), so the guide cannot rot: a step that stops working fails here.
// `make install` (the step before the block) is tested by host-install.test.ts; here `portcullis` on PATH is a
// two-line wrapper around the built CLI, as the installed one is.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createDocker, importBusyboxImage, isAlive, pluginSpecFile, PORTCULLIS_CLI, processesUsing, removeDirSync, REPO_ROOT,
  startDockerd, type Dockerd
} from '../helpers/index.js'
import { onProcessEnd } from '../helpers/safety-net.js'
import { freeTcpPort } from '../helpers/tls.js'
import { waitUntil } from '../helpers/wait.js'

/** The quickstart's shell text, exactly as README.md shows it. */
function quickstartScript (readme: string): string {
  const blocks = [...readme.matchAll(/<!-- quickstart -->\s*```sh\n([\s\S]*?)\n```\s*<!-- \/quickstart -->/g)].map((m) => m[1]!)
  if (blocks.length === 0) throw new Error('README.md has no <!-- quickstart --> ```sh … ``` <!-- /quickstart --> block')
  return blocks.join('\n')
}

/** Gives the variables the script defines (`NAME=…` or `export NAME=…` at the start of a line) other values. */
function withValues (script: string, values: Record<string, string>): string {
  let out = script
  for (const [name, value] of Object.entries(values)) {
    const line = new RegExp(`^((?:export )?${name})=\\S*`, 'm')
    if (!line.test(out)) throw new Error(`the quickstart no longer defines ${name}; update this test's values`)
    out = out.replace(line, `$1='${value}'`)
  }
  return out
}

interface Run { code: number | null, stdout: string, stderr: string }

const PLUGIN = `portcullis-quickstart-${randomBytes(4).toString('hex')}`
let dir: string
let readme: string
let dockerd: Dockerd | undefined
let run: Run
let servePid: number | undefined
let cancelSafetyNet: (() => void) | undefined

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-quickstart-'))
  const work = path.join(dir, 'work')
  const bin = path.join(dir, 'bin')
  await mkdir(work, { recursive: true })
  await mkdir(bin, { recursive: true })
  await writeFile(path.join(bin, 'portcullis'), `#!/bin/sh\nexec ${process.execPath} ${PORTCULLIS_CLI} "$@"\n`)
  await chmod(path.join(bin, 'portcullis'), 0o755)
  cancelSafetyNet = onProcessEnd(() => {
    for (const pid of processesUsing(dir)) { try { process.kill(pid, 'SIGKILL') } catch {} }
    rmSync(pluginSpecFile(PLUGIN), { force: true })
  })

  // dockerd as a host has it before the quickstart: running, no authorization plugin yet, a daemon.json it reloads.
  const daemonJson = path.join(dir, 'daemon.json')
  await writeFile(daemonJson, '{}\n')
  dockerd = await startDockerd({ dir: path.join(dir, 'dockerd'), configFile: daemonJson, logLevel: 'info' })
  // The image the quickstart runs, as `docker run busybox` would pull it (the test has no registry).
  await importBusyboxImage(createDocker({ socket: dockerd.socket, configRoot: path.join(dir, 'docker-config') }), { tag: 'busybox:latest' })

  readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8')
  const script = withValues(quickstartScript(readme), {
    PORTCULLIS_DIR: path.join(dir, 'etc'),
    PORTCULLIS_DATA: path.join(dir, 'data'),
    PORTCULLIS_RUN: path.join(dir, 'run'),
    PLUGIN,
    BRIDGE_PORT: String(await freeTcpPort()),
    DAEMON_JSON: daemonJson,
    DOCKERD_PIDFILE: dockerd.pidFile,
    DOCKER_HOST: dockerd.host
  })
  // The block leaves serve running in the background, as it would on a host; the test stops it by pid.
  run = await new Promise<Run>((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` }
    delete env.SSH_AUTH_SOCK
    execFile('bash', ['-c', `${script}\necho "SERVE_PID=$SERVE_PID"`], { cwd: work, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null
        resolve({ code, stdout, stderr })
      })
  })
  const pid = /^SERVE_PID=(\d+)$/m.exec(run.stdout)?.[1]
  servePid = pid === undefined ? undefined : Number(pid)
}, 240_000)

afterAll(async () => {
  // The daemon first: it asks the plugin about nothing on its way out.
  await dockerd?.stop()
  if (servePid !== undefined && isAlive(servePid)) {
    process.kill(servePid, 'SIGTERM')
    await waitUntil('serve to stop', () => !isAlive(servePid!), { timeoutMs: 30_000 })
  }
  rmSync(pluginSpecFile(PLUGIN), { force: true })
  cancelSafetyNet?.()
  if (dir !== undefined) removeDirSync(dir)
}, 90_000)

describe('the README quickstart, run as written against a real dockerd', () => {
  const output = (): string => `--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`

  it('runs to its end without a portcullis error or a missing command; the policy is valid; serve is left running', () => {
    expect(run.code, output()).toBe(0)
    expect(run.stderr, output()).not.toMatch(/\[PORTCULLIS_[A-Z_]+\]|command not found|No such file/)
    expect(run.stdout, output()).toMatch(/valid \(2 roles, 2 projects/)
    expect(servePid, output()).toBeDefined()
    expect(isAlive(servePid!)).toBe(true)
  })

  it('alice runs a container in her project', () => {
    expect(run.stdout, output()).toContain('hello from payments\n')
  })

  it('alice is refused a container in the other team\'s project, with the documented message', () => {
    expect(run.stdout, output()).not.toContain('hello from web')
    const refusal = 'alice is not a member of project web'
    expect(run.stderr, output()).toContain(`authorization denied by plugin ${PLUGIN}: ${refusal}`)
    // "What you should see" under the block quotes it.
    expect(readme.replace(/\s+/g, ' ')).toContain(`authorization denied by plugin portcullis: ${refusal}`)
  })

  it('audit tail shows both container.create decisions, allowed and denied', () => {
    const creates = run.stdout.split('\n').filter((line) => line.includes('container.create'))
    expect(creates.some((line) => /\bALLOW\b/.test(line) && line.includes('alice')), output()).toBe(true)
    expect(creates.some((line) => /\bDENY\b/.test(line) && line.includes('alice') && line.includes('web')), output()).toBe(true)
  })

  it('the SSH bridge lets alice into pay-1 with her key, and the session is on record', () => {
    expect(run.stdout, output()).toMatch(/hello over the bridge from [0-9a-f]{12}\n/)
    expect(run.stdout, output()).toMatch(/alice\S*\s.*pay-1/)
  })

  it('dockerd was told where the plugin is by a spec file, and to use it by daemon.json', async () => {
    expect(await readFile(pluginSpecFile(PLUGIN), 'utf8')).toBe(`unix://${path.join(dir, 'run', 'plugin.sock')}\n`)
    expect(JSON.parse(await readFile(path.join(dir, 'daemon.json'), 'utf8'))).toEqual({ 'authorization-plugins': [PLUGIN] })
  })
})
