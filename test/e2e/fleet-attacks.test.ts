// Attacks on the fleet database, against a real PostgreSQL (Debian's server, initdb'd into a temp dir), each login a
// role of its own as docs/fleet.md's setup makes them:
// - no login of the three roles (ingest, reader, publisher) can rewrite history: UPDATE, DELETE, TRUNCATE, an upsert
//   and DROP on every table are refused, and every row is as it was;
// - a second login that registers a host's ID first (squatting) gets nothing of the real host: the real host raises a
//   host-key alarm and writes nothing under the squatter's registration, and nothing is overwritten;
// - a superuser who deletes the newest policy revisions takes a host with no last good copy back to the older, still
//   signed one: the host records that it started from the database without a copy, and --policy-min-revision refuses.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordingShipSource } from '../../src/audit/ship-source.js'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { AuditStore } from '../../src/audit/store.js'
import { connectFleet, fleetTarget } from '../../src/fleet/connection.js'
import { ensureHostId, type HostIdentity } from '../../src/fleet/host-identity.js'
import { RecordingShipper } from '../../src/fleet/recording-shipper.js'
import { FleetShipper } from '../../src/fleet/shipper.js'
import { adminGet, makeFleetHost, type FleetHost } from '../helpers/fleet-host.js'
import { portcullisCliOk, REPO_ROOT, removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { startPostgres, type Postgres } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/wait.js'
import { MemoryChain } from '../fakes/ship-source.js'

let root: string
let db: Postgres
const logger = pino({ level: 'silent' })
const LOGINS = { web1: 'portcullis_ingest', squatter: 'portcullis_ingest', reviewer: 'portcullis_reader', ops: 'portcullis_publisher' } as const
type Login = keyof typeof LOGINS
const hosts: FleetHost[] = []

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'portcullis-fleet-attacks-'))
  db = await startPostgres(root)
  await portcullisCliOk(['fleet', 'init-db', '--fleet', db.adminUrl])
  for (const [login, role] of Object.entries(LOGINS)) {
    await db.sql(`CREATE ROLE ${login} LOGIN PASSWORD '${login}-pw' IN ROLE ${role}`)
    writeFileSync(passwordFile(login as Login), `${login}-pw\n`, { mode: 0o600 })
  }
  await portcullisCliOk(['policy', 'keygen', '--out', path.join(root, 'policy-keys')])
}, 120_000)

afterAll(async () => {
  await Promise.all(hosts.map(async (host) => await host.stop()))
  await db?.stop()
  if (root !== undefined) removeDirSync(root)
}, 60_000)

function passwordFile (login: Login): string {
  return path.join(root, `${login}.pw`)
}

function target (login: Login): ReturnType<typeof fleetTarget> {
  return fleetTarget(db.url(login), passwordFile(login))
}

let identities = 0
function newIdentity (name: string): HostIdentity {
  const dir = path.join(root, `keys-${++identities}`)
  const key = ensureAuditKey(dir).key
  return { hostId: ensureHostId(dir).hostId, name, key }
}

async function shipAll (login: Login, identity: HostIdentity, chain: MemoryChain): Promise<void> {
  const shipper = new FleetShipper({ target: target(login), identity, source: chain, logger, version: 'test', policyDigest: () => 'digest', heartbeatMs: 200 })
  shipper.start()
  try {
    await waitUntil('the chain shipped', () => shipper.status().shippedSeq === chain.head().seq && shipper.status().lag === 0)
  } finally {
    await shipper.stop()
  }
}

/** Every row of every fleet table, as the superuser reads them: what no attack may change. */
async function snapshot (): Promise<string> {
  const tables = ['hosts', 'records', 'checkpoints', 'heartbeats', 'alarms', 'policy_revisions']
  return (await Promise.all(tables.map(async (t) => `${t}: ${await db.sql(`SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) || ' ' || count(*) FROM portcullis.${t} x`)}`))).join('')
}

