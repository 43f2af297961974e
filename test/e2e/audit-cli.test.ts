// The operator's commands: `audit export|tail|verify` against a running plugin and, once it is stopped, against
// the store on disk (also after tampering with it); `portcullis check` with no daemon; `--help` everywhere.
import { readFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Level } from 'level'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordKey } from '../../src/audit/keys.js'
import { auditRecords, type Record } from '../helpers/audit.js'
import { expectDenied, expectOk, REPO_ROOT, runPortcullisCli, startStack, type Stack } from '../helpers/index.js'

const EXAMPLE_POLICY = path.join(REPO_ROOT, 'examples', 'policy.json')
const policy = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8'))
const GENESIS_HASH = '0'.repeat(64)
let stack: Stack

beforeAll(async () => {
  stack = await startStack({ policy, users: ['alice', 'mallory', 'ops'], importAs: 'ops' })
  // Something to read: an allowed call, and two denied ones.
  expectOk(await stack.docker('alice', ['ps']))
  expectDenied(await stack.docker('mallory', ['ps']), stack.plugin.name)
  expectDenied(await stack.docker(null, ['ps']), stack.plugin.name)
})

afterAll(async () => {
  await stack?.stop()
})

const parseLines = (text: string): Record[] => text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record)

function expectChained(records: Record[]): void {
  records.forEach((record, i) => {
    expect(record.seq).toBe(i + 1)
    expect(record.prevHash).toBe(i === 0 ? GENESIS_HASH : records[i - 1]!.hash)
    expect(record.hash).toMatch(/^[0-9a-f]{64}$/)
  })
}

describe('with the plugin running (through the admin socket)', () => {
  let exported: Record[] = []

  it('`audit export --format jsonl` gives every record in order, each linked to the one before', async () => {
    const result = await stack.plugin.cli(['audit', 'export', '--format', 'jsonl', '--admin-socket', stack.plugin.adminSocket])
    expect(result.code, result.stderr).toBe(0)
    exported = parseLines(result.stdout)
    expectChained(exported)
    expect(exported[0]).toMatchObject({ kind: 'system', action: 'portcullis.start' })
    expect(exported.some((r) => r.kind === 'response')).toBe(true)
    // The same records `audit tail --json` shows.
    expect((await auditRecords(stack.plugin)).slice(0, exported.length)).toEqual(exported)
  })

  it('`--out FILE` writes the same lines to a file; --from-seq/--to-seq pick a range', async () => {
    const out = path.join(stack.dir, 'export.jsonl')
    const last = exported.length
    const result = await stack.plugin.cli(['audit', 'export', '--to-seq', String(last), '--out', out, '--admin-socket', stack.plugin.adminSocket])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toBe('')
    expect(await readFile(out, 'utf8')).toBe(exported.map((r) => JSON.stringify(r) + '\n').join(''))

    const range = await stack.plugin.cli(['audit', 'export', '--from-seq', '2', '--to-seq', '4', '--admin-socket', stack.plugin.adminSocket])
    expect(parseLines(range.stdout).map((r) => r.seq)).toEqual([2, 3, 4])
  })

  it('`audit export` filters by user, action, decision and time, as JSON lines or CSV', async () => {
    const last = String(exported.length)
    const alice = await stack.plugin.cli(['audit', 'export', '--user', 'alice', '--action', 'container.*', '--since', '1h', '--to-seq', last, '--admin-socket', stack.plugin.adminSocket])
    expect(alice.code, alice.stderr).toBe(0)
    const expected = exported.filter((r) => r.user === 'alice' && r.action?.startsWith('container.') === true)
    expect(expected.length).toBeGreaterThan(0)
    expect(alice.stdout).toBe(expected.map((r) => JSON.stringify(r) + '\n').join(''))

    const csv = await stack.plugin.cli(['audit', 'export', '--format', 'csv', '--decision', 'deny', '--to-seq', last, '--admin-socket', stack.plugin.adminSocket])
    expect(csv.code, csv.stderr).toBe(0)
    const [header, ...rows] = csv.stdout.split('\r\n').filter((line) => line !== '')
    expect(header).toMatch(/^seq,time,kind,user,/)
    expect(rows.map((row) => Number(row.split(',')[0]))).toEqual(exported.filter((r) => r.decision === 'deny').map((r) => r.seq))

    const bad = await stack.plugin.cli(['audit', 'export', '--since', 'last tuesday', '--admin-socket', stack.plugin.adminSocket])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('PORTCULLIS_AUDIT_FILTER_INVALID')
  })

  it('`audit tail` shows allowed and denied calls, one line each', async () => {
    const result = await stack.plugin.cli(['audit', 'tail', '--all', '-n', '100', '--admin-socket', stack.plugin.adminSocket])
    expect(result.code, result.stderr).toBe(0)
    const line = (decision: string, who: string): RegExp =>
      new RegExp(`^\\d+ \\S+ ${decision} ${who} container\\.list GET /v1\\.\\d+/containers/json — .+$`, 'm')
    expect(result.stdout).toMatch(line('ALLOW', 'alice'))
    expect(result.stdout).toMatch(line('DENY ', 'mallory'))
    expect(result.stdout).toMatch(line('DENY ', 'anonymous'))
    expect(result.stdout).toMatch(/^1 \S+ system +portcullis\.start /m)
  })

  it('`audit verify --data` refuses a store the running plugin owns, and says what to do', async () => {
    const result = await stack.plugin.cli(['audit', 'verify', '--data', stack.plugin.dataDir])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('PORTCULLIS_AUDIT_LOCKED')
    expect(result.stderr).toContain('portcullis audit tail|export|verify')
  })
})

