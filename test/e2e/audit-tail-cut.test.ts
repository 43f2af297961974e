// A store whose last records were cut off verifies on its own: its chain is intact, only shorter (issue 12, item 2).
// `serve` writes the head (seq and hash of the newest durable record) into HEAD.json beside LevelDB and into its
// log at every start, stop and checkpoint; a store found behind HEAD.json is refused with the missing records
// named, and log copies show a store restored from an older copy. A directory emptied but for HEAD.json is refused
// too, never made into a new store.
import { cpSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { HEAD_FILE, readHeadFile, type HeadFile } from '../../src/audit/head-file.js'
import type { AuditRecord } from '../../src/audit/record.js'
import { auditRecords } from '../helpers/audit.js'
import { forgetJournal, makeStore, newestRecord } from '../helpers/damaged-store.js'
import { runPortcullisCli, startPortcullis } from '../helpers/index.js'
import { expectFailedWith, serveWorkspace } from '../helpers/serve-workspace.js'

const workspace = serveWorkspace('portcullis-tail-cut-')
const { pathsIn, serveUntilExit } = workspace

/** Starts serve (with `extra` arguments), answers its newest portcullis.start record, and stops it. */
async function serveOnce (dir: string, data: string, extra: string[] = []): Promise<AuditRecord> {
  const plugin = await startPortcullis({ dir, policyFile: workspace.policyFile, keysDir: workspace.keysDir, dockerSocket: path.join(dir, 'no-dockerd.sock'), dataDir: data, extraArgs: extra })
  try {
    return (await auditRecords(plugin, 10)).filter((r) => r.action === 'portcullis.start').at(-1)!
  } finally {
    await plugin.stop()
  }
}

function headFile (data: string): HeadFile {
  const head = readHeadFile(data)
  if (head === null || 'unreadable' in head) throw new Error(`no readable ${HEAD_FILE} in ${data}`)
  return head
}

/** The newest write-ahead log: after serve's open, it holds only what that run wrote. */
function newestLog (data: string): string {
  const logs = readdirSync(data).filter((name) => name.endsWith('.log')).sort()
  expect(logs.length).toBeGreaterThan(0)
  return path.join(data, logs.at(-1)!)
}

describe('serve records the head outside LevelDB', () => {
  it('in portcullis.start, portcullis.stop, HEAD.json (0600) and its log, at start, stop and checkpoint', async () => {
    const { dir, data } = pathsIn('recorded')
    await makeStore(data, 100, 5)
    const start = await serveOnce(dir, data)
    expect(start.fields).toMatchObject({ head: { seq: 105 } })
    const written = headFile(data)
    expect(written.event).toBe('stop')
    expect(statSync(path.join(data, HEAD_FILE)).mode & 0o777).toBe(0o600)
    const stop = await newestRecord(data)
    expect(stop).toMatchObject({ action: 'portcullis.stop', seq: written.seq, hash: written.hash })
    expect(stop.fields).toMatchObject({ head: { seq: written.seq - 1 } })
    const logged = readFileSync(path.join(dir, 'portcullis.log'), 'utf8').split('\n').filter((line) => line.includes('"audit head"')).map((line) => JSON.parse(line) as { event: string, head: { seq: number, hash: string } })
    expect(logged.map((line) => line.event)).toEqual(['start', 'stop', 'stop'])
    expect(logged.at(-1)!.head).toEqual({ seq: written.seq, hash: written.hash })
  }, 120_000)
})

describe('a cut tail is refused at start', () => {
  it('the newest write-ahead log deleted alone: the journal puts its records back, and the start checks out', async () => {
    const { dir, data } = pathsIn('log-deleted-alone')
    await makeStore(data, 200, 10)
    await serveOnce(dir, data)
    const known = headFile(data)
    unlinkSync(newestLog(data))
    const start = await serveOnce(dir, data)
    expect(start.fields).toMatchObject({ startVerify: { ok: true }, head: { seq: known.seq, hash: known.hash } })
    expect(start.fields).toHaveProperty('journalRestored')
  }, 120_000)

  it('the newest write-ahead log and the journal deleted after a stop: refused naming the records gone, still refused, accepted with the flag and recorded', async () => {
    const { dir, data } = pathsIn('log-deleted')
    await makeStore(data, 200, 10)
    await serveOnce(dir, data)
    const known = headFile(data)
    unlinkSync(newestLog(data))
    forgetJournal(data)

    const first = await serveUntilExit(dir, data)
    expectFailedWith(first, 'PORTCULLIS_AUDIT_START_DAMAGED')
    const range = new RegExp(`records (\\d+)\\.\\.${known.seq} \\(known at the last stop at ${known.time}\\) are gone`).exec(first.stderr)
    expect(range, first.stderr).not.toBeNull()
    expect(Number(range![1])).toBeLessThanOrEqual(known.seq)
    expect(Number(range![1])).toBeGreaterThan(210)
    const refusal = await newestRecord(data)
    expect(refusal).toMatchObject({ action: 'audit.start-verify', code: 'PORTCULLIS_AUDIT_START_DAMAGED', fields: { tailCut: { seq: known.seq, hash: known.hash } } })

    // The refusal recorded does not make the cut store pass the next time.
    expectFailedWith(await serveUntilExit(dir, data), 'PORTCULLIS_AUDIT_START_DAMAGED')

    const accepted = await serveOnce(dir, data, ['--accept-damaged-audit'])
    expect(accepted.fields).toMatchObject({ acceptedDamagedAudit: true, startVerify: { ok: false, tailCut: { seq: known.seq } } })
    expect(accepted.reason).toContain('are gone')
    // Accepted: HEAD.json now names the store's own head, and the next start checks out.
    const again = await serveOnce(dir, data)
    expect(again.fields).toMatchObject({ startVerify: { ok: true } })
    expect(again.fields).not.toHaveProperty('acceptedDamagedAudit')
  }, 180_000)

  it('the newest write-ahead log truncated and the journal lost: refused naming the records gone', async () => {
    const { dir, data } = pathsIn('log-truncated')
    await makeStore(data, 200, 10)
    await serveOnce(dir, data)
    const known = headFile(data)
    const log = newestLog(data)
    truncateSync(log, Math.floor(statSync(log).size / 3))
    forgetJournal(data)

    const result = await serveUntilExit(dir, data)
    expectFailedWith(result, 'PORTCULLIS_AUDIT_START_DAMAGED')
    expect(result.stderr).toMatch(new RegExp(`records \\d+\\.\\.${known.seq} \\(known at the last stop at `))
    // Offline too: the chain of what is left verifies, HEAD.json shows what is missing.
    const verified = await runPortcullisCli(['audit', 'verify', '--data', data, '--keys', workspace.keysDir])
    expect(verified.code, verified.stderr).toBe(1)
    expect(verified.stdout).toMatch(new RegExp(`records \\d+\\.\\.${known.seq} \\(known at the last stop at `))
  }, 120_000)

  it('a directory restored from an older copy: audit verify with the log copies names the cut tail, not expired records', async () => {
    const { dir, data } = pathsIn('restored')
    await makeStore(data, 200, 10)
    await serveOnce(dir, data)
    const older = path.join(dir, 'backup')
    cpSync(data, older, { recursive: true })
    const olderHead = headFile(older)
    await serveOnce(dir, data)
    const newer = headFile(data)
    rmSync(data, { recursive: true })
    cpSync(older, data, { recursive: true })

    const result = await runPortcullisCli(['audit', 'verify', '--data', data, '--keys', workspace.keysDir, '--checkpoints', path.join(dir, 'portcullis.log'), '--json'])
    expect(result.code, result.stderr).toBe(1)
    const report = JSON.parse(result.stdout) as { firstBad: { seq: number, problem: string, detail: string }, checkpointCopies: { expired: number } }
    expect(report.firstBad).toMatchObject({ seq: olderHead.seq + 1, problem: 'tail-cut' })
    expect(report.firstBad.detail).toContain(`records ${olderHead.seq + 1}..${newer.seq}`)
    expect(report.checkpointCopies.expired).toBe(0)
    const text = await runPortcullisCli(['audit', 'verify', '--data', data, '--keys', workspace.keysDir, '--checkpoints', path.join(dir, 'portcullis.log')])
    expect(text.code).toBe(1)
    expect(text.stdout).toContain(`records ${olderHead.seq + 1}..${newer.seq}`)
  }, 180_000)
})

describe('a directory emptied but for HEAD.json', () => {
  it('is refused naming the record HEAD.json names, with or without --accept-damaged-audit, and nothing is made in it', async () => {
    const { dir, data } = pathsIn('emptied')
    await makeStore(data, 50, 5)
    await serveOnce(dir, data)
    const known = headFile(data)
    for (const name of readdirSync(data)) if (name !== HEAD_FILE) rmSync(path.join(data, name), { recursive: true })

    for (const extra of [[], ['--accept-damaged-audit']]) {
      const result = await serveUntilExit(dir, data, { extra })
      expectFailedWith(result, 'PORTCULLIS_AUDIT_EMPTIED')
      expect(result.stderr).toContain(`HEAD.json names record ${known.seq}`)
      expect(readdirSync(data)).toEqual([HEAD_FILE])
    }
    const verified = await runPortcullisCli(['audit', 'verify', '--data', data])
    expectFailedWith(verified, 'PORTCULLIS_AUDIT_EMPTIED')
  }, 120_000)
})
