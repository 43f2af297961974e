// A client that floods window-change requests: each session has at most one resize call in flight and at most 10
// a second, the latest size wins, the recording's resize events are bounded the same way, and nothing reaches the
// daemon after the session ended (no refusals "by" an unknown caller). OpenSSH cannot be made to send thousands of
// window-changes, so the flooding client is ssh2's; the daemon, the plugin and docker are real.
import { mkdtemp, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import ssh2 from 'ssh2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDirSync, runPortcullisCli, type Stack } from '../helpers/index.js'
import { startBridgeStack } from '../helpers/bridge-stack.js'
import { auditRecords } from '../helpers/audit.js'
import { makeSshKey, type SshKey } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'

const FLOOD = 5_000

let stack: Stack
let scratch: string
let sshPort: number
let key: SshKey
let hostKey: string
let privateKey: string

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'portcullis-window-changes-'))
  key = await makeSshKey(scratch, 'ed25519', 'alice')
  privateKey = await readFile(key.privatePath, 'utf8')
  sshPort = await freeTcpPort()
  const policy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
  policy.users.alice.sshKeys = [key.publicLine]
  const started = await startBridgeStack({ policy, users: ['alice', 'carol', 'ops'], importAs: 'ops', dir: scratch, port: sshPort })
  stack = started.stack
  hostKey = started.hostKeyLine.split(' ')[1]!
})

afterAll(async () => {
  await stack?.stop()
  if (scratch !== undefined) removeDirSync(scratch)
})

/** Opens a shell with a pty, lets `drive` talk to it, and resolves with everything it printed once it closes. */
async function shell (drive: (stream: ssh2.ClientChannel) => void): Promise<string> {
  const client = new ssh2.Client()
  try {
    return await new Promise<string>((resolve, reject) => {
      client.on('ready', () => {
        client.shell({ term: 'xterm', cols: 80, rows: 24 }, (err, stream) => {
          if (err !== undefined) return reject(err)
          let out = ''
          stream.on('data', (chunk: Buffer) => { out += chunk.toString() })
          stream.stderr.on('data', () => {})
          stream.on('close', () => resolve(out))
          drive(stream)
        })
      })
      client.on('error', reject)
      client.connect({
        host: '127.0.0.1',
        port: sshPort,
        username: 'alice+pay-1',
        privateKey,
        hostVerifier: (offered: Buffer) => offered.toString('base64') === hostKey
      })
    })
  } finally {
    client.end()
  }
}

describe('a flood of window-changes', () => {
  it('is coalesced: the latest size wins, resize calls and recorded resizes stay within 10 a second', async () => {
    const out = await shell((stream) => {
      let sentFlood = false
      stream.on('data', () => {
        if (sentFlood) return
        sentFlood = true
        for (let i = 1; i <= FLOOD; i++) stream.setWindow(20 + (i % 30), 60 + (i % 70), 0, 0)
        stream.setWindow(43, 132, 0, 0)
        // The shell reads the size once the flood has settled: the latest one.
        stream.write('sleep 1; stty size; exit 3\n')
      })
    })
    expect(out).toMatch(/^43 132\r?$/m)

    const records = await auditRecords(stack.plugin)
    const end = records.filter((r) => r.action === 'session.end').at(-1)!
    const session = end.fields!.session as string
    expect(end.fields).toMatchObject({ endedBy: 'exit', exitCode: 3 })
    const durationMs = end.fields!.durationMs as number
    const bound = Math.ceil(durationMs / 100) + 2
    const resizes = records.filter((r) => r.kind === 'decision' && r.action === 'exec.resize' && r.fields?.session === session)
    expect(resizes.length).toBeGreaterThan(0)
    expect(resizes.length).toBeLessThanOrEqual(bound)
    expect(resizes.every((r) => r.decision === 'allow' && r.user === 'alice')).toBe(true)

    const cast = await runPortcullisCli(['audit', 'export', '--session', session, '--format', 'asciicast', '--admin-socket', stack.plugin.adminSocket])
    expect(cast.code, cast.stderr).toBe(0)
    const events = cast.stdout.trim().split('\n').slice(1).map((line) => JSON.parse(line) as [number, string, string])
    const recorded = events.filter((e) => e[1] === 'r')
    expect(recorded.length).toBeLessThanOrEqual(bound)
    expect(recorded.at(-1)?.[2]).toBe('132x43')
  })

  it('sent through the end of the session, nothing reaches the daemon afterwards: no refused calls by anyone', async () => {
    const before = (await auditRecords(stack.plugin)).at(-1)!.seq
    await shell((stream) => {
      let i = 0
      const timer = setInterval(() => {
        for (let n = 0; n < 50; n++) stream.setWindow(20 + (++i % 30), 60 + (i % 70), 0, 0)
      }, 10)
      stream.on('close', () => clearInterval(timer))
      stream.once('data', () => stream.write('sleep 1; exit\n'))
    })
    // The pause is the test ("nothing reaches the daemon afterwards" has no event): anything still queued would
    // arrive within these 2 s, so look after them.
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const records = (await auditRecords(stack.plugin)).filter((r) => r.seq > before)
    expect(records.some((r) => r.action === 'session.end')).toBe(true)
    expect(records.filter((r) => r.kind === 'decision' && r.decision === 'deny')).toEqual([])
    expect(records.filter((r) => r.kind === 'decision' && r.user === null)).toEqual([])
    expect((await runPortcullisCli(['audit', 'verify', '--admin-socket', stack.plugin.adminSocket])).code).toBe(0)
  })
})
