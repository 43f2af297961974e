// A real SSH session through the bridge (real OpenSSH client, real dockerd) on a host that ships to a real
// PostgreSQL: what the session printed is in the database while it still runs, and its whole recording once it ended;
// `fleet verify` checks it against the session.end; serve killed with SIGKILL mid-session and started again ships the
// rest of that recording with no gap, and the database's copy is the host's file byte for byte.
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { portcullisCliOk, removeDirSync, runPortcullisCli, type Stack } from '../helpers/index.js'
import { startBridgeStack } from '../helpers/bridge-stack.js'
import { startPostgres, type Postgres } from '../helpers/postgres.js'
import { makeSshKey, sshArgs, SSH_CLIENT, type SshOptions } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'
import { waitUntil } from '../helpers/wait.js'

let scratch: string
let pg: Postgres
let stack: Stack
let login: SshOptions
let reviewerArgs: string[]

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'portcullis-fleet-bridge-'))
  pg = await startPostgres(scratch)
  await portcullisCliOk(['fleet', 'init-db', '--fleet', pg.adminUrl])
  // The host ships with a login of the ingest role (INSERT and SELECT, its own rows only), the reviewer reads.
  await pg.sql("CREATE ROLE fleet_host LOGIN PASSWORD 'host-secret' IN ROLE portcullis_ingest; CREATE ROLE reviewer LOGIN PASSWORD 'review-secret' IN ROLE portcullis_reader")
  await writeFile(path.join(scratch, 'host.pw'), 'host-secret\n', { mode: 0o600 })
  await writeFile(path.join(scratch, 'reviewer.pw'), 'review-secret\n', { mode: 0o600 })
  reviewerArgs = ['--fleet', pg.url('reviewer'), '--fleet-password-file', path.join(scratch, 'reviewer.pw')]
  const key = await makeSshKey(scratch, 'ed25519', 'alice')
  const port = await freeTcpPort()
  const policy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
  policy.users.alice.sshKeys = [key.publicLine]
  let knownHosts: string
  ;({ stack, knownHosts } = await startBridgeStack({
    policy, users: ['alice', 'carol', 'ops'], importAs: 'ops', dir: scratch, port,
    extraArgs: ['--fleet', pg.url('fleet_host'), '--fleet-password-file', path.join(scratch, 'host.pw')]
  }))
  login = { port, login: 'alice+pay-1', keyPath: key.privatePath, knownHosts, tty: false }
}, 180_000)

afterAll(async () => {
  await stack?.stop()
  await pg?.stop()
  if (scratch !== undefined) removeDirSync(scratch)
}, 60_000)

const hostId = (): string => readFileSync(path.join(stack.keysDir, 'host-id'), 'utf8').trim()

/** Each session's recording as the database holds it, put together, and whether its pieces follow on one another. */
async function central (): Promise<Map<string, { bytes: Buffer, contiguous: boolean }>> {
  const out = await pg.sql(`SELECT session_id || ' ' || byte_offset || ' ' || encode(bytes, 'hex') FROM portcullis.recording_chunks WHERE host_id = '${hostId()}' ORDER BY session_id, byte_offset`)
  const sessions = new Map<string, { bytes: Buffer, contiguous: boolean }>()
  for (const line of out.split('\n').filter((l) => l !== '')) {
    const [session, offset, hex] = line.split(' ')
    const held = sessions.get(session!) ?? { bytes: Buffer.alloc(0), contiguous: true }
    if (Number(offset) !== held.bytes.length) held.contiguous = false
    held.bytes = Buffer.concat([held.bytes, Buffer.from(hex!.replace(/\s/g, ''), 'hex')])
    sessions.set(session!, held)
  }
  return sessions
}

const localFile = async (session: string): Promise<Buffer> => await readFile(path.join(stack.plugin.dataDir, 'recordings', `${session}.rec`))

/** A session in the background; resolves when ssh exits. */
function background (command: string): Promise<number | null> {
  const child = spawn(SSH_CLIENT, [...sshArgs(login), command], { stdio: ['ignore', 'ignore', 'ignore'] })
  return new Promise((resolve) => child.on('close', (code) => resolve(code)))
}

async function sessionShowing (marker: string): Promise<string> {
  let found = ''
  await waitUntil(`a recording holding ${marker} in the database`, async () => {
    for (const [session, held] of await central()) if (held.bytes.includes(marker)) found = session
    return found !== ''
  }, { timeoutMs: 30_000 })
  return found
}

