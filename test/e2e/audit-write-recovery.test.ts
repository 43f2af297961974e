// A full disk denies calls only while it is full: the audit store sits on a small tmpfs, a file fills it, every
// call is denied (fail closed) and `portcullis status` says why; once the file is gone portcullis takes calls
// again by itself, with no restart, and the trail records the outage and still verifies.
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { auditRecords } from '../helpers/audit.js'
import { daemonRequest } from '../helpers/daemon-http.js'
import { expectOk, removeDirSync, startStack, TOKEN_HEADER, type DockerResult, type Stack } from '../helpers/index.js'
import { waitUntil } from '../helpers/wait.js'

let stack: Stack
let scratch: string
let mountDir: string

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'portcullis-write-recovery-'))
  mountDir = path.join(scratch, 'disk')
  execFileSync('mkdir', ['-p', mountDir])
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mountDir])
  const policy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
  stack = await startStack({ policy, users: ['alice', 'ops'], importAs: 'ops', dataDir: path.join(mountDir, 'data') })
})

afterAll(async () => {
  await stack?.stop()
  if (mountDir !== undefined) execFileSync('umount', ['-l', mountDir])
  if (scratch !== undefined) removeDirSync(scratch)
})

const refusedForAudit = (result: DockerResult): boolean =>
  result.code !== 0 && /could not record this call in its audit store, so it refuses it \(fail closed, PORTCULLIS_AUDIT_(WRITE_FAILED|UNAVAILABLE)\)/.test(result.stderr)

it('denies every call while the disk is full, shows it in status, and takes calls again once space returns, without a restart', async () => {
  const pid = stack.plugin.pid
  let allowed = 0
  const ps = async (): Promise<DockerResult> => {
    const result = await stack.docker('alice', ['ps', '-q'])
    if (result.code === 0) allowed++
    return result
  }
  expectOk(await ps())

  // Fill the disk the store is on (dd stops at ENOSPC). The WAL's last page may still take a record or two.
  const filler = path.join(mountDir, 'filler')
  try { execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' }) } catch {}
  let result = await ps()
  for (let i = 0; i < 30 && result.code === 0; i++) result = await ps()
  expect(refusedForAudit(result), result.stderr).toBe(true)
  let denied = 1
  for (let i = 0; i < 5; i++) {
    const again = await ps()
    expect(refusedForAudit(again), again.stderr).toBe(true)
    denied++
  }

  const status = await stack.plugin.cli(['status', '-o', 'json', '--admin-socket', stack.plugin.adminSocket])
  expect(status.code, status.stderr).toBe(1)
  expect(status.stderr).toMatch(/the audit store is failing since .*PORTCULLIS_AUDIT_WRITE_FAILED.*No space left on device/)
  const failing = JSON.parse(status.stdout) as { audit: { state: string, outage: { code: string, deniedCalls: number, attempts: number, since: string } } }
  expect(failing.audit.state).toBe('failing')
  expect(failing.audit.outage.code).toBe('PORTCULLIS_AUDIT_WRITE_FAILED')
  expect(failing.audit.outage.deniedCalls).toBeGreaterThanOrEqual(denied)
  const logged = await stack.plugin.readLog()
  expect(logged).toContain('"alert":"audit-write-failed"')

  // Space returns: within a few seconds calls are allowed again, by the same process.
  await rm(filler)
  let back = await ps()
  await waitUntil('docker ps allowed again', async () => {
    if (back.code === 0) return true
    expect(refusedForAudit(back), back.stderr).toBe(true)
    denied++
    back = await ps()
    return back.code === 0
  }, { timeoutMs: 15_000, intervalMs: 200, detail: () => back.stderr })
  expectOk(back)
  for (let i = 0; i < 3; i++) expectOk(await ps())
  expect(stack.plugin.pid).toBe(pid)

  const healthy = await stack.plugin.cli(['status', '-o', 'json', '--admin-socket', stack.plugin.adminSocket])
  expect(healthy.code, healthy.stderr).toBe(0)
  expect(JSON.parse(healthy.stdout)).toMatchObject({ audit: { state: 'ok', outage: null } })

  const records = await auditRecords(stack.plugin)
  const alert = records.find((r) => r.kind === 'system' && r.action === 'audit.write-failed')
  const gap = records.find((r) => r.kind === 'system' && r.action === 'audit.write-recovered')
  expect(alert).toMatchObject({ code: 'PORTCULLIS_AUDIT_WRITE_FAILED', fields: { alert: true, failedAt: failing.audit.outage.since } })
  expect(alert!.reason).toContain('No space left on device')
  expect(gap!.seq).toBe(alert!.seq + 1)
  const fields = gap!.fields as { failedAt: string, recoveredAt: string, deniedCalls: number, downMs: number }
  expect(fields.failedAt).toBe(failing.audit.outage.since)
  expect(fields.deniedCalls).toBeGreaterThanOrEqual(denied)
  expect(Date.parse(fields.recoveredAt)).toBeGreaterThan(Date.parse(fields.failedAt))

  // No allowed call lacks its record: every `docker ps` that ran has its allowed decision. (Its response record
  // is written after the reply, lazily, so the one of a call answered just before the disk filled can be lost.)
  const listed = records.filter((r) => r.kind === 'decision' && r.user === 'alice' && r.action === 'container.list' && r.decision === 'allow')
  expect(listed.length).toBeGreaterThanOrEqual(allowed)
  const seqs = records.map((r) => r.seq)
  expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i))

  const verified = await stack.plugin.cli(['audit', 'verify', '--admin-socket', stack.plugin.adminSocket])
  expect(verified.code, verified.stdout + verified.stderr).toBe(0)
})

