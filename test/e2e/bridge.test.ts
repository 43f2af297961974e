// The SSH bridge end to end: the real OpenSSH client against `portcullis serve`'s bridge, sessions run as Docker
// execs in a real dockerd that asks the same portcullis about every call, and the recordings read back.
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectDenied, expectOk, removeDirSync, runPortcullisCli, startStack, TEST_IMAGE, type Stack } from '../helpers/index.js'
import { auditRecords } from '../helpers/audit.js'
import { knownHostsFile, makeSshKey, runSsh, sshArgs, SSH_CLIENT, TmuxSession, type SshKey, type SshOptions } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'
import { waitUntil } from '../helpers/wait.js'

const examplePolicy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack
let keysDir: string
let port: number
let knownHosts: string
const keys: Record<string, SshKey> = {}
let policy: Record<string, any>
/** How the tests look for an event: `docker top` or the audit records, every 200 ms for up to 15 s. */
const POLL = { timeoutMs: 15_000, intervalMs: 200 }

const run = (project: string, ...rest: string[]): string[] =>
  ['run', '-d', '--network', 'none', '--label', `portcullis.project=${project}`, ...rest]

function ssh (login: string, keyOf: string, tty?: boolean | 'force'): SshOptions {
  return { port, login, keyPath: keys[keyOf]!.privatePath, knownHosts, tty }
}

async function writePolicy (change: (p: Record<string, any>) => void): Promise<void> {
  change(policy)
  await writeFile(stack.policyFile, JSON.stringify(policy, null, 2))
  await stack.plugin.reload()
}

beforeAll(async () => {
  keysDir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-ssh-keys-'))
  keys.alice = await makeSshKey(keysDir, 'ed25519', 'alice')
  keys.bob = await makeSshKey(keysDir, 'ecdsa', 'bob')
  keys.carol = await makeSshKey(keysDir, 'rsa', 'carol')
  keys.dave = await makeSshKey(keysDir, 'ed25519', 'dave')
  port = await freeTcpPort()
  policy = structuredClone(examplePolicy)
  policy.users.alice.sshKeys = [keys.alice.publicLine]
  policy.users.bob.sshKeys = [keys.bob.publicLine]
  policy.users.carol.sshKeys = [keys.carol.publicLine]
  policy.users.dave = { sshKeys: [keys.dave.publicLine] }
  policy.bridge = { enabled: true, listen: `127.0.0.1:${port}`, hostname: 'dockerhost' }
  stack = await startStack({ policy, users: ['alice', 'bob', 'carol', 'ops'], importAs: 'ops' })
  const hostKey = await readFile(path.join(stack.keysDir, 'ssh_host_ed25519_key.pub'), 'utf8')
  knownHosts = await knownHostsFile(keysDir, port, hostKey.trim())
  expectOk(await stack.docker('carol', [...run('payments', '--name', 'pay-1', TEST_IMAGE, 'sleep', '3600')]))
  expectOk(await stack.docker('bob', [...run('web', '--name', 'web-1', TEST_IMAGE, 'sleep', '3600')]))
  expectOk(await stack.docker('carol', ['create', '--network', 'none', '--label', 'portcullis.project=payments', '--name', 'pay-stopped', TEST_IMAGE, 'sleep', '3600']))
})

afterAll(async () => {
  await stack?.stop()
  if (keysDir !== undefined) removeDirSync(keysDir)
})

describe('command mode', () => {
  it('keeps stdout and stderr apart and returns the exit status exactly', async () => {
    const result = await runSsh(ssh('alice+pay-1', 'alice'), 'echo to-out; echo to-err >&2; exit 3')
    expect(result.stderr).toBe('to-err\n')
    expect(result.stdout.toString()).toBe('to-out\n')
    expect(result.code).toBe(3)
  })
})

