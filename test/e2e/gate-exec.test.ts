// Issue 10, classes 4, 5 and 12 against a real dockerd, the real docker CLI and raw HTTP on the daemon socket:
// an exec is started only by its creator (or an unsafe role) and judged on itself; `interactive` governs every
// interactive stream (run -it, create -ti + start -ai, attach, the websocket attach); command text is refused where
// command rules exist.
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DOCKER_CLI, deniedMessage, expectDenied, expectOk, removeDirSync, startStack, TEST_IMAGE, type Stack } from '../helpers/index.js'
import { auditRecords, decisions, headSeq } from '../helpers/audit.js'
import { knownHostsFile, makeSshKey, runSsh, type SshKey, type SshOptions } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'
import { waitFor } from '../helpers/wait.js'

const policy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack
let sshPort: number
let knownHosts: string
let aliceKey: SshKey
let sshDir: string | undefined

const label = ['--label', 'portcullis.project=payments']

interface Answer { status: number, body: string }

/** One raw Engine API call as `user`, on the daemon's socket. */
function api (user: string, method: string, uri: string, body?: unknown): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = http.request({
      socketPath: stack.dockerd.socket,
      method,
      path: uri,
      agent: false,
      timeout: 30_000,
      headers: {
        'X-Portcullis-Token': stack.tokens[user]!,
        ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {})
      }
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${uri}: no answer`)))
    req.on('error', reject)
    req.end(payload)
  })
}

async function createExec (user: string, container: string, body: Record<string, unknown>): Promise<string> {
  const created = await api(user, 'POST', `/v1.41/containers/${container}/exec`, { AttachStdout: true, AttachStderr: true, ...body })
  expect(created.status, created.body).toBe(201)
  return (JSON.parse(created.body) as { Id: string }).Id
}

function expectRefused (answer: Answer, code: string | RegExp): void {
  expect(answer.status, answer.body).toBe(403)
  expect(answer.body).toMatch(code)
}

/** The newest decision record after `since` for this user and action. */
async function lastDecision (since: number, user: string, action: string) {
  const found = await decisions(stack.plugin, { user, action }, since)
  expect(found.length, `a ${action} record for ${user}`).toBeGreaterThan(0)
  return found.at(-1)!
}

/** The docker CLI under a real pseudo-terminal (`script`), so `docker run -it` gets as far as the daemon. */
async function dockerInPty (user: string, args: string[]): Promise<{ code: number | null, output: string }> {
  const configDir = path.join(stack.dir, `pty-config-${user}`)
  await mkdir(configDir, { recursive: true })
  await writeFile(path.join(configDir, 'config.json'), JSON.stringify({ HttpHeaders: { 'X-Portcullis-Token': stack.tokens[user] } }))
  const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`
  const line = [DOCKER_CLI, '--config', configDir, '--host', `unix://${stack.dockerd.socket}`, ...args].map(quote).join(' ')
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/script', ['-qec', line, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (c: Buffer) => { output += c.toString('utf8') })
    child.stderr.on('data', (c: Buffer) => { output += c.toString('utf8') })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, output }) })
    child.stdin.end('exit\n')
  })
}

const ssh = (login: string): SshOptions => ({ port: sshPort, login, keyPath: aliceKey.privatePath, knownHosts })

async function writePolicy (change: (p: Record<string, any>) => void): Promise<void> {
  change(policy)
  const since = await stack.plugin.logOffset()
  await writeFile(stack.policyFile, JSON.stringify(policy, null, 2))
  stack.plugin.reload()
  await stack.plugin.waitForLog(/policy reloaded/, { since })
}

