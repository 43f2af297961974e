// A compliance review end to end: a store filled by real daemon traffic and SSH bridge sessions, filtered exports,
// a tampered copy caught by verify, an evidence bundle verified on a clean copy, and its report.html opened in
// headless Chromium with the session played in the embedded player.
import { execFileSync } from 'node:child_process'
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectOk, removeDirSync, runPortcullisCli, startStack, TEST_IMAGE, type Stack } from '../helpers/index.js'
import { knownHostsFile, makeSshKey, runSsh, type SshOptions } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'

const CHROMIUM = '/usr/bin/chromium'
let stack: Stack
let scratch: string
let sessionId: string
let alice: SshOptions

const cli = (args: string[]) => runPortcullisCli([...args, '--admin-socket', stack.plugin.adminSocket], { timeoutMs: 60_000 })
const jsonl = (text: string): Array<Record<string, any>> => text.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'portcullis-review-'))
  const key = await makeSshKey(scratch, 'ed25519', 'alice')
  const port = await freeTcpPort()
  const policy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
  policy.users.alice.sshKeys = [key.publicLine]
  policy.bridge = { enabled: true, listen: `127.0.0.1:${port}` }
  stack = await startStack({ policy, users: ['alice', 'bob', 'carol', 'ops', 'mallory'], importAs: 'ops' })
  const hostKey = await readFile(path.join(stack.keysDir, 'ssh_host_ed25519_key.pub'), 'utf8')
  alice = { port, login: 'alice+pay-1', keyPath: key.privatePath, knownHosts: await knownHostsFile(scratch, port, hostKey.trim()), tty: 'force' }

  const run = (project: string, name: string): string[] => ['run', '-d', '--network', 'none', '--label', `portcullis.project=${project}`, '--name', name, TEST_IMAGE, 'sleep', '3600']
  expectOk(await stack.docker('carol', run('payments', 'pay-1')))
  expectOk(await stack.docker('bob', run('web', 'web-1')))
  expectOk(await stack.docker('alice', ['exec', 'pay-1', 'echo', 'hi']))
  await stack.docker('bob', ['stop', 'pay-1'])                        // denied: viewer
  await stack.docker('mallory', ['exec', 'web-1', 'id'])               // denied: no role
  await stack.docker('alice', ['run', '--rm', '--privileged', '--network', 'none', '--label', 'portcullis.project=payments', TEST_IMAGE, 'true']) // denied: unsafe
  const session = await runSsh(alice, 'echo "review-marker $((40+2))"; exit 4')
  expect(session.code, session.stderr).toBe(4)
  const listed = JSON.parse((await cli(['audit', 'sessions', '--json', '-n', '1'])).stdout)
  sessionId = listed[0].session
})

afterAll(async () => {
  await stack?.stop()
  if (scratch !== undefined) removeDirSync(scratch)
})

describe('filtered exports of real traffic', () => {
  it('each filter returns exactly the matching records', async () => {
    const all = jsonl((await cli(['audit', 'export'])).stdout)
    const byUser = jsonl((await cli(['audit', 'export', '--user', 'alice'])).stdout)
    expect(byUser.length).toBeGreaterThan(3)
    expect(byUser.map((r) => r.seq)).toEqual(all.filter((r) => r.user === 'alice').map((r) => r.seq))

    const denied = jsonl((await cli(['audit', 'export', '--decision', 'deny'])).stdout)
    expect(denied.map((r) => r.seq)).toEqual(all.filter((r) => r.decision === 'deny').map((r) => r.seq))
    expect(denied.map((r) => r.user)).toEqual(expect.arrayContaining(['bob', 'mallory', 'alice']))

    const web = jsonl((await cli(['audit', 'export', '--project', 'web'])).stdout)
    expect(web.length).toBeGreaterThan(0)
    expect(web.every((r) => r.project === 'web')).toBe(true)

    const execs = jsonl((await cli(['audit', 'export', '--action', 'container.exec', '--user', 'alice'])).stdout)
    expect(execs.length).toBeGreaterThanOrEqual(2)
    expect(execs.every((r) => r.action === 'container.exec' && r.user === 'alice')).toBe(true)

    const inPay1 = jsonl((await cli(['audit', 'export', '--container', 'pay-1'])).stdout)
    expect(inPay1.some((r) => r.action === 'session.start')).toBe(true)
    expect(inPay1.some((r) => r.action === 'container.exec' && r.authMethod === 'jwt')).toBe(true)

    const ofSession = jsonl((await cli(['audit', 'export', '--session', sessionId, '--format', 'jsonl'])).stdout)
    expect(ofSession.map((r) => r.action)).toEqual(expect.arrayContaining(['session.start', 'container.exec', 'exec.start', 'session.end']))

    // Every record is from the last hour; the trail has grown since by the audit.read records of these exports.
    expect(jsonl((await cli(['audit', 'export', '--since', '1h'])).stdout).map((r) => r.seq).slice(0, all.length)).toEqual(all.map((r) => r.seq))
    expect((await cli(['audit', 'export', '--since', '2099-01-01T00:00:00Z'])).stdout.trim()).toBe('')
    expect((await cli(['audit', 'export', '--until', '1h'])).stdout.trim()).toBe('')
  })

  it('csv has one row per record, a stable header, and parses back', async () => {
    const csv = (await cli(['audit', 'export', '--format', 'csv', '--user', 'alice'])).stdout
    const rows = csv.trimEnd().split('\r\n')
    expect(rows[0]).toBe('seq,time,kind,user,authMethod,action,project,role,resource,method,uri,decision,code,reason,session,status,reqSeq,fields,prevHash,hash')
    const count = jsonl((await cli(['audit', 'export', '--user', 'alice'])).stdout).length
    // Reasons and fields hold no newlines here, so rows are lines.
    expect(rows.length - 1).toBe(count)
  })

  it('the session\'s recording exports as asciicast', async () => {
    const cast = (await cli(['audit', 'export', '--session', sessionId])).stdout
    expect(cast).toContain('review-marker 42')
  })
})