describe('command mode, more', () => {
  it('carries large output intact, byte for byte', async () => {
    const made = await runSsh(ssh('alice+pay-1', 'alice'), 'dd if=/dev/urandom of=/tmp/big bs=1048576 count=24 2>/dev/null && sha256sum /tmp/big')
    expect(made.code, made.stderr).toBe(0)
    const expected = made.stdout.toString().split(' ')[0]
    const result = await runSsh(ssh('alice+pay-1', 'alice'), 'cat /tmp/big', { timeoutMs: 60_000 })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.length).toBe(24 * 1048576)
    expect(createHash('sha256').update(result.stdout).digest('hex')).toBe(expected)
  })

  it('passes stdin through and closes it at the end', async () => {
    const input = Buffer.alloc(3 * 1048576 + 7, 'xyz')
    const result = await runSsh(ssh('alice+pay-1', 'alice'), 'cat > /tmp/in && wc -c < /tmp/in && sha256sum /tmp/in', { input })
    expect(result.code, result.stderr).toBe(0)
    const [count, sum] = result.stdout.toString().trim().split(/\s+/)
    expect(Number(count)).toBe(input.length)
    expect(sum).toBe(createHash('sha256').update(input).digest('hex'))
  })

  it('accepts ecdsa and rsa-sha2 keys as well as ed25519', async () => {
    const bob = await runSsh(ssh('bob+web-1', 'bob'), 'echo bob-in')
    expect(bob.code, bob.stderr).toBe(0)
    expect(bob.stdout.toString()).toBe('bob-in\n')
    const carol = await runSsh(ssh('carol+pay-1', 'carol'), 'echo carol-in')
    expect(carol.code, carol.stderr).toBe(0)
  })

  it('passes allow-listed environment variables only', async () => {
    const result = await runSsh({ ...ssh('alice+pay-1', 'alice'), extra: ['-o', 'SendEnv=LANG LD_PRELOAD'] }, 'echo "lang=$LANG preload=$LD_PRELOAD"',
      { env: { LANG: 'C.UTF-8', LD_PRELOAD: '/tmp/evil.so' } })
    expect(result.stdout.toString()).toBe('lang=C.UTF-8 preload=\n')
  })
})

describe('refusals', () => {
  it('refuses a key that is not the user\'s', async () => {
    const result = await runSsh(ssh('alice+pay-1', 'dave'), 'true')
    expect(result.code).toBe(255)
    expect(result.stderr).toMatch(/Permission denied \(publickey\)/)
  })

  it('refuses a user the policy does not know', async () => {
    const result = await runSsh(ssh('zed+pay-1', 'alice'), 'true')
    expect(result.code).toBe(255)
    expect(result.stderr).toMatch(/Permission denied/)
  })

  it('refuses a non-member with the reason on stderr', async () => {
    const result = await runSsh(ssh('dave+pay-1', 'dave'), 'true')
    expect(result.code).toBe(126)
    expect(result.stderr).toMatch(/^portcullis: dave holds no role|dave is not a member of project payments/)
  })

  it('refuses a viewer: the role must allow container.exec', async () => {
    const result = await runSsh(ssh('bob+pay-1', 'bob'), 'true')
    expect(result.code).toBe(126)
    expect(result.stderr).toMatch(/bob may not container\.exec in project payments/)
  })

  it('says so when the container is stopped or does not exist', async () => {
    const stopped = await runSsh(ssh('alice+pay-stopped', 'alice'), 'true')
    expect(stopped.code).toBe(126)
    expect(stopped.stderr).toMatch(/container pay-stopped is not running \(created\); start it first/)
    const missing = await runSsh(ssh('alice+nope', 'alice'), 'true')
    expect(missing.code).toBe(126)
    expect(missing.stderr).toMatch(/there is no container "nope"/)
  })

  it('records failed logins and refused sessions', async () => {
    const records = await auditRecords(stack.plugin)
    const denied = records.filter((r) => r.action === 'session.denied')
    expect(denied.some((r) => r.code === 'SSH_LOGIN_FAILED' && r.user === 'alice')).toBe(true)
    expect(denied.some((r) => r.code === 'SSH_LOGIN_FAILED' && r.user === 'zed')).toBe(true)
    expect(denied.some((r) => r.code === 'NOT_MEMBER' || (r.user === 'dave' && r.code === 'NO_ROLE'))).toBe(true)
    expect(denied.some((r) => r.code === 'CONTAINER_NOT_RUNNING' && r.user === 'alice')).toBe(true)
  })
})