beforeAll(async () => {
  sshPort = await freeTcpPort()
  sshDir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-gate-exec-ssh-'))
  aliceKey = await makeSshKey(sshDir, 'ed25519', 'alice')
  policy.users.alice.sshKeys = [aliceKey.publicLine]
  policy.bridge = { enabled: true, listen: `127.0.0.1:${sshPort}`, hostname: 'dockerhost' }
  // On call: interactive like an operator, but with the developer's command rules (so commandStrings defaults to bridge-only).
  policy.roles.oncall = { inherits: 'developer', exec: { interactive: 'allow' } }
  policy.projects.payments.members.dan = 'oncall'
  stack = await startStack({ policy, users: ['alice', 'carol', 'dan', 'ops'], importAs: 'ops' })
  const hostKey = await readFile(path.join(stack.keysDir, 'ssh_host_ed25519_key.pub'), 'utf8')
  knownHosts = await knownHostsFile(sshDir, sshPort, hostKey.trim())
  expectOk(await stack.docker('carol', ['run', '-d', '--network', 'none', ...label, '--name', 'pay-1', TEST_IMAGE, 'sleep', '3600']))
  // An operator's container with a TTY and an open stdin (`docker run -dit`), as in the report.
  expectOk(await stack.docker('carol', ['run', '-d', '-i', '-t', '--network', 'none', ...label, '--name', 'pay-tty', TEST_IMAGE, 'sleep', '3600']))
})

afterAll(async () => {
  await stack?.stop()
  if (sshDir !== undefined) removeDirSync(sshDir)
})

const denied = (result: Parameters<typeof expectDenied>[0], message?: string | RegExp): void => expectDenied(result, stack.plugin.name, message)

describe('class 4: an exec is started only by its creator, and judged on itself', () => {
  it('a developer may not start an admin\'s privileged exec, and the refusal is recorded', async () => {
    const id = await createExec('ops', 'pay-1', { Cmd: ['id'], Privileged: true })
    const since = await headSeq(stack.plugin)
    expectRefused(await api('alice', 'POST', `/v1.41/exec/${id}/start`, { Detach: true }), /EXEC_NOT_OWNER|only by its creator or an unsafe role/)
    const record = await lastDecision(since, 'alice', 'exec.start')
    expect(record).toMatchObject({ decision: 'deny', code: 'EXEC_NOT_OWNER', project: 'payments' })
    expect(record.reason).toMatch(/Create your own exec: docker exec/)
    // The record says what the exec would have run and who made it.
    expect(record.fields).toMatchObject({ exec: { cmd: ['id'], privileged: true, creator: { user: 'ops' } } })
  })

  it('a developer may neither start nor resize an operator\'s TTY+stdin exec', async () => {
    const id = await createExec('carol', 'pay-1', { Cmd: ['sh'], Tty: true, AttachStdin: true })
    const since = await headSeq(stack.plugin)
    expectRefused(await api('alice', 'POST', `/v1.41/exec/${id}/start`, { Detach: false, Tty: true }), /only by its creator/)
    expectRefused(await api('alice', 'POST', `/v1.41/exec/${id}/resize?h=30&w=100`), /only by its creator/)
    expect(await lastDecision(since, 'alice', 'exec.start')).toMatchObject({ decision: 'deny', code: 'EXEC_NOT_OWNER' })
    expect(await lastDecision(since, 'alice', 'exec.resize')).toMatchObject({ decision: 'deny', code: 'EXEC_NOT_OWNER' })
  })

  it('its creator may start her own exec (raw API and docker exec)', async () => {
    const id = await createExec('alice', 'pay-1', { Cmd: ['ls', '/'] })
    const started = await api('alice', 'POST', `/v1.41/exec/${id}/start`, { Detach: true })
    expect(started.status, started.body).toBe(200)
    const out = await stack.docker('alice', ['exec', 'pay-1', 'ls', '/'])
    expectOk(out)
    expect(out.stdout).toContain('bin')
  })

  it('an unsafe admin may start an exec someone else created', async () => {
    const id = await createExec('carol', 'pay-1', { Cmd: ['true'] })
    const started = await api('ops', 'POST', `/v1.41/exec/${id}/start`, { Detach: true })
    expect(started.status, started.body).toBe(200)
  })

  it('the exec\'s own facts are judged at start: its creator without unsafe may not start a privileged exec made for her', async () => {
    // An operator may create only what she may run; an admin's privileged exec started by the operator is refused twice over.
    const id = await createExec('ops', 'pay-1', { Cmd: ['id'], Privileged: true })
    const answer = await api('carol', 'POST', `/v1.41/exec/${id}/start`, { Detach: true })
    expectRefused(answer, /only by its creator/)
  })
})