describe('no role can rewrite history', () => {
  it('ingest, reader and publisher logins are refused UPDATE, DELETE, TRUNCATE, an upsert and DROP on every table, and every row stays', { timeout: 120_000 }, async () => {
    const identity = newIdentity('web-1')
    const chain = new MemoryChain()
    await chain.add(5)
    await shipAll('web1', identity, chain)
    await db.sql(`INSERT INTO portcullis.alarms (host_id, kind, seq, detail) VALUES ('${identity.hostId}', 'gap', 3, 'for the test')`)
    await portcullisCliOk(['policy', 'publish', '--fleet', db.url('ops'), '--fleet-password-file', passwordFile('ops'), '--key', path.join(root, 'policy-keys', 'policy_ed25519.key'),
      path.join(REPO_ROOT, 'examples', 'policy.json')])
    const before = await snapshot()
    expect(before).toMatch(/records: \w+ 5\n/)
    const h = `'${identity.hostId}'`
    const attempts: Record<string, string[]> = {
      records: [`UPDATE portcullis.records SET body = 'forged' WHERE host_id = ${h}`, `DELETE FROM portcullis.records WHERE host_id = ${h}`, 'TRUNCATE portcullis.records CASCADE',
        `INSERT INTO portcullis.records SELECT * FROM portcullis.records WHERE host_id = ${h} ON CONFLICT (host_id, seq) DO UPDATE SET body = 'forged'`, 'DROP TABLE portcullis.records'],
      received: [`INSERT INTO portcullis.records (host_id, seq, time, kind, hash, prev_hash, body, received_at) VALUES (${h}, 99, now(), 'x', 'x', 'x', 'x', '2001-01-01')`,
        `INSERT INTO portcullis.hosts (host_id, name, key_id, public_key, registered_at) VALUES ('h-00000000000000ff', 'x', 'x', 'x', '2001-01-01')`,
        `INSERT INTO portcullis.hosts (host_id, name, key_id, public_key, db_user) VALUES ('h-00000000000000fe', 'x', 'x', 'x', 'reviewer')`],
      checkpoints: ['UPDATE portcullis.checkpoints SET body = \'forged\'', 'DELETE FROM portcullis.checkpoints', 'TRUNCATE portcullis.checkpoints', 'DROP TABLE portcullis.checkpoints'],
      hosts: [`UPDATE portcullis.hosts SET key_id = 'forged' WHERE host_id = ${h}`, `DELETE FROM portcullis.hosts WHERE host_id = ${h}`, 'TRUNCATE portcullis.hosts CASCADE',
        `INSERT INTO portcullis.hosts (host_id, name, key_id, public_key) VALUES (${h}, 'x', 'forged', 'x') ON CONFLICT (host_id) DO UPDATE SET key_id = 'forged'`, 'DROP TABLE portcullis.hosts CASCADE'],
      heartbeats: ['UPDATE portcullis.heartbeats SET head_seq = 0', 'DELETE FROM portcullis.heartbeats', 'TRUNCATE portcullis.heartbeats',
        `INSERT INTO portcullis.heartbeats (id, host_id, head_seq, shipped_seq, version) VALUES (9223372036854775807, ${h}, 1, 1, 'x')`,
        `INSERT INTO portcullis.heartbeats (host_id, head_seq, shipped_seq, version, at) VALUES (${h}, 1, 1, 'x', '2001-01-01')`],
      alarms: ['UPDATE portcullis.alarms SET detail = \'nothing\'', 'DELETE FROM portcullis.alarms', 'TRUNCATE portcullis.alarms', 'DROP TABLE portcullis.alarms',
        // The database sets ids and times: an id ahead of the sequence would make another host's next alarm fail, or
        // a row the newest; a backdated time would hide it.
        `INSERT INTO portcullis.alarms (id, host_id, kind, seq, detail) VALUES (9223372036854775807, ${h}, 'gap', 1, 'x')`,
        `INSERT INTO portcullis.alarms (host_id, kind, seq, detail, at) VALUES (${h}, 'gap', 1, 'x', '2001-01-01')`],
      policy_revisions: ['UPDATE portcullis.policy_revisions SET publisher = \'forged\'', 'DELETE FROM portcullis.policy_revisions', 'TRUNCATE portcullis.policy_revisions',
        'INSERT INTO portcullis.policy_revisions SELECT * FROM portcullis.policy_revisions ON CONFLICT (revision) DO UPDATE SET publisher = \'forged\'', 'DROP TABLE portcullis.policy_revisions']
    }
    const allowed: string[] = []
    for (const login of ['web1', 'reviewer', 'ops'] as const) {
      const client = await connectFleet(target(login))
      try {
        for (const statements of Object.values(attempts)) {
          for (const statement of statements) {
            const code = await client.query(statement).then(() => 'done', (err: { code?: string }) => err.code ?? 'none')
            // 42501: insufficient privilege (or not the owner, for DROP).
            if (code !== '42501') allowed.push(`${login}: ${statement} -> ${code}`)
          }
        }
      } finally {
        await client.end()
      }
    }
    expect(allowed).toEqual([])
    expect(await snapshot()).toBe(before)
  })
})

