// Issue 14, one policy for every host: twenty `serve --policy-from fleet` hosts follow the signed revisions
// `portcullis policy publish` stores in a real PostgreSQL (Debian's server, initdb'd into a temp dir). A published
// revision is in force on every host and judges their calls; a forged row, a lower revision and an invalid policy are
// refused by each host, recorded with their code, and never change what it runs; a signed rollback is applied; a
// host started while PostgreSQL is stopped runs its last good copy, and one without a copy refuses to start.
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { portcullisCliOk, REPO_ROOT, removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { adminGet, makeFleetHost, type FleetHost } from '../helpers/fleet-host.js'
import { fleetLogin, startPostgres, type FleetLogin, type Postgres } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/wait.js'
import { readPolicySigningKey, signPolicy } from '../../src/policy/signed.js'

let root: string
let pg: Postgres
let policyA: string
let policyB: string
let publicKey: string
let privateKey: string
let hostArgs: string[]
let publisherArgs: string[]
let hostLogin: FleetLogin
const hosts: FleetHost[] = []

interface StoredRecord { action: string | null, code?: string | null, reason: string | null, fields: Record<string, unknown> | null }
interface PolicyStatus { digest: string, revision?: { revision: number, publisher: string, rollback: boolean } }

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-fleet-policy-'))
  pg = await startPostgres(root)
  await portcullisCliOk(['fleet', 'init-db', '--fleet', pg.adminUrl])
  hostLogin = await fleetLogin(pg, root, 'fleet_hosts', 'host-secret', 'portcullis_ingest')
  const opsLogin = await fleetLogin(pg, root, 'ops', 'ops-secret', 'portcullis_publisher')
  await portcullisCliOk(['policy', 'keygen', '--out', path.join(root, 'policy-keys')])
  publicKey = path.join(root, 'policy-keys', 'policy_ed25519.pub')
  privateKey = path.join(root, 'policy-keys', 'policy_ed25519.key')
  // A: alice is a developer in payments (may list containers). B: she is not (may not).
  const example = readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8')
  policyA = path.join(root, 'policy-a.json')
  writeFileSync(policyA, example)
  const withoutAlice = JSON.parse(example) as { projects: { payments: { members: Record<string, string> } } }
  delete withoutAlice.projects.payments.members.alice
  policyB = path.join(root, 'policy-b.json')
  writeFileSync(policyB, JSON.stringify(withoutAlice, null, 2) + '\n')
  hostArgs = [...hostLogin.args, '--policy-from', 'fleet', '--policy-key', publicKey]
  publisherArgs = [...opsLogin.args, '--key', privateKey, '--publisher', 'ops@admin-1']
}, 120_000)

afterAll(async () => {
  await Promise.all(hosts.map(async (host) => await host.stop()))
  await pg?.stop()
  if (root !== undefined) removeDirSync(root)
}, 60_000)

async function publish (file: string, ...extra: string[]): Promise<{ revision: number, rollback: boolean }> {
  return JSON.parse(await portcullisCliOk(['policy', 'publish', ...publisherArgs, '--json', ...extra, file])) as { revision: number, rollback: boolean }
}

async function policyStatus (host: FleetHost): Promise<PolicyStatus> {
  return (JSON.parse(await adminGet(host, '/v1/status')) as { policy: PolicyStatus }).policy
}

async function records (host: FleetHost): Promise<StoredRecord[]> {
  return (await adminGet(host, '/v1/audit/tail?n=500')).split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as StoredRecord)
}

async function allRun (check: (status: PolicyStatus) => boolean, what: string): Promise<void> {
  await Promise.all(hosts.map(async (host) => await waitUntil(`${host.name} to run ${what}`, async () => check(await policyStatus(host)),
    { timeoutMs: 30_000, detail: async () => JSON.stringify(await policyStatus(host)) + host.log().slice(-2000) })))
}

async function allRecorded (match: (record: StoredRecord) => boolean, what: string): Promise<StoredRecord[]> {
  const found: StoredRecord[] = []
  await Promise.all(hosts.map(async (host) => await waitUntil(`${host.name} to record ${what}`, async () => {
    const hit = (await records(host)).filter(match)
    if (hit.length === 0) return false
    found.push(...hit)
    return true
  }, { timeoutMs: 30_000 })))
  return found
}

/** As many hosts as the fleet test asks for. */
const HOSTS = 20
const each = (n: number): number[] => Array.from({ length: HOSTS }, () => n)