describe('class 5: interactive governs every interactive stream', () => {
  it('docker run -it is refused to a bridge-only developer, with the bridge and -i/-t in the message', async () => {
    const since = await headSeq(stack.plugin)
    const result = await dockerInPty('alice', ['run', '--rm', '-it', '--network', 'none', ...label, TEST_IMAGE, 'sh'])
    expect(result.code, result.output).not.toBe(0)
    expect(result.output).toMatch(/only through the recorded SSH bridge/)
    const record = await lastDecision(since, 'alice', 'container.create')
    expect(record).toMatchObject({ decision: 'deny', code: 'INTERACTIVE_STREAM' })
    expect(record.reason).toContain(`ssh -p ${sshPort} <you>+<container>@dockerhost`)
    expect(record.reason).toMatch(/drop -i and -t/)
  })

  it('docker run -i (stdin, no TTY) is refused too', async () => {
    denied(await stack.docker('alice', ['run', '--rm', '-i', '--network', 'none', ...label, TEST_IMAGE, 'sh'], { input: 'id\n' }), /SSH bridge/)
  })

  it('docker create -t -i is refused; a raw create with lower-case keys too', async () => {
    denied(await stack.docker('alice', ['create', '-t', '-i', '--network', 'none', ...label, TEST_IMAGE, 'sh']), /a container with a TTY/)
    const raw = await api('alice', 'POST', '/v1.41/containers/create', { image: TEST_IMAGE, tty: true, openstdin: true, HostConfig: { NetworkMode: 'none' }, Labels: { 'portcullis.project': 'payments' } })
    expectRefused(raw, /INTERACTIVE_STREAM|only through the recorded SSH bridge/)
  })

  it('docker start -ai of a container an operator created with -ti is refused', async () => {
    expectOk(await stack.docker('carol', ['create', '-t', '-i', '--network', 'none', ...label, '--name', 'pay-ti', TEST_IMAGE, 'sh']))
    const since = await headSeq(stack.plugin)
    // The CLI hijacks the attach and reports only `unable to upgrade to tcp, received 403`: the record says why.
    const result = await dockerInPty('alice', ['start', '-a', '-i', 'pay-ti'])
    expect(result.code, result.output).not.toBe(0)
    const record = await lastDecision(since, 'alice', 'container.attach')
    expect(record).toMatchObject({ decision: 'deny', code: 'INTERACTIVE_STREAM' })
    expect(record.reason).toMatch(/docker start -a without -i/)
    expect((await decisions(stack.plugin, { user: 'alice', action: 'container.start' }, since)).length).toBe(0)
  })

  it('docker attach (stdin) to an operator\'s -dit container is refused, and so is the websocket attach', async () => {
    const since = await headSeq(stack.plugin)
    const result = await dockerInPty('alice', ['attach', 'pay-tty'])
    expect(result.code, result.output).not.toBe(0)
    const record = await lastDecision(since, 'alice', 'container.attach')
    expect(record).toMatchObject({ decision: 'deny', code: 'INTERACTIVE_STREAM' })
    expect(record.reason).toMatch(/docker attach --no-stdin/)
    expectRefused(await api('alice', 'POST', '/v1.41/containers/pay-tty/attach?stream=1&stdin=%20TRUE&stdout=1'), /attach with stdin/)
    expectRefused(await api('alice', 'GET', '/v1.41/containers/pay-tty/attach/ws?stream=1&stdin=0'), /websocket attach/)
  })

  it('docker attach --no-stdin and docker run -d stay allowed', async () => {
    expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', ...label, '--name', 'pay-short', TEST_IMAGE, 'sleep', '600']))
    const since = await headSeq(stack.plugin)
    const attaching = stack.docker('alice', ['attach', '--no-stdin', 'pay-short'], { timeoutMs: 30_000 })
    // The attach lasts as long as the container: end the container once the attach was judged, not after a fixed time.
    const record = await waitFor('the container.attach decision for alice', async () =>
      (await decisions(stack.plugin, { user: 'alice', action: 'container.attach' }, since)).at(-1), { intervalMs: 200 })
    expect(record).toMatchObject({ decision: 'allow' })
    expectOk(await stack.docker('alice', ['kill', 'pay-short']))
    const attached = await attaching
    expect(deniedMessage(attached, stack.plugin.name), attached.stderr).toBeNull()
  })

  it('an operator (interactive: allow) may still run -it and attach', async () => {
    const result = await dockerInPty('carol', ['run', '--rm', '-it', '--network', 'none', ...label, TEST_IMAGE, 'sh', '-c', 'echo tty-ok'])
    expect(result.output).toContain('tty-ok')
  })
})

