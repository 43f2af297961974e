// Just-in-time elevation end to end, with a real dockerd, the docker CLI, the `portcullis request` CLI against the
// daemon's HTTP API, the SSH bridge, a restart, and a webhook receiver on loopback.
import http from 'node:http'
import { mkdtemp, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectDenied, expectOk, removeDirSync, runPortcullisCli, startStack, TEST_IMAGE, type Stack } from '../helpers/index.js'
import { auditRecords } from '../helpers/audit.js'
import { knownHostsFile, makeSshKey, runSsh, type SshOptions } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'
import { waitUntil } from '../helpers/wait.js'

let stack: Stack
let scratch: string
let url: string
let bob: SshOptions
const hooks: Array<Record<string, any>> = []
let hookServer: http.Server

const request = async (user: string, args: string[]) => {
  const result = await runPortcullisCli(['request', ...args, '--url', url, '--token', stack.tokens[user]!, '--json'])
  return { ...result, body: result.stdout.trim() === '' ? null : JSON.parse(result.stdout) }
}
const create = (user: string, project: string, role: string, ttl: string) =>
  request(user, ['create', '--project', project, '--role', role, '--ttl', ttl, '--reason', `incident 42: ${user} needs ${role}`])
const created = async (user: string, project: string, role: string, ttl: string) => {
  const result = await create(user, project, role, ttl)
  expect(result.code, result.stderr).toBe(0)
  return result
}
const run = (project: string, name: string): string[] => ['run', '-d', '--network', 'none', '--label', `portcullis.project=${project}`, '--name', name, TEST_IMAGE, 'sleep', '3600']
const denied = (result: Parameters<typeof expectDenied>[0], message?: string | RegExp): void => expectDenied(result, stack.plugin.name, message)

const POLL = { timeoutMs: 20_000, intervalMs: 250 }

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'portcullis-elevation-'))
  hookServer = http.createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => { body += chunk })
    req.on('end', () => {
      hooks.push(JSON.parse(body))
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve))
  const hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/hook`

  const key = await makeSshKey(scratch, 'ed25519', 'bob')
  const sshPort = await freeTcpPort()
  const elevationPort = await freeTcpPort()
  url = `http://127.0.0.1:${elevationPort}`
  const policy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
  policy.users.bob.sshKeys = [key.publicLine]
  policy.bridge = { enabled: true, listen: `127.0.0.1:${sshPort}` }
  policy.projects.payments.elevation = { webhook: hookUrl }
  policy.projects.web.elevation = { autoApprove: true }
  stack = await startStack({ policy, users: ['alice', 'bob', 'carol', 'ops'], importAs: 'ops', elevationListen: `127.0.0.1:${elevationPort}` })
  const hostKey = await readFile(path.join(stack.keysDir, 'ssh_host_ed25519_key.pub'), 'utf8')
  bob = { port: sshPort, login: 'bob+pay-1', keyPath: key.privatePath, knownHosts: await knownHostsFile(scratch, sshPort, hostKey.trim()) }
  expectOk(await stack.docker('carol', run('payments', 'pay-1')))
  expectOk(await stack.docker('bob', run('web', 'web-1')))
})

afterAll(async () => {
  await stack?.stop()
  hookServer?.close()
  if (scratch !== undefined) removeDirSync(scratch)
})

