// Issue 14, `fleet bundle`: an evidence bundle across hosts for a time range, read from a real PostgreSQL the hosts
// shipped to, checked offline by `audit verify-bundle` host by host. (These hosts record no sessions; the recordings a
// part holds are tested in fleet-recordings.test.ts.)
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cp, mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { portcullisCliOk, REPO_ROOT, removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { centralChain, withChangedRow } from '../helpers/fleet-chain.js'
import { makeFleetHost, type FleetHost } from '../helpers/fleet-host.js'
import { fleetLogin, startPostgres, type Postgres } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let pg: Postgres
let reviewerArgs: string[]
const hosts: FleetHost[] = []
let start: string
/** After the third host stopped for good: a range in which it has no records. */
let later: string

async function maxSeq (table: 'records' | 'checkpoints', host: FleetHost): Promise<number> {
  return Number((await pg.sql(`SELECT coalesce(max(seq), 0) FROM portcullis.${table} WHERE host_id = '${host.hostId}'`)).trim())
}

/** Runs a host, loads it and stops it, until the database holds a checkpoint its host signed at or after the last
 * record of the load. (The stop checkpoint is signed as the shipper drains and may miss that drain: the next start
 * ships it, so the host is started and stopped once more when it did.) */
async function runOnce (host: FleetHost, calls: number): Promise<void> {
  await host.start()
  expect(await host.load(calls, 4)).toBe(calls)
  await host.stop()
  let loaded = 0
  await waitUntil(`${host.name}'s records to be shipped`, async () => (loaded = await maxSeq('records', host)) > 0)
  for (let attempt = 0; attempt < 3; attempt++) {
    const signed = await waitUntil(`${host.name}'s checkpoint to be shipped`, async () => await maxSeq('checkpoints', host) >= loaded, { timeoutMs: 3_000 }).then(() => true, () => false)
    if (signed) return
    await host.start()
    await host.stop()
  }
  throw new Error(`${host.name}: no checkpoint at or after record ${loaded} reached the database`)
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-fleet-bundle-'))
  pg = await startPostgres(root)
  const policyFile = path.join(root, 'policy.json')
  writeFileSync(policyFile, readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json')))
  await portcullisCliOk(['fleet', 'init-db', '--fleet', pg.adminUrl])
  const hostArgs = (await fleetLogin(pg, root, 'fleet_hosts', 'host-secret', 'portcullis_ingest')).args
  reviewerArgs = (await fleetLogin(pg, root, 'reviewer', 'review-secret', 'portcullis_reader')).args
  start = new Date(Date.now() - 1000).toISOString()
  for (let i = 1; i <= 3; i++) hosts.push(await makeFleetHost(root, `host-${i}`, policyFile, hostArgs))
  await Promise.all(hosts.map(async (host) => await runOnce(host, 20)))
  await new Promise((resolve) => setTimeout(resolve, 20))
  later = new Date().toISOString()
  await Promise.all(hosts.slice(0, 2).map(async (host) => await runOnce(host, 10)))
}, 120_000)

afterAll(async () => {
  for (const host of hosts) await host.stop()
  await pg?.stop()
  if (root !== undefined) removeDirSync(root)
}, 60_000)

interface FleetVerdict {
  kind: 'fleet'
  ok: boolean
  hosts: Array<{ hostId: string, ok: boolean, note: string | null, report?: { records: number, onHost?: string[] } }>
  firstBad?: { host?: string, seq?: number, problem: string, file: string }
}

async function verify (bundle: string): Promise<{ code: number | null, report: FleetVerdict, text: string }> {
  const json = await runPortcullisCli(['audit', 'verify-bundle', '--json', bundle])
  const text = await runPortcullisCli(['audit', 'verify-bundle', bundle])
  return { code: json.code, report: JSON.parse(json.stdout) as FleetVerdict, text: text.stdout }
}

describe('fleet bundle', () => {
  it('bundles three hosts\' chains for a range, each part exactly the rows the database holds, and verify-bundle passes offline', { timeout: 30_000 }, async () => {
    const out = path.join(root, 'all')
    const written = await portcullisCliOk(['fleet', 'bundle', ...reviewerArgs, '--since', start, '--out', out])
    expect(written).toContain('session recordings are in each host\'s part')
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { kind: string, hosts: Array<{ hostId: string, dir: string, fromSeq: number, toSeq: number }> }
    expect(manifest.kind).toBe('fleet')
    expect(manifest.hosts.map((h) => h.hostId).sort()).toEqual(hosts.map((h) => h.hostId).sort())
    for (const entry of manifest.hosts) {
      const rows = await centralChain(pg, entry.hostId, { from: entry.fromSeq, to: entry.toSeq })
      expect(readFileSync(path.join(out, entry.dir, 'records.jsonl'), 'utf8').split('\n').filter((l) => l !== '')).toEqual(rows)
      expect(readFileSync(path.join(out, entry.dir, 'audit_ed25519.pub'), 'utf8')).toBe(readFileSync(path.join(hosts.find((h) => h.hostId === entry.hostId)!.keysDir, 'audit_ed25519.pub'), 'utf8'))
    }
    const report = readFileSync(path.join(out, 'report.html'), 'utf8')
    for (const host of hosts) expect(report).toContain(`href="hosts/${host.hostId}/report.html"`)
    expect(report).toContain('are in each host\'s part, as the fleet database holds them')
    const { code, report: verdict, text } = await verify(out)
    expect(code, text).toBe(0)
    expect(verdict.ok).toBe(true)
    expect(verdict.hosts.every((h) => h.ok && (h.report?.records ?? 0) > 20)).toBe(true)
    expect(text).toContain('fleet bundle intact: 3 host(s)')
    expect(text).not.toContain('session recordings left on their hosts')
  })

  it('a record line changed in one host\'s part fails verify-bundle, naming that host and the seq', { timeout: 30_000 }, async () => {
    const out = path.join(root, 'tampered')
    await cp(path.join(root, 'all'), out, { recursive: true })
    const victim = hosts[1]!
    const file = path.join(out, 'hosts', victim.hostId, 'records.jsonl')
    const lines = readFileSync(file, 'utf8').split('\n')
    const index = lines.findIndex((line) => line.includes('"alice"'))
    lines[index] = lines[index]!.replace('"alice"', '"mallory"')
    writeFileSync(file, lines.join('\n'))
    const seq = (JSON.parse(lines[index]!) as { seq: number }).seq
    const { code, report, text } = await verify(out)
    expect(code).toBe(1)
    expect(report.firstBad).toMatchObject({ host: victim.hostId, seq, problem: 'hash-mismatch', file: `hosts/${victim.hostId}/records.jsonl` })
    expect(report.hosts.filter((h) => !h.ok).map((h) => h.hostId)).toEqual([victim.hostId])
    expect(text).toContain(`fleet bundle BROKEN: host ${victim.hostId}, hosts/${victim.hostId}/records.jsonl, record ${seq}: hash-mismatch`)
  })

  it('a host with no records in the range is listed with no part, and the bundle still verifies', { timeout: 30_000 }, async () => {
    const out = path.join(root, 'later')
    await portcullisCliOk(['fleet', 'bundle', ...reviewerArgs, '--since', later, '--out', out])
    const { code, report } = await verify(out)
    expect(code).toBe(0)
    const third = report.hosts.find((h) => h.hostId === hosts[2]!.hostId)!
    expect(third).toMatchObject({ ok: true, note: 'no records in the range' })
    expect(third.report).toBeUndefined()
    expect(report.hosts.filter((h) => h.report !== undefined)).toHaveLength(2)
  })

  it('writes a .tar.gz of the hosts named, which verify-bundle checks the same way', { timeout: 30_000 }, async () => {
    const out = path.join(root, 'two.tar.gz')
    await portcullisCliOk(['fleet', 'bundle', ...reviewerArgs, '--host', hosts[0]!.hostId, '--host', hosts[2]!.hostId, '--since', start, '--until', later, '--out', out])
    const { code, report, text } = await verify(out)
    expect(code, text).toBe(0)
    expect(report.hosts.map((h) => h.hostId).sort()).toEqual([hosts[0]!.hostId, hosts[2]!.hostId].sort())
  })

  it('a row changed in the database stops the bundle, naming the host, and leaves no bundle behind', { timeout: 30_000 }, async () => {
    const victim = hosts[0]!
    await withChangedRow(pg, victim.hostId, 3, async () => {
      const out = path.join(root, 'from-a-changed-row')
      const result = await runPortcullisCli(['fleet', 'bundle', ...reviewerArgs, '--since', start, '--out', out])
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('[PORTCULLIS_FLEET_BUNDLE_HOST]')
      expect(result.stderr).toContain(`Cannot bundle host ${victim.hostId}`)
      expect(result.stderr).toContain('record 3 does not check out')
      expect(existsSync(out)).toBe(false)
    })
  })

  it('refuses bad input with coded errors that say what to do', { timeout: 30_000 }, async () => {
    const noSince = await runPortcullisCli(['fleet', 'bundle', ...reviewerArgs, '--out', path.join(root, 'x')])
    expect(noSince.code).toBe(2)
    expect(noSince.stderr).toContain('[PORTCULLIS_USAGE]')
    expect(noSince.stderr).toContain('--since is required')
    const badHost = await runPortcullisCli(['fleet', 'bundle', ...reviewerArgs, '--since', start, '--host', 'web1', '--out', path.join(root, 'x')])
    expect(badHost.stderr).toContain('--host web1 is not a host ID')
    const unknown = await runPortcullisCli(['fleet', 'bundle', ...reviewerArgs, '--since', start, '--host', 'h-0000000000000000', '--out', path.join(root, 'x')])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('[PORTCULLIS_FLEET_NO_HOST]')
    const taken = await runPortcullisCli(['fleet', 'bundle', ...reviewerArgs, '--since', start, '--out', path.join(root, 'all')])
    expect(taken.stderr).toContain('[PORTCULLIS_AUDIT_BUNDLE_DIR_NOT_EMPTY]')
    const key = await runPortcullisCli(['audit', 'verify-bundle', '--public-key', path.join(hosts[0]!.keysDir, 'audit_ed25519.pub'), path.join(root, 'all')])
    expect(key.code).toBe(2)
    expect(key.stderr).toContain('[PORTCULLIS_AUDIT_BUNDLE_FLEET_KEY]')
  })
})
