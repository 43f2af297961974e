// A session that cannot be recorded does not go on unrecorded: the audit store here sits on a tiny tmpfs, a
// session's output fills it, and the bridge ends that session, then refuses new ones (and the plugin, failing
// closed, every Docker call).
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { expectOk, removeDirSync, startStack, TEST_IMAGE, type Stack } from '../helpers/index.js'
import { knownHostsFile, makeSshKey, runSsh, type SshOptions } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'

let stack: Stack
let scratch: string
let dataDir: string
let login: SshOptions

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'portcullis-full-disk-'))
  dataDir = path.join(scratch, 'data')
  execFileSync('mkdir', ['-p', dataDir])
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=28m', 'tmpfs', dataDir])
  const key = await makeSshKey(scratch, 'ed25519', 'alice')
  const port = await freeTcpPort()
  const policy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
  policy.users.alice.sshKeys = [key.publicLine]
  policy.bridge = { enabled: true, listen: `127.0.0.1:${port}` }
  stack = await startStack({ policy, users: ['alice', 'ops'], importAs: 'ops', dataDir })
  const hostKey = await readFile(path.join(stack.keysDir, 'ssh_host_ed25519_key.pub'), 'utf8')
  login = { port, login: 'alice+pay-1', keyPath: key.privatePath, knownHosts: await knownHostsFile(scratch, port, hostKey.trim()) }
  expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', '--label', 'portcullis.project=payments', '--name', 'pay-1', TEST_IMAGE, 'sleep', '3600']))
})

afterAll(async () => {
  await stack?.stop()
  if (dataDir !== undefined) execFileSync('umount', ['-l', dataDir])
  if (scratch !== undefined) removeDirSync(scratch)
})

it('ends a session whose recording fails, then refuses new sessions', async () => {
  const first = await runSsh(login, 'echo recorded; head -c 200000000 /dev/urandom', { timeoutMs: 60_000 })
  const seen = `ssh exited ${first.code} after ${first.stdout.length} bytes; stderr: ${JSON.stringify(first.stderr)}\n` +
    (await stack.plugin.readLog()).split('\n').filter((line) => /"level":[56]0/.test(line)).slice(-8).join('\n')
  expect(first.stderr, seen).toMatch(/can no longer be recorded, so portcullis ends it/)
  expect(first.code).not.toBe(0)
  expect(first.stdout.length).toBeLessThan(200_000_000)

  const next = await runSsh(login, 'echo should-not-run')
  expect(next.stdout.toString()).not.toContain('should-not-run')
  expect(next.code).toBe(125)
  expect(next.stderr).toMatch(/cannot be recorded in the audit store, so portcullis refuses it/)
})