describe('a grant, from refusal to expiry', () => {
  it('a refused call names the role to ask for and the exact command', async () => {
    expectOk(await stack.docker('alice', run('payments', 'pay-a')))
    denied(await stack.docker('alice', ['rm', '-f', 'pay-a']),
      /the smallest role that allows it is operator; to ask for it: portcullis request create --project payments --role operator --ttl 8h --reason/)
  })

  it('request → approve by an admin → allowed → expiry → refused again', async () => {
    const made = await create('alice', 'payments', 'operator', '8s')
    expect(made.code, made.stderr).toBe(0)
    expect(made.body).toMatchObject({ user: 'alice', project: 'payments', role: 'operator', state: 'pending' })
    const id = made.body.id as string

    // Nobody approves their own request, and an operator is no approver here.
    const self = await request('alice', ['approve', id])
    expect(self.code).not.toBe(0)
    expect(self.stderr).toMatch(/own request/i)
    const carol = await request('carol', ['approve', id])
    expect(carol.code).not.toBe(0)
    denied(await stack.docker('alice', ['rm', '-f', 'pay-a']))

    const approved = await request('ops', ['approve', id])
    expect(approved.code, approved.stderr).toBe(0)
    expect(approved.body).toMatchObject({ state: 'approved' })
    expectOk(await stack.docker('alice', ['rm', '-f', 'pay-a']))
    const decision = (await auditRecords(stack.plugin)).filter((r) => r.kind === 'decision' && r.action === 'container.remove' && r.user === 'alice').at(-1)!
    expect(decision.decision).toBe('allow')
    expect(decision.fields?.grant).toBe(approved.body.grant.id)
    expect(decision.reason).toMatch(/alice is operator in payments \(grant g-/)

    expectOk(await stack.docker('alice', run('payments', 'pay-b')))
    await waitUntil('the grant no longer active', async () => (await request('alice', ['list'])).body.find((r: any) => r.id === id)?.active === false, POLL)
    denied(await stack.docker('alice', ['rm', '-f', 'pay-b']), /role developer in payments does not allow it/)
  })

  it('a denied request grants nothing', async () => {
    const made = await created('alice', 'payments', 'operator', '1h')
    const refused = await request('ops', ['deny', made.body.id, '--reason', 'use the runbook instead'])
    expect(refused.code, refused.stderr).toBe(0)
    expect(refused.body).toMatchObject({ state: 'denied' })
    denied(await stack.docker('alice', ['rm', '-f', 'pay-b']))
  })

  it('a revoked grant stops at once', async () => {
    const made = await created('alice', 'payments', 'operator', '1h')
    expect((await request('ops', ['approve', made.body.id])).code).toBe(0)
    expectOk(await stack.docker('alice', ['stop', '-t', '0', 'pay-b']))
    expectOk(await stack.docker('alice', ['start', 'pay-b']))
    const revoked = await request('ops', ['revoke', made.body.id])
    expect(revoked.code, revoked.stderr).toBe(0)
    denied(await stack.docker('alice', ['rm', '-f', 'pay-b']))
  })
})

describe('the rules', () => {
  it('a request too far above the held role is refused', async () => {
    const result = await create('bob', 'payments', 'admin', '1h')
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/admin is not above your role viewer in payments, so it cannot be asked for\. You may ask for: developer/)
  })

  it('within the rules, a project that auto-approves grants at once', async () => {
    denied(await stack.docker('carol', ['exec', 'web-1', 'echo', 'hi']))
    const made = await create('carol', 'web', 'developer', '1h')
    expect(made.code, made.stderr).toBe(0)
    expect(made.body).toMatchObject({ state: 'approved', autoApproved: true })
    expectOk(await stack.docker('carol', ['exec', 'web-1', 'echo', 'hi']))
  })
})

describe('grants and the SSH bridge', () => {
  it('a session opened under a grant ends when the grant ends', async () => {
    const before = await runSsh(bob, 'true')
    expect(before.code).toBe(126)
    const made = await created('bob', 'payments', 'developer', '6s')
    expect((await request('ops', ['approve', made.body.id])).code).toBe(0)
    const started = Date.now()
    const session = await runSsh(bob, 'echo inside; sleep 60', { timeoutMs: 40_000 })
    expect(session.stdout.toString()).toContain('inside')
    expect(session.stderr).toMatch(/grant/)
    expect(session.code).not.toBe(0)
    expect(Date.now() - started).toBeLessThan(30_000)
    const records = await auditRecords(stack.plugin)
    const end = records.filter((r) => r.action === 'session.end').at(-1)!
    expect(end.fields?.endedBy).toBe('grant-ended')
    const start = records.filter((r) => r.action === 'session.start').at(-1)!
    expect(start.fields?.grant).toMatch(/^g-/)
  })
})

describe('restarts and records', () => {
  it('a live grant survives a restart of the daemon', async () => {
    const made = await created('alice', 'payments', 'operator', '10m')
    expect((await request('ops', ['approve', made.body.id])).code).toBe(0)
    await stack.plugin.restart()
    expectOk(await stack.docker('alice', ['rm', '-f', 'pay-b']))
  })

  it('the webhook heard every request and decision in its project', async () => {
    await waitUntil('the elevation.revoke hook', () => hooks.some((h) => h.event === 'elevation.revoke'), POLL)
    const events = new Set(hooks.map((h) => h.event))
    for (const event of ['elevation.request', 'elevation.approve', 'elevation.deny', 'elevation.revoke']) expect(events, event).toContain(event)
    expect(hooks.every((h) => h.request?.project === 'payments')).toBe(true)
  })

  it('the whole story is in the hash chain', async () => {
    const records = (await auditRecords(stack.plugin)).filter((r) => r.kind === 'elevation')
    const actions = new Set(records.map((r) => r.action))
    for (const action of ['elevation.request', 'elevation.approve', 'elevation.deny', 'elevation.revoke', 'elevation.end']) expect(actions, action).toContain(action)
    expect(records.some((r) => r.fields?.autoApproved === true)).toBe(true)
    expect((await runPortcullisCli(['audit', 'verify', '--admin-socket', stack.plugin.adminSocket])).code).toBe(0)
  })

  it('an evidence bundle\'s report lists the elevation steps and the calls grants allowed', async () => {
    const out = path.join(scratch, 'bundle')
    const made = await runPortcullisCli(['audit', 'bundle', '--since', '1h', '--out', out, '--admin-socket', stack.plugin.adminSocket])
    expect(made.code, made.stderr).toBe(0)
    const report = await readFile(path.join(out, 'report.html'), 'utf8')
    const elevated = report.slice(report.indexOf('<section id="elevated">'), report.indexOf('</section>', report.indexOf('<section id="elevated">')))
    expect(elevated).toContain('elevation.approve')
    expect(elevated).toMatch(/container\.remove/)
    expect(elevated).toMatch(/g-[0-9a-f]{12}/)
  })
})
