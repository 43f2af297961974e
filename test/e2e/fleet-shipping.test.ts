// Issue 14, shipping the audit: `serve --fleet URL` ships every record of its chain, exactly as stored, to a real
// PostgreSQL (Debian's server, initdb'd into a temp dir). Twenty hosts under load, one killed with SIGKILL mid-run,
// PostgreSQL stopped mid-run: afterwards each host's chain in the database matches its local chain record by
// record, with no gap and no duplicate, and `fleet verify` passes. A changed central row is named by `fleet verify`.
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { portcullisCliOk, REPO_ROOT, removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { centralChain, localChain, withChangedRow } from '../helpers/fleet-chain.js'
import { makeFleetHost, shippedAll, type FleetHost } from '../helpers/fleet-host.js'
import { fleetLogin, startPostgres, type Postgres } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let pg: Postgres
let policyFile: string
let hostArgs: string[]
let reviewerArgs: string[]
const hosts: FleetHost[] = []
const HOSTS = 20
const CALLS = 100

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-fleet-'))
  pg = await startPostgres(root)
  policyFile = path.join(root, 'policy.json')
  writeFileSync(policyFile, readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json')))
  await portcullisCliOk(['fleet', 'init-db', '--fleet', pg.adminUrl])
  // One login role for the hosts and one for reviewers, members of the roles init-db made.
  hostArgs = (await fleetLogin(pg, root, 'fleet_hosts', 'host-secret', 'portcullis_ingest')).args
  reviewerArgs = (await fleetLogin(pg, root, 'reviewer', 'review-secret', 'portcullis_reader')).args
}, 120_000)

afterAll(async () => {
  for (const host of hosts) await host.stop()
  await pg?.stop()
  if (root !== undefined) removeDirSync(root)
}, 60_000)

/** The host's local chain as stored (serve stopped), and its rows in the database, in seq order. */
async function chains (host: FleetHost): Promise<{ local: string[], central: string[] }> {
  return { local: await localChain(host.data), central: await centralChain(pg, host.hostId) }
}