describe('with the plugin stopped (the store on disk)', () => {
  const stored: Record[] = []

  beforeAll(async () => {
    await stack.plugin.stop()
  })

  it('`audit verify --data DIR` checks the chain offline', async () => {
    const result = await runPortcullisCli(['audit', 'verify', '--data', stack.plugin.dataDir, '--json'])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    const report = JSON.parse(result.stdout) as { ok: boolean, records: number, head: { seq: number, hash: string } }
    expect(report.ok).toBe(true)
    expect(report.records).toBe(report.head.seq)

    // Read every record straight from LevelDB: the stop was recorded last.
    const db = new Level<string, string>(stack.plugin.dataDir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    try {
      for await (const value of db.values({ gte: recordKey(1), lte: recordKey(report.head.seq) })) stored.push(JSON.parse(value) as Record)
    } finally {
      await db.close()
    }
    expectChained(stored)
    expect(stored.at(-1)).toMatchObject({ seq: report.head.seq, action: 'portcullis.stop', hash: report.head.hash })
  })

  it('`audit export --data DIR` filters the store offline', async () => {
    const result = await runPortcullisCli(['audit', 'export', '--data', stack.plugin.dataDir, '--user', 'mallory'])
    expect(result.code, result.stderr).toBe(0)
    const mallory = stored.filter((r) => r.user === 'mallory')
    expect(mallory.length).toBeGreaterThan(0)
    expect(result.stdout).toBe(mallory.map((r) => JSON.stringify(r) + '\n').join(''))
  })

  it('an edited record breaks the chain: verify exits 1 and names its seq', async () => {
    const target = stored.find((r) => r.kind === 'decision' && r.user === 'mallory' && r.action === 'container.list')!
    expect(target).toBeDefined()
    const db = new Level<string, string>(stack.plugin.dataDir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    try {
      const key = recordKey(target.seq)
      const record = JSON.parse(await db.get(key) as string) as Record
      await db.put(key, JSON.stringify({ ...record, user: 'alice' }))
    } finally {
      await db.close()
    }

    const human = await runPortcullisCli(['audit', 'verify', '--data', stack.plugin.dataDir])
    expect(human.code, human.stdout + human.stderr).toBe(1)
    expect(human.stdout).toContain(`audit chain BROKEN at seq ${target.seq}: hash-mismatch`)

    const json = await runPortcullisCli(['audit', 'verify', '--data', stack.plugin.dataDir, '--json'])
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, records: target.seq - 1, firstBad: { seq: target.seq, problem: 'hash-mismatch' } })
  })
})