describe('a tampered store', () => {
  async function tamperedCopy (change: (db: any) => Promise<void>): Promise<string> {
    // A checkpoint of the head first, so rewrites are caught by the signature too.
    expect((await cli(['audit', 'checkpoint'])).code).toBe(0)
    const copy = await mkdtemp(path.join(scratch, 'copy-'))
    await cp(stack.plugin.dataDir, copy, { recursive: true })
    await rm(path.join(copy, 'LOCK'), { force: true })
    const { Level } = await import('level')
    const db = new Level<string, string>(copy, { valueEncoding: 'utf8' })
    await db.open()
    await change(db)
    await db.close()
    return copy
  }
  const key = (seq: number): string => 'r!' + seq.toString(16).padStart(16, '0')
  const verify = (dir: string) => runPortcullisCli(['audit', 'verify', '--data', dir, '--keys', stack.keysDir, '--json'])

  it('an edited value is named by its seq', async () => {
    let edited = 0
    const copy = await tamperedCopy(async (db) => {
      // The first denial becomes an allow: the kind of edit someone covering their tracks would make.
      for await (const [k, v] of db.iterator({ gte: key(1), lt: 'r"' })) {
        if (!(v as string).includes('"decision":"deny"')) continue
        edited = JSON.parse(v).seq
        await db.put(k, (v as string).replace('"decision":"deny"', '"decision":"allow"'))
        break
      }
    })
    expect(edited).toBeGreaterThan(0)
    const result = await verify(copy)
    expect(result.code).toBe(1)
    expect(JSON.parse(result.stdout).firstBad).toMatchObject({ seq: edited, problem: 'hash-mismatch' })
  })

  it('a deleted record is named', async () => {
    const copy = await tamperedCopy(async (db) => { await db.del(key(7)) })
    const result = await verify(copy)
    expect(result.code).toBe(1)
    expect(JSON.parse(result.stdout).firstBad).toMatchObject({ seq: 7, problem: 'gap' })
  })

  it('two records swapped are named', async () => {
    const copy = await tamperedCopy(async (db) => {
      const a: string = await db.get(key(8))
      const b: string = await db.get(key(9))
      await db.put(key(8), b)
      await db.put(key(9), a)
    })
    const result = await verify(copy)
    expect(result.code).toBe(1)
    expect(JSON.parse(result.stdout).firstBad.seq).toBe(8)
  })

  it('a forged checkpoint is caught', async () => {
    const copy = await tamperedCopy(async (db) => {
      for await (const [k, v] of db.iterator({ gte: 'k!', lt: 'k"' })) {
        const checkpoint = JSON.parse(v)
        checkpoint.hash = 'f'.repeat(64)
        await db.put(k, JSON.stringify(checkpoint))
        break
      }
    })
    const result = await verify(copy)
    expect(result.code).toBe(1)
    expect(JSON.parse(result.stdout).firstBad.problem).toBe('checkpoint-forged')
  })

  it('a chain rewritten with recomputed hashes and its stored checkpoints deleted is caught by the copies in the log', async () => {
    const { createHash } = await import('node:crypto')
    let target = 0
    const copy = await tamperedCopy(async (db) => {
      // Someone who knows how the chain is built: flip a denial, re-seal every record after it, move the head,
      // and delete the checkpoints stored beside the records.
      const records: Array<[string, string]> = []
      for await (const entry of db.iterator({ gte: key(1), lt: 'r"' })) records.push(entry as [string, string])
      const start = records.findIndex(([, v]) => v.includes('"decision":"deny"'))
      target = JSON.parse(records[start]![1]).seq
      let prevHash: string = JSON.parse(records[start - 1]![1]).hash
      for (let i = start; i < records.length; i++) {
        let text = records[i]![1].replace(/,"hash":"[0-9a-f]{64}"}$/, '}')
        if (i === start) text = text.replace('"decision":"deny"', '"decision":"allow"')
        text = text.replace(/"prevHash":"[0-9a-f]{64}"/, `"prevHash":"${prevHash}"`)
        const body = text.replace(/}$/, '')
        const hash = createHash('sha256').update(prevHash + '\n' + body + '}').digest('hex')
        const stored = body + `,"hash":"${hash}"}`
        await db.put(records[i]![0], stored)
        prevHash = hash
        if (i === records.length - 1) await db.put('s!head', JSON.stringify({ seq: JSON.parse(stored).seq, hash }))
      }
      for await (const [k] of db.iterator({ gte: 'k!', lt: 'k"' })) await db.del(k)
    })
    const alone = await verify(copy)
    expect(JSON.parse(alone.stdout).ok, 'the rewrite is consistent: the chain alone cannot tell').toBe(true)
    const withCopies = await runPortcullisCli(['audit', 'verify', '--data', copy, '--keys', stack.keysDir, '--checkpoints', stack.plugin.logFile, '--json'])
    expect(withCopies.code, withCopies.stdout).toBe(1)
    const report = JSON.parse(withCopies.stdout)
    expect(report.firstBad.problem).toBe('checkpoint-mismatch')
    expect(report.firstBad.seq).toBeLessThanOrEqual(target)
    expect(report.checkpointCopies.found).toBeGreaterThan(0)
  })

  it('the untouched store verifies, and says which checkpoint it rests on', async () => {
    const result = await cli(['audit', 'verify'])
    expect(result.code, result.stdout).toBe(0)
    expect(result.stdout).toMatch(/checkpoint/)
    const withCopies = await cli(['audit', 'verify', '--checkpoints', stack.plugin.logFile, '--public-key', path.join(stack.keysDir, 'audit_ed25519.pub')])
    expect(withCopies.code, withCopies.stdout).toBe(0)
    expect(withCopies.stdout).toMatch(/checkpoint copies from the log: (\d+) found, \1 hold/)
  })
})