it('a running session\'s output is in the database before it ends, the whole recording after, and fleet verify checks it', { timeout: 120_000 }, async () => {
  let ended = false
  const done = background('echo started-7f3a; sleep 5; echo finished-7f3a').then((code) => { ended = true; return code })
  const session = await sessionShowing('started-7f3a')
  expect(ended).toBe(false)
  expect(await done).toBe(0)

  await waitUntil('the whole recording in the database', async () => {
    const held = (await central()).get(session)
    return held !== undefined && held.bytes.equals(await localFile(session))
  }, { timeoutMs: 30_000 })
  expect((await central()).get(session)!.bytes.includes('finished-7f3a')).toBe(true)
  expect((await central()).get(session)!.contiguous).toBe(true)

  await waitUntil('fleet verify passes with the recording checked', async () => {
    const result = await runPortcullisCli(['fleet', 'verify', ...reviewerArgs, '--json'])
    const report = JSON.parse(result.stdout) as { ok: boolean, hosts: Array<{ recordings: number }> }
    return result.code === 0 && report.ok && report.hosts[0]!.recordings >= 1
  }, { timeoutMs: 30_000 })
  const text = await runPortcullisCli(['fleet', 'verify', ...reviewerArgs])
  expect(text.stdout).toMatch(/ok {3}h-[0-9a-f]{16} .*, 1 recording\(s\) hold/)
  await waitUntil('the host to report no recording lag', async () => (await runPortcullisCli(['fleet', 'status', ...reviewerArgs])).stdout.includes('0 bytes behind at its last report'), { timeoutMs: 30_000 })
  const fleet = await runPortcullisCli(['fleet', 'status', ...reviewerArgs])
  expect(fleet.stdout).toContain(`recordings: ${(await localFile(session)).length} bytes held; 0 bytes behind at its last report\n`)
  expect(JSON.parse((await runPortcullisCli(['fleet', 'status', ...reviewerArgs, '--json'])).stdout)[0]).toMatchObject({ recordingLag: 0, recordingMissing: 0 })
  const status = await runPortcullisCli(['status', '-o', 'json', '--admin-socket', stack.plugin.adminSocket])
  expect(JSON.parse(status.stdout).fleetRecordings).toMatchObject({ state: 'shipping', lagBytes: 0, halted: null })
})

it('serve killed with SIGKILL mid-session and started again ships the rest of the recording, with no gap', { timeout: 180_000 }, async () => {
  const done = background('i=0; echo ticking-5c1e; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done')
  const session = await sessionShowing('ticking-5c1e')
  await waitUntil('a few ticks shipped', async () => (await central()).get(session)!.bytes.includes('tick-10'), { timeoutMs: 30_000 })
  await stack.plugin.kill()
  await done
  const before = (await central()).get(session)!.bytes.length
  await stack.plugin.restart()
  // The restart ends the interrupted session with the summary of what its file holds; the rest of it follows.
  await waitUntil('the interrupted recording whole in the database', async () => {
    const held = (await central()).get(session)
    return held !== undefined && held.bytes.equals(await localFile(session))
  }, { timeoutMs: 60_000 })
  const held = (await central()).get(session)!
  expect(held.contiguous).toBe(true)
  expect(held.bytes.length).toBeGreaterThanOrEqual(before)
  await waitUntil('fleet verify passes', async () => (await runPortcullisCli(['fleet', 'verify', ...reviewerArgs])).code === 0, { timeoutMs: 30_000 })
  const report = JSON.parse((await runPortcullisCli(['fleet', 'verify', ...reviewerArgs, '--json'])).stdout) as { hosts: Array<{ recordings: number, badRecordings: unknown[] }> }
  expect(report.hosts[0]).toMatchObject({ recordings: 2, badRecordings: [] })
})

it('the host\'s login may add recording pieces, never change or delete them, and another login neither reads nor writes them', { timeout: 30_000 }, async () => {
  await pg.sql("CREATE ROLE intruder LOGIN PASSWORD 'intruder-secret' IN ROLE portcullis_ingest")
  const psql = (user: string, password: string, statement: string): Promise<string> => new Promise((resolve) => {
    execFile('psql', ['-h', pg.socketDir, '-p', String(pg.port), '-U', user, '-d', 'portcullis', '-At', '-c', statement], { env: { ...process.env, PGPASSWORD: password } }, (_err, stdout, stderr) => resolve(stdout + stderr))
  })
  const asHost = (statement: string): Promise<string> => psql('fleet_host', 'host-secret', statement)
  expect(Number((await asHost('SELECT count(*) FROM portcullis.recording_chunks')).trim())).toBeGreaterThan(0)
  expect(await asHost("UPDATE portcullis.recording_chunks SET bytes = '\\x00'")).toContain('permission denied')
  expect(await asHost('DELETE FROM portcullis.recording_chunks')).toContain('permission denied')
  expect(await asHost('TRUNCATE portcullis.recording_chunks')).toContain('permission denied')
  const asIntruder = (statement: string): Promise<string> => psql('intruder', 'intruder-secret', statement)
  expect((await asIntruder('SELECT count(*) FROM portcullis.recording_chunks')).trim()).toBe('0')
  expect(await asIntruder(`INSERT INTO portcullis.recording_chunks (host_id, session_id, byte_offset, bytes) VALUES ('${hostId()}', 's-00000000000000aa', 0, '\\x00')`)).toContain('row-level security')
  // The reviewer reads them all.
  expect(Number((await psql('reviewer', 'review-secret', 'SELECT count(*) FROM portcullis.recording_chunks')).trim())).toBeGreaterThan(0)
})