describe('serve --policy-from fleet follows the signed policy revisions', () => {
  it('a published revision is in force on every host and judges their calls; an invalid policy is not published', { timeout: 240_000 }, async () => {
    expect(await publish(policyA)).toMatchObject({ revision: 1, rollback: false })
    for (let i = 1; i <= HOSTS; i++) hosts.push(await makeFleetHost(root, `host-${i}`, path.join(root, `host-${i}`, 'policy.json'), hostArgs))
    for (let i = 0; i < HOSTS; i += 5) await Promise.all(hosts.slice(i, i + 5).map(async (host) => await host.start()))
    await allRun((s) => s.revision?.revision === 1, 'revision 1')
    expect(await Promise.all(hosts.map(async (host) => await host.load(5)))).toEqual(each(5))
    // The last good copy is private.
    expect(statSync(path.join(hosts[0]!.dir, 'fleet-policy.json')).mode & 0o777).toBe(0o600)

    const invalid = path.join(root, 'invalid.json')
    writeFileSync(invalid, '{"version": 1, "roles": {"dev": {"allow": ["container.lst"]}}}\n')
    const refused = await runPortcullisCli(['policy', 'publish', ...publisherArgs, invalid])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('[PORTCULLIS_POLICY_INVALID]')
    // Hosts may only read revisions: their login cannot publish one.
    const asHost = await runPortcullisCli(['policy', 'publish', ...hostLogin.args, '--key', privateKey, policyB])
    expect(asHost.code).toBe(2)
    expect(asHost.stderr).toContain('[PORTCULLIS_FLEET_PRIVILEGE]')
    expect(await pg.sql('SELECT count(*) FROM portcullis.policy_revisions')).toBe('1\n')

    expect(await publish(policyB)).toMatchObject({ revision: 2 })
    await allRun((s) => s.revision?.revision === 2, 'revision 2')
    expect(await Promise.all(hosts.map(async (host) => await host.load(5)))).toEqual(each(0))
    const reloads = await allRecorded((r) => r.action === 'policy.reload' && r.fields?.policyRevision === 2, 'policy.reload of revision 2')
    for (const record of reloads) expect(record.fields).toMatchObject({ policyRevision: 2, policyPublisher: 'ops@admin-1' })
  })

  it('a forged row (a bad signature) is refused by every host and recorded; the policy in force stays', { timeout: 60_000 }, async () => {
    // Revision 1's bytes (wider: alice may list) relabelled as revision 3, with revision 1's signature.
    await pg.sql(`INSERT INTO portcullis.policy_revisions SELECT 3, policy, replace(envelope, '"revision":1', '"revision":3'), signature, key_id, publisher, published_at, rollback
      FROM portcullis.policy_revisions WHERE revision = 1`)
    const refusals = await allRecorded((r) => r.action === 'policy.reload-failed' && r.fields?.policyRevision === 3, 'the refusal of revision 3')
    for (const record of refusals) expect(record.code).toBe('PORTCULLIS_POLICY_SIGNATURE')
    await allRun((s) => s.revision?.revision === 2, 'still revision 2')
    expect(await Promise.all(hosts.map(async (host) => await host.load(5)))).toEqual(each(0))
  })

  it('a correctly signed revision that is not a valid policy (a publisher that skipped validation) is refused', { timeout: 60_000 }, async () => {
    const bad = signPolicy(readPolicySigningKey(privateKey), Buffer.from('{"version": 1, "roles": {"dev": {"allow": ["*"]}}, "projects": {"p": {"members": {"alice": "nobody"}}}}\n'),
      { revision: 4, publisher: 'careless', publishedAt: new Date().toISOString(), rollback: false })
    await pg.sql(`INSERT INTO portcullis.policy_revisions VALUES (4, decode('${bad.policy.toString('hex')}', 'hex'), '${bad.envelope}', '${bad.signature}', '${bad.keyId}', 'careless', '${bad.publishedAt}', false)`)
    const refusals = await allRecorded((r) => r.action === 'policy.reload-failed' && r.fields?.policyRevision === 4, 'the refusal of revision 4')
    for (const record of refusals) expect(record).toMatchObject({ code: 'PORTCULLIS_POLICY_INVALID', fields: { policyPublisher: 'careless' } })
    await allRun((s) => s.revision?.revision === 2, 'still revision 2')
    expect(await Promise.all(hosts.map(async (host) => await host.load(5)))).toEqual(each(0))
  })

  it('a lower revision that is not a signed rollback is refused; a signed rollback is applied', { timeout: 60_000 }, async () => {
    // The database "restored from an older backup": revision 1 is the newest again.
    await pg.sql("DELETE FROM portcullis.policy_revisions WHERE revision >= 2; NOTIFY portcullis_policy, '1'")
    const refusals = await allRecorded((r) => r.action === 'policy.reload-failed' && r.fields?.policyRevision === 1, 'the refusal of revision 1')
    for (const record of refusals) expect(record.code).toBe('PORTCULLIS_POLICY_REVISION_LOWER')
    expect(await Promise.all(hosts.map(async (host) => await host.load(5)))).toEqual(each(0))

    expect(await publish(policyA, '--rollback')).toMatchObject({ revision: 2, rollback: true })
    await allRun((s) => s.revision?.revision === 2 && s.revision.rollback, 'the rollback to revision 2')
    expect(await Promise.all(hosts.map(async (host) => await host.load(5)))).toEqual(each(5))
    // Each refusal was reported once, not at every poll.
    for (const host of hosts) expect((await records(host)).filter((r) => r.action === 'policy.reload-failed' && r.fields?.policyRevision === 1)).toHaveLength(1)
  })

  it('while PostgreSQL is stopped a host starts from its last good copy; a host with no copy refuses to start', { timeout: 90_000 }, async () => {
    const host = hosts[0]!
    await host.stop()
    await pg.stop()
    await host.start()
    expect((await policyStatus(host)).revision).toMatchObject({ revision: 2, rollback: true, publisher: 'ops@admin-1' })
    expect(await host.load(5)).toBe(5)
    const outage = (await records(host)).filter((r) => r.action === 'policy.fleet-unreachable')
    expect(outage.at(-1)?.code).toBe('PORTCULLIS_FLEET_UNREACHABLE')

    const fresh = await makeFleetHost(root, 'fresh', path.join(root, 'fresh', 'policy.json'), hostArgs)
    // Status as the CLI shows it: the revision in force.
    expect(JSON.parse(await portcullisCliOk(['status', '-o', 'json', '--admin-socket', host.adminSocket])).policy.revision).toMatchObject({ revision: 2 })
    const serveFresh = async (args: string[]): Promise<{ code: number | null, stderr: string }> => await runPortcullisCli(['serve', '--config', path.join(fresh.dir, 'policy.json'),
      '--socket', path.join(fresh.dir, 'plugin.sock'), '--admin-socket', fresh.adminSocket, '--data', fresh.data, '--keys', fresh.keysDir,
      '--docker-host', `unix://${path.join(fresh.dir, 'no-dockerd.sock')}`, '--elevation-listen', 'off', '--log-level', 'warn', ...args], { timeoutMs: 30_000 })
    const result = await serveFresh(hostArgs)
    expect(result.code, result.stderr).toBe(2)
    expect(result.stderr).toContain('[PORTCULLIS_POLICY_FLEET_UNAVAILABLE]')
    // A pinned key is required, and it must be the public half.
    const noKey = await serveFresh(hostArgs.slice(0, -2))
    expect(noKey.code).toBe(2)
    expect(noKey.stderr).toContain('[PORTCULLIS_USAGE]')
    const privatePinned = await serveFresh([...hostArgs.slice(0, -1), privateKey])
    expect(privatePinned.code).toBe(2)
    expect(privatePinned.stderr).toContain('[PORTCULLIS_POLICY_KEY_INVALID]')

    // Back up: every host (the restarted one too) follows again; concurrent publishers get distinct revisions.
    await pg.start()
    const published = await Promise.all([publish(policyB), publish(policyB), publish(policyB)])
    expect(published.map((p) => p.revision).sort()).toEqual([3, 4, 5])
    await allRun((s) => s.revision?.revision === 5, 'revision 5')
    expect(await Promise.all(hosts.map(async (h) => await h.load(5)))).toEqual(each(0))
    // Their heartbeats carry it to `fleet status`.
    await waitUntil('fleet status to show revision 5 on every host', async () => {
      const status = JSON.parse((await runPortcullisCli(['fleet', 'status', '--json', '--fleet', pg.adminUrl])).stdout) as Array<{ hostId: string, policyRevision: number | null }>
      return hosts.every((h) => status.find((s) => s.hostId === h.hostId)?.policyRevision === 5)
    }, { timeoutMs: 30_000 })
  })
})
