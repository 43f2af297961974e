// Hostile input that reaches an operator's screen or the daemon's identity check, end to end: the real OpenSSH
// client logs in with a name full of escape sequences and runs a program that prints clipboard and title
// sequences; `audit tail`, `audit sessions` and `audit replay` must show them escaped or not at all. Tokens with a
// crit header or an absurd lifetime go through the real docker CLI and must be refused and recorded as such.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import jwt from 'jsonwebtoken'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectDenied, removeDirSync, runPortcullisCli, type Stack } from '../helpers/index.js'
import { startBridgeStack } from '../helpers/bridge-stack.js'
import { auditRecords } from '../helpers/audit.js'
import { makeSshKey, runSsh, sshArgs, SSH_CLIENT, type SshKey, type SshOptions } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'

const examplePolicy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
const ESC = '\x1b'
const OSC52 = `${ESC}]52;c;cm0gLXJmIH4K\x07`
const TITLE = `${ESC}]0;root@prod\x07`
/** A login name that would set root's clipboard and title, and (carriage return) overwrite its own line with one
 * that looks like an allow. OpenSSH refuses such names on its command line but takes them from a config file. */
const HOSTILE_LOGIN = `mallory${OSC52}${TITLE}\r9999 2026-01-01T00:00:00.000Z ALLOW admin container.exec [payments]`
/** Anything a terminal acts on, except the line feeds that end our own lines. */
const ACTIVE = /(?!\n)[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u

let stack: Stack
let keysDir: string
let port: number
let knownHosts: string
let key: SshKey

const ssh = (login: string): SshOptions => ({ port, login, keyPath: key.privatePath, knownHosts })

beforeAll(async () => {
  keysDir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-hostile-'))
  key = await makeSshKey(keysDir, 'ed25519', 'alice')
  port = await freeTcpPort()
  const policy = structuredClone(examplePolicy)
  policy.users.alice.sshKeys = [key.publicLine]
  ;({ stack, knownHosts } = await startBridgeStack({ policy, users: ['alice', 'carol', 'ops'], importAs: 'ops', dir: keysDir, port }))
})

afterAll(async () => {
  await stack?.stop()
  if (keysDir !== undefined) removeDirSync(keysDir)
})

const admin = (...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> =>
  stack.plugin.cli([...args, '--admin-socket', stack.plugin.adminSocket])

describe('the auditor\'s terminal', () => {
  let sessionId: string

  beforeAll(async () => {
    // An unauthenticated client names whatever it likes; the real OpenSSH client sends it as it is.
    const config = path.join(keysDir, 'hostile_config')
    await writeFile(config, `Host hostile\n  HostName 127.0.0.1\n  User "${HOSTILE_LOGIN}"\n`)
    const args = sshArgs(ssh('unused'))
    args[args.indexOf('-F') + 1] = config
    args[args.length - 1] = 'hostile'
    const refused = await new Promise<{ code: number | null, stderr: string }>((resolve) => {
      execFile(SSH_CLIENT, [...args, 'true'], { timeout: 30_000 }, (err, _stdout, stderr) => resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, stderr }))
    })
    expect(refused.stderr).toMatch(/Permission denied \(publickey\)/)
    // A user's program prints clipboard and title sequences between coloured text; the command text has them too.
    const printed = await runSsh(ssh('alice+pay-1'), `: '${TITLE}'; printf '\\033]52;c;cm0gLXJmIH4K\\007\\033]0;pwned\\007\\033[31mred\\033[0m\\n'`)
    expect(printed.code, printed.stderr).toBe(0)
    expect(printed.stdout.toString()).toContain(`${ESC}]52;c;`)
    const start = (await auditRecords(stack.plugin)).find((r) => r.action === 'session.start' && r.user === 'alice')
    sessionId = start!.fields!.session as string
  })

  it('the login name is recorded as sent, and `audit tail` shows it escaped on one line: no OSC 52, no title, no forged allow line', async () => {
    const all = await auditRecords(stack.plugin)
    const denied = all.find((r) => r.action === 'session.denied' && r.code === 'SSH_LOGIN_FAILED')
    expect(denied?.fields?.login).toContain(`mallory${OSC52}`)

    const tail = await admin('audit', 'tail', '--all', '-n', '100')
    expect(tail.code, tail.stderr).toBe(0)
    expect(tail.stdout).not.toMatch(ACTIVE)
    expect(tail.stdout).not.toMatch(/^9999 /m)
    expect(tail.stdout).toMatch(/^\d+ \S+ session +unknown session\.denied — SSH login as "mallory\\x1b]52;c;cm0gLXJmIH4K\\x07\\x1b]0;root@prod\\x07\\x0d9999 2026.* failed: /m)

    const json = await admin('audit', 'tail', '--all', '-n', '100', '--json')
    expect(json.stdout).not.toMatch(ACTIVE)
    const records = json.stdout.trim().split('\n').map((line) => JSON.parse(line) as { fields?: { login?: string } })
    expect(records.some((r) => r.fields?.login?.includes(OSC52) === true)).toBe(true)
  })

  it('`audit sessions` shows the command escaped; --json stays JSON with the same strings', async () => {
    const table = await admin('audit', 'sessions')
    expect(table.code, table.stderr).toBe(0)
    expect(table.stdout).not.toMatch(ACTIVE)
    expect(table.stdout).toContain('\\x1b]0;root@prod')
    const json = await admin('audit', 'sessions', '--json')
    expect(json.stdout).not.toMatch(ACTIVE)
    const sessions = JSON.parse(json.stdout) as Array<{ session: string, command: string[] | null }>
    expect(sessions.find((s) => s.session === sessionId)?.command?.join(' ')).toContain(TITLE)
  })

  it('`audit replay` keeps the colours, drops the clipboard and title sequences and says so; the banner is escaped', async () => {
    const replay = await admin('audit', 'replay', sessionId, '--speed', '100')
    expect(replay.code, replay.stderr).toBe(0)
    expect(replay.stdout).toContain(`${ESC}[31mred${ESC}[0m`)
    expect(replay.stdout).not.toContain(`${ESC}]`)
    expect(replay.stderr).not.toMatch(ACTIVE)
    expect(replay.stderr).toContain('\\x1b]0;root@prod\\x07')
    expect(replay.stderr).toContain('removed from what was shown: 1 clipboard write (OSC 52), 1 window or icon title (OSC 0/1/2)')
  })

  it('`audit replay --raw` plays the bytes as recorded, after a warning', async () => {
    const raw = await admin('audit', 'replay', sessionId, '--speed', '100', '--raw')
    expect(raw.code, raw.stderr).toBe(0)
    expect(raw.stdout).toContain(OSC52)
    expect(raw.stderr).toContain('--raw: the recording\'s own bytes reach this terminal')
  })
})

describe('tokens', () => {
  const signed = async (claims: object, header: object = {}): Promise<string> => {
    const privateKey = await readFile(path.join(stack.keysDir, 'token.key'), 'utf8')
    return jwt.sign({ sub: 'alice', iss: 'portcullis', aud: 'docker', ...claims }, privateKey, { algorithm: 'ES256', header: { alg: 'ES256', ...header } as jwt.JwtHeader })
  }
  const now = (): number => Math.floor(Date.now() / 1000)

  it('a token with a crit header is refused by the docker CLI\'s call, and the record says why', async () => {
    const token = await signed({ iat: now(), exp: now() + 600 }, { crit: ['exp'] })
    const result = await stack.docker('alice', ['ps'], { token })
    expectDenied(result, stack.plugin.name, /crit/)
    const record = (await auditRecords(stack.plugin)).reverse().find((r) => r.code === 'BAD_TOKEN')
    expect(record).toMatchObject({ decision: 'deny', action: 'container.list', reason: expect.stringContaining('RFC 7515') })
  })

  it('a token expiring in the year 31 million is refused, and the record says why', async () => {
    const token = await signed({ iat: now(), exp: 31_000_000 * 31_557_600 })
    const result = await stack.docker('alice', ['ps'], { token })
    expectDenied(result, stack.plugin.name, /tokens\.maxLifetime \(90d\)/)
    const record = (await auditRecords(stack.plugin)).reverse().find((r) => r.code === 'BAD_TOKEN')
    expect(record).toMatchObject({ decision: 'deny', reason: expect.stringContaining('longer than tokens.maxLifetime') })
  })

  it('`token issue` refuses a TTL over the cap: 90 days by default, the policy\'s tokens.maxLifetime when it sets one', async () => {
    const long = await runPortcullisCli(['token', 'issue', '--keys', stack.keysDir, '--user', 'alice', '--ttl', '400d'])
    expect(long.code).toBe(2)
    expect(long.stderr).toContain('[PORTCULLIS_TOKEN_TTL_TOO_LONG]')
    expect(long.stderr).toContain('at most 90d')
    for (const ttl of ['8 hours', '0', '4w']) {
      const unreadable = await runPortcullisCli(['token', 'issue', '--keys', stack.keysDir, '--user', 'alice', '--ttl', ttl])
      expect(unreadable.code, ttl).toBe(2)
      expect(unreadable.stderr).toContain('[PORTCULLIS_TOKEN_TTL]')
      expect(unreadable.stderr).toMatch(/30m, 8h, 7d/)
    }
    const policyFile = path.join(stack.dir, 'short-tokens.json')
    await writeFile(policyFile, JSON.stringify({ ...examplePolicy, tokens: { maxLifetime: '1d' } }))
    const capped = await runPortcullisCli(['token', 'issue', '--keys', stack.keysDir, '--user', 'alice', '--ttl', '2d', '--config', policyFile])
    expect(capped.code).toBe(2)
    expect(capped.stderr).toContain(`A token may be valid for at most 1d (tokens.maxLifetime in ${policyFile}); pass --ttl 1d or less`)
    const fine = await runPortcullisCli(['token', 'issue', '--keys', stack.keysDir, '--user', 'alice', '--ttl', '8h', '--config', policyFile])
    expect(fine.code, fine.stderr).toBe(0)
  })
})