describe('`portcullis check` decides one request with no daemon', () => {
  interface CheckOutput {
    decision: 'allow' | 'deny'
    allow: boolean
    action: string | null
    project: string | null
    role: string | null
    code: string | null
    reason: string
    escapes: Array<{ setting: string, detail: string }>
    assumptions: string[]
  }

  /** Runs `check` against the example policy; exit 0 must mean allow and 1 deny. */
  async function check(args: string[], body?: object | string): Promise<CheckOutput> {
    const bodyArgs: string[] = []
    if (body !== undefined) {
      const file = path.join(stack.dir, `body-${Math.random().toString(16).slice(2)}.json`)
      await writeFile(file, typeof body === 'string' ? body : JSON.stringify(body))
      bodyArgs.push('--body', file)
    }
    const result = await runPortcullisCli(['check', '-o', 'json', '--config', EXAMPLE_POLICY, ...args, ...bodyArgs])
    expect([0, 1], result.stdout + result.stderr).toContain(result.code)
    const output = JSON.parse(result.stdout) as CheckOutput
    expect(result.code).toBe(output.decision === 'allow' ? 0 : 1)
    expect(output.allow).toBe(output.decision === 'allow')
    return output
  }

  const execBody = { AttachStdout: true, AttachStderr: true, Cmd: ['ls', '/'] }

  it('alice may exec in a payments container, not in a web one', async () => {
    const uri = ['--user', 'alice', '--method', 'POST', '--uri', '/v1.41/containers/pay-1/exec']
    expect(await check([...uri, '--target-project', 'payments'], execBody))
      .toMatchObject({ decision: 'allow', action: 'container.exec', project: 'payments', role: 'developer', code: null })
    expect(await check([...uri, '--target-project', 'web'], execBody))
      .toMatchObject({ decision: 'deny', action: 'container.exec', project: 'web', code: 'NOT_MEMBER' })
  })

  it('a privileged create body from a file needs an unsafe role', async () => {
    const body = { Image: 'busybox', Labels: { 'portcullis.project': 'payments' }, HostConfig: { Privileged: true } }
    const create = ['--method', 'POST', '--uri', '/v1.41/containers/create']
    const carol = await check(['--user', 'carol', ...create], body)
    expect(carol).toMatchObject({ decision: 'deny', action: 'container.create', code: 'UNSAFE_REQUIRED' })
    expect(carol.escapes.map((e) => e.setting)).toContain('privileged')
    expect(await check(['--user', 'ops', ...create], body)).toMatchObject({ decision: 'allow', role: 'admin' })
  })

  it('a create with an empty or missing body is denied (CVE-2024-41110)', async () => {
    const create = ['--user', 'ops', '--method', 'POST', '--uri', '/v1.41/containers/create']
    expect(await check(create, '')).toMatchObject({ decision: 'deny', action: 'container.create', code: 'BAD_BODY', reason: expect.stringContaining('empty') })
    expect(await check(create)).toMatchObject({ decision: 'deny', action: 'container.create', code: 'BAD_BODY' })
  })

  it('an anonymous ping is allowed', async () => {
    expect(await check(['--method', 'GET', '--uri', '/_ping'])).toMatchObject({ decision: 'allow', action: 'system.ping', code: null })
  })
})

describe('--help', () => {
  it('works on every command `portcullis --help` lists', async () => {
    const top = await runPortcullisCli(['--help'])
    expect(top.code).toBe(0)
    const commandList = top.stdout.split('Commands:\n')[1]!.split('\n\n')[0]!
    const names = commandList.split('\n').map((line) => line.trim().split(/\s{2,}/)[0]!)
    expect(names).toEqual(expect.arrayContaining(['serve', 'check', 'audit verify', 'policy reload']))
    for (const name of names) {
      const help = await runPortcullisCli([...name.split(' '), '--help'])
      expect(help.code, `${name} --help\n${help.stdout}${help.stderr}`).toBe(0)
      expect(help.stdout.startsWith(`Usage: portcullis ${name}`), help.stdout).toBe(true)
      expect(help.stdout).toContain('--help')
    }
  })
})