describe('serve --fleet ships its chain to PostgreSQL', () => {
  it('twenty hosts under load, one killed with SIGKILL and PostgreSQL restarted mid-run: every record arrives once, exactly as stored, and fleet verify passes', { timeout: 300_000 }, async () => {
    for (let i = 1; i <= HOSTS; i++) hosts.push(await makeFleetHost(root, `host-${i}`, policyFile, hostArgs))
    for (let i = 0; i < HOSTS; i += 5) await Promise.all(hosts.slice(i, i + 5).map(async (host) => await host.start()))
    const loads = hosts.map(async (host) => await host.load(CALLS, 4))
    // Mid-run: a host dies without a word and comes back, and the database goes away and comes back.
    const victim = hosts[2]!
    await waitUntil('the victim to ship some records', async () => (await victim.fleetStatus()).shippedSeq > 20)
    await victim.kill()
    await pg.stop()
    await victim.start()
    await pg.start()
    const allowed = await Promise.all(loads)
    expect(allowed.filter((n, i) => i !== 2 && n !== CALLS)).toEqual([])
    await Promise.all(hosts.map(shippedAll))
    // The stop record is shipped too: serve drains before it exits.
    await Promise.all(hosts.map(async (host) => await host.stop()))
    for (const host of hosts) {
      const { local, central } = await chains(host)
      expect(central.length).toBeGreaterThan(0)
      expect(central, host.name).toEqual(local)
    }
    const verify = await runPortcullisCli(['fleet', 'verify', ...reviewerArgs])
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    expect(verify.stdout).toContain(`all ${HOSTS} host(s) hold`)
    const status = JSON.parse((await portcullisCliOk(['fleet', 'status', '--json', ...reviewerArgs]))) as Array<{ hostId: string, lag: number, alarms: number }>
    expect(status.map((h) => h.hostId).sort()).toEqual(hosts.map((h) => h.hostId).sort())
    expect(status.every((h) => h.lag === 0 && h.alarms === 0)).toBe(true)
    // Each host that was running when the database went away recorded the outage and the return.
    const actions = (await chains(hosts[0]!)).local.map((line) => (JSON.parse(line) as { action: string }).action)
    expect(actions).toContain('fleet.unreachable')
    expect(actions).toContain('fleet.connected')
  })

  it('fleet export streams the hosts\' records with the filters of audit export, each record exactly as its host stored it', { timeout: 60_000 }, async () => {
    const lines = (await portcullisCliOk(['fleet', 'export', ...reviewerArgs])).split('\n').filter((l) => l !== '')
    for (const host of hosts) {
      const { local } = await chains(host)
      const mine = lines.filter((line) => line.startsWith(`{"host":"${host.hostId}","hostName":${JSON.stringify(os.hostname())},"record":`))
      // The wrapper holds the stored text unchanged: cut it out and it is the host's own line.
      expect(mine.map((line) => line.slice(line.indexOf('"record":') + 9, -1))).toEqual(local)
    }
    const starts = (await portcullisCliOk(['fleet', 'export', '--host', hosts[1]!.hostId, '--action', 'portcullis.*', ...reviewerArgs])).split('\n').filter((l) => l !== '')
    expect(starts.map((line) => (JSON.parse(line) as { record: { action: string } }).record.action)).toEqual(['portcullis.start', 'portcullis.stop'])
    const killed = (await portcullisCliOk(['fleet', 'export', '--host', hosts[2]!.hostId, '--action', 'portcullis.*', ...reviewerArgs])).split('\n').filter((l) => l !== '')
    // The killed host wrote no stop record for its first run: two starts, one stop.
    expect(killed.map((line) => (JSON.parse(line) as { record: { action: string } }).record.action)).toEqual(['portcullis.start', 'portcullis.start', 'portcullis.stop'])
    const csv = await portcullisCliOk(['fleet', 'export', '--format', 'csv', '--decision', 'allow', '--user', 'alice', '--action', 'container.list', ...reviewerArgs])
    expect(csv.startsWith('host,hostName,seq,time,kind,user')).toBe(true)
    expect(csv.trim().split('\r\n').length - 1).toBeGreaterThanOrEqual((HOSTS - 1) * CALLS)
  })

  it('with PostgreSQL down, decisions go on, the lag is reported and recorded, and it drains once the database is back', { timeout: 180_000 }, async () => {
    const host = hosts[1]!
    await host.start()
    await shippedAll(host)
    await pg.stop()
    expect(await host.load(300)).toBe(300)
    await waitUntil('the outage to show in status', async () => {
      const status = await host.fleetStatus()
      return status.state === 'unreachable' && status.lag >= 300
    })
    // What an operator sees: `portcullis status` reports the outage and the lag.
    const shown = JSON.parse(await portcullisCliOk(['status', '-o', 'json', '--admin-socket', host.adminSocket])) as { fleet: { state: string, lag: number } }
    expect(shown.fleet.state).toBe('unreachable')
    expect(shown.fleet.lag).toBeGreaterThanOrEqual(300)
    await pg.start()
    await shippedAll(host)
    await host.stop()
    const { local, central } = await chains(host)
    expect(central).toEqual(local)
    const actions = local.map((line) => (JSON.parse(line) as { action: string }).action)
    expect(actions).toContain('fleet.unreachable')
    expect(actions).toContain('fleet.connected')
  })

  it('a changed row in the database is named by fleet verify: the host and the first bad seq', { timeout: 60_000 }, async () => {
    const host = hosts[2]!
    await withChangedRow(pg, host.hostId, 7, async () => {
      const verify = await runPortcullisCli(['fleet', 'verify', ...reviewerArgs])
      expect(verify.code).toBe(1)
      expect(verify.stdout).toMatch(new RegExp(`FAIL ${host.hostId}.*\\n  first bad record 7: the row was changed`))
      expect(verify.stdout).toContain(`1 of ${HOSTS} host(s) do not hold`)
      // The reviewer role may read, never write.
      const write = await runPortcullisCli(['fleet', 'init-db', ...reviewerArgs])
      expect(write.code).toBe(2)
    })
    const again = await runPortcullisCli(['fleet', 'verify', '--host', host.hostId, ...reviewerArgs])
    expect(again.code, again.stdout).toBe(0)
  })

  it('the hosts\' role may insert and read, never change or delete history, and a host\'s own login touches only its own rows', { timeout: 30_000 }, async () => {
    await pg.sql("CREATE ROLE intruder LOGIN PASSWORD 'intruder-secret' IN ROLE portcullis_ingest")
    const { execFile } = await import('node:child_process')
    const psql = (user: string, password: string, statement: string): Promise<string> => new Promise((resolve) => {
      execFile('psql', ['-h', pg.socketDir, '-p', String(pg.port), '-U', user, '-d', 'portcullis', '-At', '-c', statement], { env: { ...process.env, PGPASSWORD: password } }, (_err, stdout, stderr) => resolve(stdout + stderr))
    })
    const asHosts = (statement: string): Promise<string> => psql('fleet_hosts', 'host-secret', statement)
    expect(await asHosts('DELETE FROM portcullis.records')).toContain('permission denied')
    expect(await asHosts("UPDATE portcullis.records SET body = 'x'")).toContain('permission denied')
    expect(await asHosts('TRUNCATE portcullis.records')).toContain('permission denied')
    // Another login in the ingest role sees no host's rows and cannot write under their IDs or take them over.
    const victim = hosts[0]!.hostId
    const asIntruder = (statement: string): Promise<string> => psql('intruder', 'intruder-secret', statement)
    expect((await asIntruder('SELECT count(*) FROM portcullis.records')).trim()).toBe('0')
    expect(await asIntruder(`INSERT INTO portcullis.records (host_id, seq, time, kind, hash, prev_hash, body) VALUES ('${victim}', 999999, now(), 'decision', 'x', 'y', '{}')`)).toContain('row-level security')
    // The registering login is the database's to set (no column grant), so naming another is refused outright.
    expect(await asIntruder(`INSERT INTO portcullis.hosts (host_id, name, key_id, public_key, db_user) VALUES ('h-00000000000000aa', 'x', 'k', 'p', 'fleet_hosts')`)).toContain('permission denied')
    expect(await asIntruder(`INSERT INTO portcullis.alarms (host_id, kind, detail) VALUES ('${victim}', 'fork', 'forged')`)).toContain('row-level security')
  })
})
