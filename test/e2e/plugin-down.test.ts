// The plugin dies (SIGKILL, no chance to clean up): the daemon must refuse calls rather than let them through,
// and a new plugin process on the same socket and data dir must pick up where the audit chain left off.
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditRecords, headSeq } from '../helpers/audit.js'
import { expectOk, expectPluginUnreachable, startStack, TEST_IMAGE, type Stack } from '../helpers/index.js'

const policy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
const GENESIS_HASH = '0'.repeat(64)
let stack: Stack
/** The last audit record written by the process that was killed. */
let lastSeqBeforeKill = 0

beforeAll(async () => {
  stack = await startStack({ policy, users: ['carol', 'ops'], importAs: 'ops' })
})

afterAll(async () => {
  await stack?.stop()
})

describe('the plugin is killed', () => {
  it('while it runs, carol runs and lists containers', async () => {
    expectOk(await stack.docker('carol', ['run', '-d', '--network', 'none', '--label', 'portcullis.project=payments', '--name', 'pay-1', TEST_IMAGE, 'sleep', '600']))
    const ps = await stack.docker('carol', ['ps', '--format', '{{.Names}}'])
    expectOk(ps)
    expect(ps.stdout).toContain('pay-1')
  })

  // The daemon retries an unreachable plugin for a while before it gives up on a call: about 45 s per CLI command here.
  it('the daemon refuses calls while it is down: it fails closed', { timeout: 120_000 }, async () => {
    lastSeqBeforeKill = await headSeq(stack.plugin)
    const pid = stack.plugin.pid
    await stack.plugin.kill()
    expect(stack.plugin.pid).toBeNull()
    expect(() => process.kill(pid!, 0)).toThrow()

    // One call is enough (each costs ~45 s here); a mutating one shows what failing open would cost.
    const stop = await stack.docker('carol', ['stop', '-t', '0', 'pay-1'], { timeoutMs: 90_000 })
    expect(stop.timedOut, 'the CLI should get an answer within 90 s').toBe(false)
    expectPluginUnreachable(stop, stack.plugin.name)
  })

  it('a new process on the same socket and data dir serves again', { timeout: 60_000 }, async () => {
    await stack.plugin.restart()
    expect(stack.plugin.pid).not.toBeNull()
    const ps = await stack.docker('carol', ['ps', '--format', '{{.Names}}'])
    expectOk(ps)
    // The refused stop never reached the container.
    expect(ps.stdout).toContain('pay-1')
  })

  it('the audit chain verifies across the restart, and seq continues without a gap', async () => {
    const verify = await stack.plugin.cli(['audit', 'verify', '--admin-socket', stack.plugin.adminSocket])
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    expect(verify.stdout).toMatch(/audit chain intact: \d+ records/)

    const records = await auditRecords(stack.plugin)
    records.forEach((record, i) => {
      expect(record.seq).toBe(i + 1)
      expect(record.prevHash).toBe(i === 0 ? GENESIS_HASH : records[i - 1]!.hash)
    })

    // Killed, so no portcullis.stop: the next record is the new process's start, right after the last one (less the
    // audit.read.end of the read that measured it, written as its answer went out: docs/audit-access.md).
    const between = records.slice(lastSeqBeforeKill).findIndex((r) => r.action?.startsWith('audit.read') !== true)
    expect(records.slice(lastSeqBeforeKill, lastSeqBeforeKill + between).every((r) => r.action === 'audit.read.end')).toBe(true)
    const restart = records[lastSeqBeforeKill + between]!
    expect(restart).toMatchObject({ seq: lastSeqBeforeKill + between + 1, kind: 'system', action: 'portcullis.start' })
    expect(restart.fields).toMatchObject({ pid: stack.plugin.pid })
    expect(records.filter((r) => r.action === 'portcullis.start')).toHaveLength(2)
    expect(records.filter((r) => r.action === 'portcullis.stop')).toHaveLength(0)
    // The stop refused while it was down left no record; the list after the restart did.
    expect(records.some((r) => r.action === 'container.stop')).toBe(false)
    expect(records.slice(lastSeqBeforeKill + 1).some((r) => r.kind === 'decision' && r.action === 'container.list' && r.user === 'carol')).toBe(true)
  })
})