describe('bridge-only roles', () => {
  it('alice (developer, bridge-only) is refused `docker exec -it` but gets a recorded shell over SSH', async () => {
    expectDenied(await stack.docker('alice', ['exec', '-i', 'pay-1', 'sh']), stack.plugin.name,
      `only through the recorded SSH bridge: ssh -p ${port} <you>+<container>@dockerhost`)
    const result = await runSsh(ssh('alice+pay-1', 'alice', 'force'), 'tty; echo interactive-ok')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.toString()).toMatch(/\/dev\/pts\/\d+\r\ninteractive-ok\r\n/)
  })

  it('the plugin records the bridge\'s exec calls as alice, with the session', async () => {
    const records = await auditRecords(stack.plugin)
    const execs = records.filter((r) => r.kind === 'decision' && r.action === 'container.exec' && r.authMethod === 'bridge')
    expect(execs.length).toBeGreaterThan(0)
    for (const r of execs) {
      expect(r.user).not.toBe('portcullis')
      expect(r.fields?.session).toMatch(/^s-[0-9a-f]{16}$/)
    }
    expect(execs.some((r) => r.user === 'alice' && r.decision === 'allow' && r.fields?.tty === true)).toBe(true)
  })
})

describe('interactive sessions', () => {
  it('gives a prompt, runs typed commands, sees resizes, passes Ctrl-C and Ctrl-P Ctrl-Q, and returns the status', async () => {
    const tmux = await TmuxSession.start('bridge-shell', [SSH_CLIENT, ...sshArgs(ssh('alice+pay-1', 'alice', 'force'))], { width: 100, height: 30 })
    try {
      await tmux.waitFor(/^\/ # ?$/m)
      await tmux.type('stty size')
      await tmux.sendKeys('Enter')
      await tmux.waitFor(/^30 100$/m)
      await tmux.resize(120, 40)
      await tmux.type('stty size')
      await tmux.sendKeys('Enter')
      await tmux.waitFor(/^40 120$/m)
      await tmux.type('sleep 6060')
      await tmux.sendKeys('Enter')
      await waitUntil('the typed sleep running', async () => (await processes('pay-1')).includes('sleep 6060'), POLL)
      await tmux.sendKeys('C-c')
      await tmux.type('echo "after-ctrl-c $?"')
      await tmux.sendKeys('Enter')
      await tmux.waitFor(/^after-ctrl-c 130$/m)
      // Docker's default detach keys must not swallow these: cat -v shows them (-ixon: the tty itself would take ^Q).
      await tmux.type('stty -ixon; cat -v')
      await tmux.sendKeys('Enter')
      await tmux.sendKeys('C-p', 'C-q', 'Enter')
      await tmux.waitFor(/^\^P\^Q$/m)
      await tmux.sendKeys('C-d')
      await tmux.type('exit 7')
      await tmux.sendKeys('Enter')
      const state = await tmux.waitForExit()
      expect(state.status).toBe(7)
    } finally {
      await tmux.kill()
    }
  })
})

describe('the container picker', () => {
  it('without a terminal, lists only the containers the user may enter, by project', async () => {
    const result = await runSsh(ssh('alice', 'alice', false))
    expect(result.code, result.stderr).toBe(0)
    const text = result.stdout.toString()
    expect(text).toContain('payments')
    expect(text).toContain('pay-1')
    expect(text).not.toContain('web-1')
    expect(text).not.toContain('pay-stopped')
    expect(text).toMatch(/ssh -p \d+ alice\+<container>@dockerhost/)
  })

  it('a command without a container is refused with the list', async () => {
    const result = await runSsh(ssh('alice', 'alice'), 'ls /')
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/name the container/)
    expect(result.stderr).toContain('pay-1')
  })

  it('with a terminal, picks a container by arrow keys or by number and opens a shell in it', async () => {
    expectOk(await stack.docker('alice', [...run('payments', '--name', 'pay-2', TEST_IMAGE, 'sleep', '3600')]))
    const tmux = await TmuxSession.start('bridge-picker', [SSH_CLIENT, ...sshArgs(ssh('alice', 'alice', 'force'))], { width: 100, height: 30 })
    try {
      await tmux.waitFor(/containers alice may enter/)
      await tmux.waitFor(/2\) pay-2/)
      await tmux.type('2')
      await tmux.sendKeys('Enter')
      await tmux.waitFor(/^\/ # ?$/m)
      await tmux.type('hostname')
      await tmux.sendKeys('Enter')
      const id = (await stack.docker('alice', ['inspect', '-f', '{{.Config.Hostname}}', 'pay-2'])).stdout.trim()
      await tmux.waitFor(new RegExp(`^${id}$`, 'm'))
      await tmux.type('exit')
      await tmux.sendKeys('Enter')
      expect((await tmux.waitForExit()).status).toBe(0)
    } finally {
      await tmux.kill()
    }
    const arrows = await TmuxSession.start('bridge-picker-2', [SSH_CLIENT, ...sshArgs(ssh('alice', 'alice', 'force'))], { width: 100, height: 30 })
    try {
      await arrows.waitFor(/2\) pay-2/)
      await arrows.sendKeys('Down', 'Up', 'Down', 'Enter')
      await arrows.waitFor(/^\/ # ?$/m)
      await arrows.type('cat /etc/hostname; exit')
      await arrows.sendKeys('Enter')
      expect((await arrows.waitForExit()).status).toBe(0)
    } finally {
      await arrows.kill()
    }
  })
})

