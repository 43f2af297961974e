// `portcullis serve` verifies the audit store before it accepts a call (issue 12, item 2): a store whose table or
// write-ahead log was damaged is refused with the damage named, and the refusal is recorded; the operator may
// start on it anyway with --accept-damaged-audit, which portcullis.start records with what was found. A table
// LevelDB cannot open at all gives a coded error naming the file, never an "unexpected error".
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { AuditRecord } from '../../src/audit/record.js'
import { auditRecords } from '../helpers/audit.js'
import { flipLog, flipTable, makeStore, newestRecord, truncateTable } from '../helpers/damaged-store.js'
import { runPortcullisCli, startPortcullis } from '../helpers/index.js'
import { expectFailedWith, serveWorkspace } from '../helpers/serve-workspace.js'

const workspace = serveWorkspace('portcullis-start-verify-')
const { pathsIn, serveUntilExit } = workspace

/** Starts serve with --accept-damaged-audit and answers its portcullis.start record. */
async function acceptedStart (dir: string, data: string): Promise<AuditRecord> {
  const plugin = await startPortcullis({ dir, policyFile: workspace.policyFile, keysDir: workspace.keysDir, dockerSocket: path.join(dir, 'no-dockerd.sock'), dataDir: data, extraArgs: ['--accept-damaged-audit'] })
  try {
    const records = await auditRecords(plugin, 5)
    return records.filter((r) => r.action === 'portcullis.start').at(-1)!
  } finally {
    await plugin.stop()
  }
}

describe('serve verifies the audit store before it accepts calls', () => {
  it('bytes flipped in a table: refused naming the first unreadable record, the refusal recorded; accepted with the flag, and recorded', async () => {
    const { dir, data } = pathsIn('flipped-table')
    await makeStore(data)
    const table = flipTable(data)
    const result = await serveUntilExit(dir, data)
    expectFailedWith(result, 'PORTCULLIS_AUDIT_START_DAMAGED')
    expect(result.stderr).toContain(`in table ${table}`)
    const seq = /broken at record (\d+) \(unreadable/.exec(result.stderr)?.[1]
    expect(seq, result.stderr).toBeDefined()
    expect(result.stderr).toContain('--accept-damaged-audit')

    const refusal = await newestRecord(data)
    expect(refusal).toMatchObject({ kind: 'system', action: 'audit.start-verify', code: 'PORTCULLIS_AUDIT_START_DAMAGED' })
    expect(refusal.fields).toMatchObject({ ok: false, from: 1, firstBad: { seq: Number(seq), problem: 'unreadable' } })

    const start = await acceptedStart(dir, data)
    expect(start.fields).toMatchObject({ acceptedDamagedAudit: true, startVerify: { ok: false, firstBad: { seq: Number(seq), problem: 'unreadable' } } })
    expect(start.reason).toContain('--accept-damaged-audit')
    // The damage stays in the store, so a start without the flag is refused again.
    expectFailedWith(await serveUntilExit(dir, data), 'PORTCULLIS_AUDIT_START_DAMAGED')
  }, 120_000)

  it('bytes flipped in the write-ahead log: refused naming the log, still refused at the next start, accepted with the flag', async () => {
    const { dir, data } = pathsIn('flipped-log')
    await makeStore(data)
    const log = flipLog(data)
    const first = await serveUntilExit(dir, data)
    expectFailedWith(first, 'PORTCULLIS_AUDIT_START_DAMAGED')
    expect(first.stderr).toContain(`${log}: dropping`)
    // LevelDB forgets the dropped log once it has opened the store; the recorded refusal does not.
    const second = await serveUntilExit(dir, data)
    expectFailedWith(second, 'PORTCULLIS_AUDIT_START_DAMAGED')
    expect(second.stderr).toContain(`${log}: dropping`)

    const start = await acceptedStart(dir, data)
    expect(start.fields).toMatchObject({ acceptedDamagedAudit: true, startVerify: { ok: false } })
    expect(JSON.stringify(start.fields)).toContain(`${log}: dropping`)
    // Once accepted, the next start checks out again.
    const plugin = await startPortcullis({ dir, policyFile: workspace.policyFile, keysDir: workspace.keysDir, dockerSocket: path.join(dir, 'no-dockerd.sock'), dataDir: data })
    try {
      const again = (await auditRecords(plugin, 3)).filter((r) => r.action === 'portcullis.start').at(-1)!
      expect(again.fields).toMatchObject({ startVerify: { ok: true } })
      expect(again.fields).not.toHaveProperty('acceptedDamagedAudit')
    } finally {
      await plugin.stop()
    }
  }, 120_000)

  it('a truncated table: serve, audit verify --data and audit export --data exit with PORTCULLIS_AUDIT_STORAGE naming the file', async () => {
    const { dir, data } = pathsIn('truncated-table')
    await makeStore(data)
    const table = truncateTable(data)
    const served = await serveUntilExit(dir, data)
    expectFailedWith(served, 'PORTCULLIS_AUDIT_STORAGE')
    expect(served.stderr).toContain(`file ${table}`)
    const verified = await runPortcullisCli(['audit', 'verify', '--data', data])
    expectFailedWith(verified, 'PORTCULLIS_AUDIT_STORAGE')
    expect(verified.stderr).toContain(`file ${table}`)
    const exported = await runPortcullisCli(['audit', 'export', '--data', data])
    expectFailedWith(exported, 'PORTCULLIS_AUDIT_STORAGE')
    expect(exported.stderr).toContain(`file ${table}`)
  }, 120_000)

  it('an intact store: portcullis.start records the range verified', async () => {
    const { dir, data } = pathsIn('intact')
    await makeStore(data, 200, 10)
    const plugin = await startPortcullis({ dir, policyFile: workspace.policyFile, keysDir: workspace.keysDir, dockerSocket: path.join(dir, 'no-dockerd.sock'), dataDir: data })
    try {
      const start = (await auditRecords(plugin, 3)).filter((r) => r.action === 'portcullis.start').at(-1)!
      expect(start.fields).toMatchObject({ startVerify: { ok: true, from: 1, to: 210, records: 210 } })
    } finally {
      await plugin.stop()
    }
  }, 120_000)
})