describe('the evidence bundle', () => {
  let bundle: string

  it('is written for a time range and verifies on a clean copy with nothing but itself', async () => {
    bundle = path.join(scratch, 'evidence.tar.gz')
    const made = await cli(['audit', 'bundle', '--since', '1h', '--out', bundle])
    expect(made.code, made.stderr).toBe(0)
    const clean = await mkdtemp(path.join(os.tmpdir(), 'portcullis-reviewer-'))
    try {
      await cp(bundle, path.join(clean, 'evidence.tar.gz'))
      const checked = await runPortcullisCli(['audit', 'verify-bundle', path.join(clean, 'evidence.tar.gz')])
      expect(checked.code, checked.stdout + checked.stderr).toBe(0)
      expect(checked.stdout).toMatch(/intact/i)
    } finally {
      await rm(clean, { recursive: true, force: true })
    }
  })

  it('a changed record in the bundle is named', async () => {
    const dir = await mkdtemp(path.join(scratch, 'unpacked-'))
    execFileSync('tar', ['-xzf', bundle, '-C', dir])
    const root = (await readdir(dir)).length === 1 && !(await readdir(dir)).includes('manifest.json') ? path.join(dir, (await readdir(dir))[0]!) : dir
    const records = path.join(root, 'records.jsonl')
    const lines = (await readFile(records, 'utf8')).split('\n')
    lines[2] = lines[2]!.replace('"kind":"', '"kind":"x')
    await writeFile(records, lines.join('\n'))
    const checked = await runPortcullisCli(['audit', 'verify-bundle', root, '--json'])
    expect(checked.code).toBe(1)
  })

  it('report.html opens offline in Chromium: charts, denied attempts, and the session playing in the embedded player', async () => {
    const dir = await mkdtemp(path.join(scratch, 'report-'))
    execFileSync('tar', ['-xzf', bundle, '-C', dir])
    const entries = await readdir(dir)
    const root = entries.includes('report.html') ? dir : path.join(dir, entries[0]!)
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
      const requests: string[] = []
      page.on('request', (request) => requests.push(request.url()))
      const errors: string[] = []
      page.on('pageerror', (err) => errors.push(err.message))
      await page.goto('file://' + path.join(root, 'report.html'))
      expect(await page.locator('svg').count()).toBeGreaterThan(2)
      const body = await page.locator('body').innerText()
      expect(body).toMatch(/denied/i)
      expect(body).toContain('mallory')
      expect(body).toContain(sessionId)
      await page.locator(`button.play[data-session="${sessionId}"]`).click()
      const terminal = page.locator('.ap-term').first()
      await terminal.waitFor({ timeout: 15_000 })
      await page.waitForFunction(() => document.querySelector('.ap-term')?.textContent?.includes('review-marker 42') === true, undefined, { timeout: 20_000 })
      const shot = path.join(scratch, 'report.png')
      await page.screenshot({ path: shot, fullPage: false })
      expect((await readFile(shot)).length).toBeGreaterThan(10_000)
      expect(errors).toEqual([])
      expect(requests.filter((url) => !url.startsWith('file://') && !url.startsWith('data:') && !url.startsWith('blob:'))).toEqual([])
    } finally {
      await browser.close()
    }
  })
})