describe('host-ID squatting with separate logins', () => {
  it('a login that registered the real host\'s ID first gets a host-key alarm from the real host, which writes nothing under it; nothing is overwritten', { timeout: 120_000 }, async () => {
    const real = newIdentity('web-2')
    // The squatter knows the host's ID (it is no secret: fleet status lists it) but not its key; it registers the ID
    // with a key of its own and ships a chain of its own under it.
    const squatter: HostIdentity = { hostId: real.hostId, name: 'web-2', key: ensureAuditKey(path.join(root, 'squatter-key')).key }
    const forged = new MemoryChain()
    await forged.add(3, 'mallory')
    await shipAll('squatter', squatter, forged)
    const registered = await db.sql(`SELECT key_id || ' ' || db_user FROM portcullis.hosts WHERE host_id = '${real.hostId}'`)
    expect(registered).toBe(`${squatter.key.keyId} squatter\n`)
    const before = await snapshot()

    const chain = new MemoryChain()
    await chain.add(10)
    const shipper = new FleetShipper({ target: target('web1'), identity: real, source: chain, logger, version: 'test', policyDigest: () => 'digest', heartbeatMs: 200 })
    shipper.start()
    try {
      await waitUntil('the host-key alarm', () => shipper.status().state === 'halted')
      expect(shipper.status().halted).toMatchObject({ kind: 'host-key', seq: null })
      expect(shipper.status().lag).toBeGreaterThanOrEqual(10)
      // It stays halted as its chain grows: nothing is shipped after the alarm.
      await chain.add(3)
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      expect(shipper.status().state).toBe('halted')
    } finally {
      await shipper.stop()
    }
    // The alarm is in the real host's own chain, naming the key the database holds for its ID.
    // Once: the shipper reconnects while halted, and finds the same registration each time.
    const alarms = chain.rows.map((r) => r.record).filter((r) => r.action === 'fleet.alarm')
    expect(alarms).toHaveLength(1)
    const alarm = alarms[0]
    expect(alarm).toMatchObject({ code: 'PORTCULLIS_FLEET_ALARM', fields: { alarm: 'host-key', seq: null } })
    expect(alarm?.reason).toContain(squatter.key.keyId)
    // Nothing of the squatter's changed: the registration and its records are as they were, and nothing of the real
    // host's chain is in the database. The one new row is the real host's host-key alarm on the ID, which a login
    // may raise on an ID it does not own; the database names the login that raised it.
    const after = await snapshot()
    expect(after.split('\n').filter((line) => !line.startsWith('alarms:'))).toEqual(before.split('\n').filter((line) => !line.startsWith('alarms:')))
    expect(await db.sql(`SELECT body FROM portcullis.records WHERE host_id = '${real.hostId}' ORDER BY seq`)).toBe(forged.rows.map((r) => r.text + '\n').join(''))
    expect(await db.sql(`SELECT kind || ' ' || reported_by FROM portcullis.alarms WHERE host_id = '${real.hostId}'`)).toBe('host-key web1\n')
    // What fleet status shows a reviewer: the ID under the squatter's key, with its three records and the real host's
    // alarm, raised by the real host's login.
    const status = await runPortcullisCli(['fleet', 'status', '--fleet', db.url('reviewer'), '--fleet-password-file', passwordFile('reviewer'), '--json'])
    expect(status.stderr).toBe('')
    expect(status.code).toBe(1)
    const listed = (JSON.parse(status.stdout) as Array<{ hostId: string, keyId: string, records: number, alarms: number, lastAlarm: { kind: string, reportedBy: string } }>).find((h) => h.hostId === real.hostId)
    expect(listed).toMatchObject({ keyId: squatter.key.keyId, records: 3, alarms: 1, lastAlarm: { kind: 'host-key', reportedBy: 'web1' } })
    expect(listed?.keyId).not.toBe(real.key.keyId)
    // The alarm's author is the database's word, not the writer's: a login that names another as the author is
    // overruled, and an alarm of another kind on an ID it does not own is refused.
    const web1 = await connectFleet(target('web1'))
    try {
      await expect(web1.query(`INSERT INTO portcullis.alarms (host_id, kind, seq, detail, reported_by) VALUES ($1, 'host-key', null, 'again', 'squatter')`, [real.hostId]))
        .rejects.toThrow(/permission denied/)
      await web1.query(`INSERT INTO portcullis.alarms (host_id, kind, seq, detail) VALUES ($1, 'host-key', null, 'again')`, [real.hostId])
      expect(await db.sql('SELECT reported_by FROM portcullis.alarms WHERE detail = \'again\'')).toBe('web1\n')
      await expect(web1.query(`INSERT INTO portcullis.alarms (host_id, kind, seq, detail) VALUES ($1, 'gap', 1, 'forged')`, [real.hostId])).rejects.toThrow(/row-level security/)
      await expect(web1.query(`INSERT INTO portcullis.alarms (host_id, kind, seq, detail) VALUES ($1, 'host-key', 7, 'forged')`, [real.hostId])).rejects.toThrow(/row-level security/)
      await expect(web1.query(`INSERT INTO portcullis.alarms (host_id, kind, seq, detail) VALUES ($1, 'host-key', null, $2)`, [real.hostId, 'x'.repeat(1001)])).rejects.toThrow(/row-level security/)
    } finally {
      await web1.end()
    }
  })

  it('the recording shipper of a host whose ID another login registered ships and reports nothing under it, and says so once', { timeout: 60_000 }, async () => {
    const real = newIdentity('web-3')
    const squatter: HostIdentity = { hostId: real.hostId, name: 'web-3', key: ensureAuditKey(path.join(root, 'squatter-key')).key }
    const forged = new MemoryChain()
    await forged.add(1, 'mallory')
    await shipAll('squatter', squatter, forged)

    // The real host has a recording to ship, ended and vouched for.
    const store = await AuditStore.open(path.join(root, 'store-web-3'))
    const session = 's-00000000000000a3'
    const start = await store.append({ kind: 'session', user: 'alice', action: 'session.start', project: 'shop', resource: 'web-1', decision: 'allow', fields: { session } })
    const sink = await store.openRecording(session, start.seq, { version: 2, width: 80, height: 24 })
    sink.output(Buffer.alloc(5_000, 0x64))
    const recording = await sink.finish()
    await store.append({ kind: 'session', user: 'alice', action: 'session.end', project: 'shop', resource: 'web-1', fields: { session, startSeq: start.seq, recording } })
    await sink.release()
    const lines: Array<{ level: number, msg: string }> = []
    const captured = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as { level: number, msg: string }) } })
    const shipper = new RecordingShipper({ target: target('web1'), identity: real, source: recordingShipSource(store), logger: captured, intervalMs: 20, reportMs: 50 })
    shipper.start()
    try {
      await waitUntil('halted on the host key', () => shipper.status().state === 'halted')
      expect(shipper.status().halted).toMatchObject({ kind: 'host-key' })
      // Time itself is under test: several passes (and what were reconnects) must write and log nothing more.
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      expect(shipper.status()).toMatchObject({ state: 'halted', lastError: null, shippedBytes: 0 })
    } finally {
      await shipper.stop()
      await store.close()
    }
    expect(await db.sql(`SELECT count(*) FROM portcullis.recording_chunks WHERE host_id = '${real.hostId}'`)).toBe('0\n')
    expect(await db.sql(`SELECT count(*) FROM portcullis.recording_reports WHERE host_id = '${real.hostId}'`)).toBe('0\n')
    // Said once (an error naming the cause), and no warning of a reconnect.
    expect(lines.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([expect.stringContaining('another key for this host ID')])
  })
})