describe('class 12: command text that command globs cannot judge', () => {
  it('sh -c \'n""senter\' is refused to a developer whose role denies *nsenter*, and the refusal is recorded', async () => {
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['exec', 'pay-1', 'sh', '-c', 'n""senter --help']), /command text/)
    const record = await lastDecision(since, 'alice', 'container.exec')
    expect(record).toMatchObject({ decision: 'deny', code: 'EXEC_COMMAND_TEXT' })
    expect(record.reason).toMatch(/Command rules match the command's words/)
  })

  it('wrappers and full paths change nothing', async () => {
    denied(await stack.docker('alice', ['exec', 'pay-1', 'env', '/bin/busybox', 'sh', '-ec', 'id']), /command text/)
    denied(await stack.docker('alice', ['exec', 'pay-1', 'timeout', '5', 'awk', 'BEGIN{system("id")}']), /command text/)
  })

  it('a shell reading stdin is refused to a role with command rules even where it may be interactive', async () => {
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('dan', ['exec', '-i', 'pay-1', '/bin/sh'], { input: 'n""senter --help\n' }), /reads its commands from stdin/)
    expect(await lastDecision(since, 'dan', 'container.exec')).toMatchObject({ decision: 'deny', code: 'EXEC_COMMAND_TEXT' })
    // Stdin for a program that does not run it as commands is fine.
    const out = await stack.docker('dan', ['exec', '-i', 'pay-1', 'cat'], { input: 'piped-ok\n' })
    expectOk(out)
    expect(out.stdout).toBe('piped-ok\n')
  })

  it('docker exec c ls / still works', async () => {
    const out = await stack.docker('alice', ['exec', 'pay-1', 'ls', '/'])
    expectOk(out)
    expect(out.stdout).toContain('etc')
  })

  it('an operator whose role sets commandStrings: allow may run sh -c', async () => {
    const out = await stack.docker('carol', ['exec', 'pay-1', 'sh', '-c', 'echo text-ok'])
    expectOk(out)
    expect(out.stdout).toContain('text-ok')
  })
})

describe('class 12 through the SSH bridge: the same decide path', () => {
  it('bridge-only (the default where command rules exist) lets the recorded bridge run its sh -c and its login shell', async () => {
    const result = await runSsh(ssh('alice+pay-1'), 'echo bridge-text-ok')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.toString()).toBe('bridge-text-ok\n')
    const shell = await runSsh(ssh('alice+pay-1'), undefined, { input: 'echo login-shell-ok\nexit\n' })
    expect(shell.stdout.toString()).toContain('login-shell-ok')
  })

  it('the bridge still applies the command globs to its sh -c line', async () => {
    const result = await runSsh(ssh('alice+pay-1'), 'nsenter --help')
    expect(result.code).toBe(126)
    expect(result.stderr).toMatch(/may not run "\/bin\/sh -c nsenter --help"/)
  })

  it('commandStrings: deny refuses command text on the bridge too, and the refusal is recorded', async () => {
    await writePolicy((p) => { p.roles.developer.exec.commandStrings = 'deny' })
    const result = await runSsh(ssh('alice+pay-1'), 'id')
    expect(result.code, result.stderr).toBe(126)
    expect(result.stderr).toMatch(/command text/)
    const refused = (await auditRecords(stack.plugin)).filter((r) => r.action === 'session.denied' && r.user === 'alice')
    expect(refused.some((r) => r.code === 'EXEC_COMMAND_TEXT')).toBe(true)
    await writePolicy((p) => { delete p.roles.developer.exec.commandStrings })
  })
})