it('under 16-way load across the failure and the recovery, every allowed call has its allow record and the chain holds', async () => {
  const filler = path.join(mountDir, 'filler')
  const allowedCalls: number[] = []
  let deniedCalls = 0
  let next = 0
  let running = true
  // What dockerd asks the plugin for `docker ps`, each with its own `limit` so its record can be found.
  const worker = async (): Promise<void> => {
    while (running) {
      const id = ++next
      const answer = await daemonRequest(stack.plugin.socket, {
        method: 'POST',
        path: '/AuthZPlugin.AuthZReq',
        body: JSON.stringify({ RequestMethod: 'GET', RequestUri: `/v1.41/containers/json?limit=${id}`, RequestHeaders: { [TOKEN_HEADER]: stack.tokens.alice } })
      })
      const reply = JSON.parse(answer.body) as { Allow: boolean, Msg: string }
      if (reply.Allow) allowedCalls.push(id)
      else if (/PORTCULLIS_AUDIT_/.test(reply.Msg)) deniedCalls++
      else throw new Error(`unexpected answer ${answer.body}`)
    }
  }
  const workers = Array.from({ length: 16 }, async () => await worker())
  const waitFor = async (what: string, ok: () => boolean): Promise<void> => {
    await waitUntil(what, ok, { timeoutMs: 20_000, detail: () => `${allowedCalls.length} allowed, ${deniedCalls} denied` })
  }
  await waitFor('200 calls allowed', () => allowedCalls.length >= 200)
  try { execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' }) } catch {}
  await waitFor('200 calls denied for the full disk', () => deniedCalls >= 200)
  await rm(filler)
  const before = allowedCalls.length
  await waitFor('200 calls allowed once space returned', () => allowedCalls.length >= before + 200)
  running = false
  await Promise.all(workers)

  const records = await auditRecords(stack.plugin, 1_000_000)
  const recorded = new Set(records.filter((r) => r.kind === 'decision' && r.decision === 'allow' && r.action === 'container.list')
    .map((r) => /limit=(\d+)/.exec(r.uri ?? '')?.[1]).filter((id) => id !== undefined).map(Number))
  const missing = allowedCalls.filter((id) => !recorded.has(id))
  expect(missing, `${missing.length} of ${allowedCalls.length} allowed calls have no record`).toEqual([])
  expect(records.filter((r) => r.action === 'audit.write-recovered').length).toBeGreaterThanOrEqual(2)
  const verified = await stack.plugin.cli(['audit', 'verify', '--admin-socket', stack.plugin.adminSocket])
  expect(verified.code, verified.stdout + verified.stderr).toBe(0)
}, 90_000)