async function processes (container: string): Promise<string> {
  const top = await stack.docker('alice', ['top', container, '-o', 'pid,args'])
  expectOk(top)
  return top.stdout
}

describe('session ends', () => {
  it('a client that disconnects takes its process with it', async () => {
    const { spawn } = await import('node:child_process')
    const child = spawn(SSH_CLIENT, [...sshArgs(ssh('alice+pay-1', 'alice')), 'sleep 4242'], { stdio: 'ignore' })
    await waitUntil('sleep 4242 running', async () => (await processes('pay-1')).includes('sleep 4242'), POLL)
    child.kill('SIGKILL')
    await waitUntil('sleep 4242 gone', async () => !(await processes('pay-1')).includes('sleep 4242'), POLL)
    await waitUntil('a session.end ended by the client', async () => (await auditRecords(stack.plugin)).some((r) => r.action === 'session.end' && r.fields?.endedBy === 'client'), POLL)
  })

  it('an idle session is ended after the policy\'s idle timeout', async () => {
    await writePolicy((p) => { p.bridge.idleTimeout = '2s' })
    try {
      const started = Date.now()
      const result = await runSsh(ssh('alice+pay-1', 'alice'), 'sleep 60')
      expect(Date.now() - started).toBeLessThan(20_000)
      expect(result.stderr).toMatch(/idle for 2s/)
      expect(result.code).not.toBe(0)
      const ends = (await auditRecords(stack.plugin)).filter((r) => r.action === 'session.end')
      expect(ends.at(-1)?.fields?.endedBy).toBe('idle')
    } finally {
      await writePolicy((p) => { delete p.bridge.idleTimeout })
    }
  })

  it('a session is ended at the policy\'s maximum length even when busy', async () => {
    await writePolicy((p) => { p.bridge.maxSession = '2s' })
    try {
      const result = await runSsh(ssh('alice+pay-1', 'alice'), 'while true; do echo tick; sleep 0.2; done')
      expect(result.stderr).toMatch(/maximum length of 2s/)
      expect(result.stdout.toString()).toContain('tick')
      const ends = (await auditRecords(stack.plugin)).filter((r) => r.action === 'session.end')
      expect(ends.at(-1)?.fields?.endedBy).toBe('max-duration')
    } finally {
      await writePolicy((p) => { delete p.bridge.maxSession })
    }
  })

  it('several sessions of one user run at once', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => runSsh(ssh('alice+pay-1', 'alice'), `sleep 0.5; echo session-${i}`)))
    results.forEach((result, i) => {
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout.toString()).toBe(`session-${i}\n`)
    })
  })
})

