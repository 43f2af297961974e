import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  isExecutable,
  knownHostsFile,
  makeSshKey,
  publicLineOf,
  runSsh,
  SSH_CLIENT,
  SSH_KEYGEN,
  sshArgs,
  TMUX,
  TmuxSession,
} from '../helpers/ssh.js'

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-ssh-helpers-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe.skipIf(!isExecutable(SSH_KEYGEN))('makeSshKey and knownHostsFile', () => {
  it.each([
    ['ed25519', 'ssh-ed25519'],
    ['ecdsa', 'ecdsa-sha2-nistp256'],
  ] as const)('makes an unencrypted %s key', async (type, keyType) => {
    const key = await makeSshKey(dir, type)
    expect(key.privatePath).toBe(path.join(dir, `id_${type}`))
    expect(key.publicLine).toMatch(new RegExp(`^${keyType} [A-Za-z0-9+/=]+ id_${type}$`))
    expect((await stat(key.privatePath)).mode & 0o077).toBe(0)
    // publicLineOf fails on a key with a passphrase.
    expect(await publicLineOf(key.privatePath)).toBe(key.publicLine)
  })

  it('makes a 3072-bit rsa key under the name given', async () => {
    const key = await makeSshKey(dir, 'rsa', 'bob')
    expect(key.privatePath).toBe(path.join(dir, 'bob'))
    expect(key.publicLine).toMatch(/^ssh-rsa \S+ bob$/)
    // The base64 of a 3072-bit RSA public key blob is 544 characters.
    expect(key.publicLine.split(' ')[1]).toHaveLength(544)
  })

  it('writes known_hosts in the [host]:port form OpenSSH looks up', async () => {
    const file = await knownHostsFile(dir, 2222, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBase64 host@example')
    expect(await readFile(file, 'utf8')).toBe('[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBase64\n')
  })
})

describe('sshArgs', () => {
  const base = { port: 2222, login: 'alice+web-1', keyPath: '/k/id', knownHosts: '/k/known_hosts' }

  it('isolates ssh from the machine and ends with the destination', () => {
    const args = sshArgs(base)
    expect(args.slice(0, 6)).toEqual(['-F', '/dev/null', '-p', '2222', '-i', '/k/id'])
    expect(args).toContain('UserKnownHostsFile=/k/known_hosts')
    expect(args).toContain('BatchMode=yes')
    expect(args).toContain('IdentityAgent=none')
    expect(args.at(-1)).toBe('alice+web-1@127.0.0.1')
    expect(args).not.toContain('-T')
  })

  it('asks for a pty or not', () => {
    expect(sshArgs({ ...base, tty: false })).toContain('-T')
    expect(sshArgs({ ...base, tty: true })).toContain('-t')
    expect(sshArgs({ ...base, tty: 'force' })).toContain('-tt')
    expect(sshArgs({ ...base, extra: ['-v'] }).slice(-2)).toEqual(['-v', 'alice+web-1@127.0.0.1'])
  })
})

describe.skipIf(!isExecutable(SSH_CLIENT) || !isExecutable(SSH_KEYGEN))('runSsh', () => {
  /** A port that answers TCP but never says a word of SSH, or a closed one after close(). */
  async function silentServer(): Promise<{ port: number, close: () => Promise<void> }> {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => sockets.add(socket))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    const close = async (): Promise<void> => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
    return { port, close }
  }

  it('resolves with ssh\'s own exit code and message when it cannot connect', async () => {
    const key = await makeSshKey(dir, 'ed25519', 'run-refused')
    const server = await silentServer()
    await server.close()
    const result = await runSsh({ port: server.port, login: 'alice', keyPath: key.privatePath, knownHosts: '/dev/null', tty: false }, 'true')
    expect(result.code).toBe(255)
    expect(result.stderr).toMatch(/Connection refused/)
    expect(result.stdout).toEqual(Buffer.alloc(0))
  })

  it('kills ssh after timeoutMs and rejects with what it printed', async () => {
    const key = await makeSshKey(dir, 'ed25519', 'run-timeout')
    const server = await silentServer()
    try {
      const login = { port: server.port, login: 'alice', keyPath: key.privatePath, knownHosts: '/dev/null' }
      await expect(runSsh(login, undefined, { timeoutMs: 300 })).rejects.toThrow(/did not finish within 300 ms and was killed\n--- stdout so far/)
    } finally {
      await server.close()
    }
  })
})

describe.skipIf(!isExecutable(TMUX))('TmuxSession', () => {
  let session: TmuxSession | undefined

  afterEach(async () => {
    await session?.kill()
    session = undefined
  })

  it('runs a program in a terminal of the given size, types into it, resizes it and reads its exit status', async () => {
    session = await TmuxSession.start('selftest', [
      'sh', '-c', 'stty size; echo "term=$TERM"; read x; echo "got:$x"; read y; stty size; exit 3',
    ], { width: 90, height: 20 })
    let screen = await session.waitFor('term=')
    expect(screen.split('\n').slice(0, 2)).toEqual(['20 90', 'term=xterm-256color'])
    expect(await session.paneDead()).toEqual({ dead: false, status: null, signal: null })

    await session.type('-a line; with $shell chars')
    await session.sendKeys('Enter')
    await session.waitFor('got:-a line; with $shell chars')

    await session.resize(60, 12)
    await session.sendKeys('Enter')
    screen = await session.waitFor(/^12 60$/m)
    expect(screen).toContain('got:')

    expect(await session.waitForExit()).toEqual({ dead: true, status: 3, signal: null })
  }, 30_000)

  it('says what the screen showed when waitFor times out', async () => {
    session = await TmuxSession.start('timeout', ['sh', '-c', 'echo ready; sleep 30'])
    await session.waitFor('ready')
    await expect(session.waitFor('never', 300)).rejects.toThrow(/never appearing: not within 300 ms\nthe screen shows:\nready/)
  })

  it('reports a program killed by a signal, and kill() may be called twice', async () => {
    session = await TmuxSession.start('signal', ['sh', '-c', 'kill -TERM $$'])
    expect(await session.waitForExit()).toEqual({ dead: true, status: null, signal: 15 })
    await session.kill()
  })
})
