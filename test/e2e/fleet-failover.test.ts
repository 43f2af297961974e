// Issue 14, high availability: a host given both servers of a PostgreSQL failover pair (libpq's multi-host form with
// target_session_attrs=read-write) ships to the primary, keeps deciding while the primary is gone and the standby
// is still read-only, and once the standby is promoted resumes from the new primary's high-water mark: afterwards
// its chain there matches its local chain record by record, no gap and no duplicate.
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { portcullisCliOk, REPO_ROOT, removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { centralChain, localChain } from '../helpers/fleet-chain.js'
import { makeFleetHost, type FleetHost } from '../helpers/fleet-host.js'
import { fleetLogin, startPostgres, startStandby, type Postgres } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let primary: Postgres
let standby: Postgres
let host: FleetHost

const pairUrl = (user: string): string =>
  `postgresql://${user}@/portcullis?host=${encodeURIComponent(primary.socketDir)},${encodeURIComponent(standby.socketDir)}&port=${primary.port},${standby.port}&target_session_attrs=read-write`

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-fleet-ha-'))
  primary = await startPostgres(path.join(root, 'primary'))
  await portcullisCliOk(['fleet', 'init-db', '--fleet', primary.adminUrl])
  const login = await fleetLogin(primary, root, 'fleet_hosts', 'host-secret', 'portcullis_ingest')
  standby = await startStandby(primary, path.join(root, 'standby'))
  const policyFile = path.join(root, 'policy.json')
  writeFileSync(policyFile, readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json')))
  host = await makeFleetHost(root, 'web-1', policyFile, ['--fleet', pairUrl('fleet_hosts'), '--fleet-password-file', login.passwordFile])
}, 120_000)

afterAll(async () => {
  await host?.stop()
  await standby?.stop()
  await primary?.stop()
  if (root !== undefined) removeDirSync(root)
}, 60_000)

async function shippedAll (): Promise<void> {
  await waitUntil('every record shipped', async () => {
    const status = await host.fleetStatus()
    return status.state === 'shipping' && status.lag === 0
  }, { timeoutMs: 60_000, detail: async () => JSON.stringify(await host.fleetStatus()) })
}

describe('a failover of the fleet database', () => {
  it('the host follows the promoted standby and resumes from its high-water mark: no gap, no duplicate', { timeout: 240_000 }, async () => {
    await host.start()
    expect(await host.load(300)).toBe(300)
    await shippedAll()

    await primary.stop()
    // The standby is still read-only: nothing may be written there, and decisions go on meanwhile.
    expect(await host.load(200)).toBe(200)
    await waitUntil('the outage to show', async () => (await host.fleetStatus()).state === 'unreachable')
    expect((await host.fleetStatus()).lastError).toMatchObject({ code: 'PORTCULLIS_FLEET_UNREACHABLE' })
    await standby.promote()
    expect(await host.load(100)).toBe(100)
    await shippedAll()
    await host.stop()

    expect(await centralChain(standby, host.hostId)).toEqual(await localChain(host.data))
    const verify = await runPortcullisCli(['fleet', 'verify', '--fleet', standby.adminUrl])
    expect(verify.code, verify.stdout).toBe(0)
  })
})