describe('recordings', () => {
  const cli = (args: string[]) => runPortcullisCli([...args, '--admin-socket', stack.plugin.adminSocket])

  it('records a session keystrokes to screen, lists it, exports it as asciicast that asciinema accepts, and replays it', async () => {
    const tmux = await TmuxSession.start('bridge-rec', [SSH_CLIENT, ...sshArgs(ssh('alice+pay-1', 'alice', 'force'))], { width: 90, height: 25 })
    try {
      await tmux.waitFor(/^\/ # ?$/m)
      await tmux.type('echo "héllo → wörld $((6*7))"')
      await tmux.sendKeys('Enter')
      await tmux.waitFor(/^héllo → wörld 42$/m)
      await tmux.resize(100, 30)
      await tmux.type('stty size; exit 5')
      await tmux.sendKeys('Enter')
      expect((await tmux.waitForExit()).status).toBe(5)
    } finally {
      await tmux.kill()
    }

    const listed = await cli(['audit', 'sessions', '--json', '--user', 'alice', '-n', '1'])
    expect(listed.code, listed.stderr).toBe(0)
    const [session] = JSON.parse(listed.stdout) as Array<Record<string, any>>
    expect(session).toMatchObject({ user: 'alice', container: 'pay-1', project: 'payments', tty: true, exitCode: 5, endedBy: 'exit', state: 'ended' })
    const table = await cli(['audit', 'sessions'])
    expect(table.stdout).toContain(session!.session)

    const castFile = path.join(stack.dir, 'session.cast')
    const exported = await cli(['audit', 'export', '--session', session!.session, '--format', 'asciicast', '--out', castFile])
    expect(exported.code, exported.stderr).toBe(0)
    const lines = (await readFile(castFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    const [header, ...events] = lines
    expect(header).toMatchObject({ version: 2, width: 90, height: 25, portcullis: { user: 'alice', container: 'pay-1', project: 'payments', sessionId: session!.session } })
    const input = events.filter((e) => e[1] === 'i').map((e) => e[2]).join('')
    const output = events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')
    expect(input).toContain('echo "héllo → wörld $((6*7))"')
    expect(output).toContain('héllo → wörld 42')
    expect(output).toContain('30 100')
    expect(events.some((e) => e[1] === 'r' && e[2] === '100x30')).toBe(true)
    const times = events.map((e) => e[0] as number)
    expect([...times].sort((a, b) => a - b)).toEqual(times)

    const { execFile } = await import('node:child_process')
    const asciinema = await new Promise<{ code: number | null, stdout: string }>((resolve) => {
      // asciinema cat reads /dev/tty, so it runs under script(1), which gives it one and passes its status on (-e).
      execFile('script', ['-qec', `asciinema cat ${castFile}`, '/dev/null'], { env: { ...process.env, LANG: 'C.UTF-8' } },
        (err, stdout) => resolve({ code: err === null ? 0 : (err as any).code ?? 1, stdout }))
    })
    expect(asciinema.code).toBe(0)
    expect(asciinema.stdout).toContain('héllo → wörld 42')

    const replay = await cli(['audit', 'replay', session!.session, '--speed', '50', '--idle-limit', '0.1'])
    expect(replay.code, replay.stderr).toBe(0)
    expect(replay.stdout).toContain('héllo → wörld 42')
  })

  it('command sessions keep stdout and stderr in the recording, and their byte counts', async () => {
    const result = await runSsh(ssh('alice+pay-1', 'alice'), 'echo rec-out; echo rec-err >&2; head -c 100000 /dev/zero | tr "\\0" x')
    expect(result.code).toBe(0)
    const listed = JSON.parse((await cli(['audit', 'sessions', '--json', '-n', '1'])).stdout)[0]
    expect(listed).toMatchObject({ tty: false, exitCode: 0, bytesOut: 100_008, bytesErr: 8 })
    const cast = await cli(['audit', 'export', '--session', listed.session])
    expect(cast.stdout).toContain('rec-out')
    expect(cast.stdout).toContain('rec-err')
  })

  it('the chain, recordings included, verifies', async () => {
    const verify = await cli(['audit', 'verify', '--json'])
    expect(verify.code, verify.stdout).toBe(0)
    const report = JSON.parse(verify.stdout)
    expect(report.ok).toBe(true)
    expect(report.sessions).toBeGreaterThanOrEqual(2)
  })

  it('keeps each recording as raw frames in a private file of its own, and verify names one edited, cut or removed', async () => {
    const result = await runSsh(ssh('alice+pay-1', 'alice'), 'echo frames-out; echo frames-err >&2')
    expect(result.code).toBe(0)
    const listed = JSON.parse((await cli(['audit', 'sessions', '--json', '-n', '1'])).stdout)[0]
    const file = path.join(stack.plugin.dataDir, 'recordings', `${listed.session}.rec`)
    const bytes = await readFile(file)
    expect(listed.recording).toEqual({ format: 'frames-v1', frames: expect.any(Number), bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') })
    expect(bytes.includes('frames-out\n')).toBe(true) // the bytes as they came: no JSON, no escaping
    const { stat, truncate, rename } = await import('node:fs/promises')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700)

    const verify = async (): Promise<{ code: number | null, report: any }> => {
      const run = await cli(['audit', 'verify', '--json'])
      return { code: run.code, report: JSON.parse(run.stdout) }
    }
    const edited = Buffer.from(bytes)
    edited[edited.indexOf('frames-out')] = 0x46 // 'F'
    await writeFile(file, edited)
    expect(await verify()).toMatchObject({ code: 1, report: { ok: false, firstBad: { problem: 'recording-changed', session: listed.session } } })
    await truncate(file, bytes.length - 3)
    expect(await verify()).toMatchObject({ code: 1, report: { ok: false, firstBad: { problem: 'recording-truncated', session: listed.session } } })
    await rename(file, file + '.moved')
    expect(await verify()).toMatchObject({ code: 1, report: { ok: false, firstBad: { problem: 'recording-missing', session: listed.session } } })
    await rename(file + '.moved', file)
    await writeFile(file, bytes)
    expect(await verify()).toMatchObject({ code: 0, report: { ok: true } })
  })

  it('a session the daemon could not close is recorded as interrupted at the next start', async () => {
    const { spawn } = await import('node:child_process')
    const child = spawn(SSH_CLIENT, [...sshArgs(ssh('alice+pay-1', 'alice')), 'echo before-crash; sleep 4343'], { stdio: ['ignore', 'pipe', 'ignore'] })
    await new Promise((resolve) => child.stdout!.once('data', resolve))
    // What the kill may not lose: the output already on the client's screen, written to the recording file.
    const recordings = path.join(stack.plugin.dataDir, 'recordings')
    await waitUntil('the recording holding before-crash', async () => {
      for (const name of await readdir(recordings)) {
        if ((await readFile(path.join(recordings, name))).includes('before-crash\n')) return true
      }
      return false
    }, POLL)
    await stack.plugin.kill()
    child.kill('SIGKILL')
    await stack.plugin.restart()
    const listed = JSON.parse((await cli(['audit', 'sessions', '--json', '-n', '1'])).stdout)[0]
    expect(listed).toMatchObject({ endedBy: 'interrupted', exitCode: null })
    const cast = await cli(['audit', 'export', '--session', listed.session])
    expect(cast.stdout).toContain('before-crash')
    expect((await cli(['audit', 'verify'])).code).toBe(0)
  })

  it('kill -9 while a recording streams: the next start closes it over what is on disk, and it verifies and plays', async () => {
    const { spawn } = await import('node:child_process')
    // Output as fast as the session can take it, so the kill lands in the middle of the file's writes.
    const child = spawn(SSH_CLIENT, [...sshArgs(ssh('alice+pay-1', 'alice')), 'echo streaming; while true; do head -c 65536 /dev/urandom | base64; done'], { stdio: ['ignore', 'pipe', 'ignore'] })
    let received = 0
    child.stdout!.on('data', (chunk: Buffer) => { received += chunk.length })
    await waitUntil('8 MiB received', () => received > 8 * 2 ** 20, POLL)
    await stack.plugin.kill()
    child.kill('SIGKILL')
    await stack.plugin.restart()
    const listed = JSON.parse((await cli(['audit', 'sessions', '--json', '-n', '1'])).stdout)[0]
    expect(listed).toMatchObject({ endedBy: 'interrupted', exitCode: null, recording: { format: 'frames-v1' } })
    const file = path.join(stack.plugin.dataDir, 'recordings', `${listed.session}.rec`)
    const bytes = await readFile(file)
    expect(listed.recording).toMatchObject({ bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') })
    expect(listed.bytesOut).toBeGreaterThan(2 ** 20)
    const verify = await cli(['audit', 'verify', '--json'])
    expect(verify.code, verify.stdout).toBe(0)
    const cast = await cli(['audit', 'export', '--session', listed.session, '--format', 'asciicast'])
    expect(cast.code, cast.stderr).toBe(0)
    expect(cast.stdout).toContain('streaming')
  })

  it('a daemon shutdown ends live sessions, tells the user, and records them', async () => {
    const pending = runSsh(ssh('alice+pay-1', 'alice'), 'echo started; sleep 60', { timeoutMs: 40_000 })
    await waitUntil('sleep 60 running', async () => (await processes('pay-1')).includes('sleep 60'), POLL)
    await stack.plugin.restart()
    const result = await pending
    expect(result.stderr).toMatch(/portcullis is shutting down/)
    expect(result.code).not.toBe(0)
    const listed = JSON.parse((await cli(['audit', 'sessions', '--json', '-n', '1'])).stdout)[0]
    expect(listed).toMatchObject({ endedBy: 'shutdown', state: 'ended' })
  })
})

describe('status', () => {
  it('shows where the bridge listens, its host key and the live sessions', async () => {
    const pending = runSsh(ssh('alice+pay-1', 'alice'), 'sleep 8')
    await waitUntil('sleep 8 running', async () => (await processes('pay-1')).includes('sleep 8'), POLL)
    const status = await runPortcullisCli(['status', '-o', 'json', '--admin-socket', stack.plugin.adminSocket])
    expect(status.code, status.stderr).toBe(0)
    const hostKey = (await readFile(path.join(stack.keysDir, 'ssh_host_ed25519_key.pub'), 'utf8')).split(' ')[1]!
    const { createHash: hash } = await import('node:crypto')
    const fingerprint = 'SHA256:' + hash('sha256').update(Buffer.from(hostKey, 'base64')).digest('base64').replace(/=+$/, '')
    expect(JSON.parse(status.stdout).bridge).toEqual({ listen: `127.0.0.1:${port}`, hostKey: fingerprint, sessions: 1 })
    expect((await pending).code).toBe(0)
  })
})

describe('the audit trail', () => {
  it('holds no refused calls under a session grant: the bridge never uses one after its session', async () => {
    const records = await auditRecords(stack.plugin)
    expect(records.filter((r) => r.kind === 'decision' && r.authMethod === 'bridge' && r.decision === 'deny')).toEqual([])
    expect((await runPortcullisCli(['audit', 'verify', '--admin-socket', stack.plugin.adminSocket])).code).toBe(0)
  })
})

describe('signals', () => {
  it('passes a signal the client sends on to the program', async () => {
    // OpenSSH's client has no way to send one, so this client is ssh2's.
    const { default: ssh2 } = await import('ssh2')
    const privateKey = await readFile(keys.alice!.privatePath, 'utf8')
    const hostKey = (await readFile(path.join(stack.keysDir, 'ssh_host_ed25519_key.pub'), 'utf8')).split(' ')[1]!
    const client = new ssh2.Client()
    const outcome = await new Promise<{ code: number | null, out: string }>((resolve, reject) => {
      client.on('ready', () => {
        client.exec('trap "echo got-term; exit 9" TERM; echo ready; while true; do sleep 0.1; done', (err, stream) => {
          if (err !== undefined) return reject(err)
          let out = ''
          let code: number | null = null
          stream.on('data', (chunk: Buffer) => {
            out += chunk.toString()
            if (out === 'ready\n') stream.signal('TERM')
          })
          stream.on('exit', (status: number | null) => { code = status })
          stream.on('close', () => resolve({ code, out }))
        })
      })
      client.on('error', reject)
      client.connect({
        host: '127.0.0.1',
        port,
        username: 'alice+pay-1',
        privateKey,
        hostVerifier: (key: Buffer) => key.toString('base64') === hostKey
      })
    })
    client.end()
    expect(outcome).toEqual({ code: 9, out: 'ready\ngot-term\n' })
  })
})