describe('newer policy revisions deleted from the database', () => {
  interface StoredRecord { action: string | null, code?: string | null, reason: string | null, fields: Record<string, unknown> | null }
  let publisherArgs: string[]
  let hostArgs: string[]
  let policyA: string
  let policyB: string

  beforeAll(() => {
    const keys = path.join(root, 'policy-keys')
    publisherArgs = ['--fleet', db.url('ops'), '--fleet-password-file', passwordFile('ops'), '--key', path.join(keys, 'policy_ed25519.key'), '--publisher', 'ops@admin-1', '--json']
    hostArgs = ['--fleet', db.url('web1'), '--fleet-password-file', passwordFile('web1'), '--policy-from', 'fleet', '--policy-key', path.join(keys, 'policy_ed25519.pub')]
    // A: alice is a developer in payments (may list containers). B: she is not.
    const example = readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8')
    policyA = path.join(root, 'policy-a.json')
    writeFileSync(policyA, example)
    const withoutAlice = JSON.parse(example) as { projects: { payments: { members: Record<string, string> } } }
    delete withoutAlice.projects.payments.members.alice
    policyB = path.join(root, 'policy-b.json')
    writeFileSync(policyB, JSON.stringify(withoutAlice, null, 2) + '\n')
  })

  async function publish (file: string, ...extra: string[]): Promise<number> {
    return (JSON.parse(await portcullisCliOk(['policy', 'publish', ...publisherArgs, ...extra, file])) as { revision: number }).revision
  }

  async function records (host: FleetHost): Promise<StoredRecord[]> {
    return (await adminGet(host, '/v1/audit/tail?n=500')).split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as StoredRecord)
  }

  async function revisionInForce (host: FleetHost): Promise<number | undefined> {
    return (JSON.parse(await adminGet(host, '/v1/status')) as { policy: { revision?: { revision: number } } }).policy.revision?.revision
  }

  async function startHost (name: string, extra: string[] = []): Promise<FleetHost> {
    const host = await makeFleetHost(root, name, path.join(root, name, 'policy.json'), [...hostArgs, ...extra]) // its last good copy beside it
    hosts.push(host)
    await host.start()
    return host
  }

  it('a host with no last good copy starts on the older signed revision and records that; --policy-min-revision refuses to start', { timeout: 120_000 }, async () => {
    const base = Number((await db.sql('SELECT coalesce(max(revision), 0) FROM portcullis.policy_revisions')).trim())
    expect(await publish(policyA)).toBe(base + 1)
    expect(await publish(policyB)).toBe(base + 2)
    await db.sql(`DELETE FROM portcullis.policy_revisions WHERE revision = ${base + 2}`)

    // Without a pin the attack works (the older revision is still signed), but the host says what it started from.
    const unpinned = await startHost('unpinned')
    expect(await unpinned.load(1)).toBe(1) // alice may list containers again under A
    const start = (await records(unpinned)).find((r) => r.action === 'portcullis.start')
    expect(start?.fields).toMatchObject({ policyRevision: base + 1, policyStartedFrom: 'database', policyMinRevision: null })
    expect(start?.reason).toContain(`revision ${base + 1} (from the fleet database: there was no last good copy)`)
    expect(unpinned.log()).toContain('with no last good copy')

    // With the pin it refuses to start, naming both revisions, and serves nothing.
    const pinnedDir = path.join(root, 'pinned')
    const refused = await runPortcullisCli(['serve', '--config', path.join(pinnedDir, 'policy.json'), '--socket', path.join(pinnedDir, 'plugin.sock'),
      '--admin-socket', path.join(pinnedDir, 'admin.sock'), '--data', path.join(pinnedDir, 'data'), '--keys', unpinned.keysDir,
      '--docker-host', `unix://${path.join(pinnedDir, 'no-dockerd.sock')}`, '--elevation-listen', 'off', ...hostArgs, '--policy-min-revision', String(base + 2)], { timeoutMs: 30_000 })
    expect(refused.code, refused.stderr).toBe(2)
    expect(refused.stderr).toContain('[PORTCULLIS_POLICY_REVISION_BELOW_MINIMUM]')
    expect(refused.stderr).toContain(`Policy revision ${base + 1} is refused: it is below --policy-min-revision ${base + 2}`)
  })

  it('a pinned host takes the revision republished above the pin, and refuses a signed rollback below it, recording the refusal', { timeout: 120_000 }, async () => {
    const republished = await publish(policyB)
    const pinned = await startHost('pinned-2', ['--policy-min-revision', String(republished)])
    expect(await revisionInForce(pinned)).toBe(republished)
    expect(await pinned.load(1)).toBe(0) // B: alice may not
    const start = (await records(pinned)).find((r) => r.action === 'portcullis.start')
    expect(start?.fields).toMatchObject({ policyRevision: republished, policyStartedFrom: 'database', policyMinRevision: republished })

    // A database restored from an old backup (the newer revisions gone), and a signed rollback to A published on it.
    await db.sql(`DELETE FROM portcullis.policy_revisions WHERE revision >= ${republished - 1}`)
    const rollback = await publish(policyA, '--rollback')
    expect(rollback).toBeLessThan(republished)
    await waitUntil('the refusal recorded', async () => (await records(pinned)).some((r) => r.action === 'policy.reload-failed' && r.fields?.policyRevision === rollback), { timeoutMs: 30_000 })
    const failed = (await records(pinned)).filter((r) => r.action === 'policy.reload-failed')
    expect(failed).toEqual([expect.objectContaining({ code: 'PORTCULLIS_POLICY_REVISION_BELOW_MINIMUM', fields: expect.objectContaining({ policyRevision: rollback }) })])
    expect(await revisionInForce(pinned)).toBe(republished)
    expect(await pinned.load(1)).toBe(0)

    // Restarted with its last good copy (the republished revision), it starts from that copy, not the database's.
    await pinned.stop()
    await pinned.start()
    expect(await revisionInForce(pinned)).toBe(republished)
    const starts = (await records(pinned)).filter((r) => r.action === 'portcullis.start')
    expect(starts.at(-1)?.fields).toMatchObject({ policyStartedFrom: 'copy', policyRevision: republished })
  })
})
