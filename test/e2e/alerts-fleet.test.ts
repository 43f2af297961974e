// A fleet integrity alarm is an alert too: a host whose store was restored from an older copy than what it shipped
// raises a `behind` alarm at its next start (central row, local fleet.alarm record), and that reaches the policy's
// webhook as `alert.fleet-alarm`, and the trail as its record. Real PostgreSQL, real serve, real loopback webhook.
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { makeFleetHost, shippedAll, type FleetHost } from '../helpers/fleet-host.js'
import { portcullisCliOk, REPO_ROOT, removeDirSync } from '../helpers/index.js'
import { fleetLogin, startPostgres, type Postgres } from '../helpers/postgres.js'
import { waitFor } from '../helpers/wait.js'
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js'

let root: string
let pg: Postgres
let hook: WebhookReceiver
let host: FleetHost | undefined

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-alerts-fleet-'))
  pg = await startPostgres(root)
  await portcullisCliOk(['fleet', 'init-db', '--fleet', pg.adminUrl])
  hook = await startWebhookReceiver()
}, 120_000)

afterAll(async () => {
  await host?.stop()
  await hook?.close()
  await pg?.stop()
  if (root !== undefined) removeDirSync(root)
}, 60_000)

it('a store restored from an older copy than it shipped raises the fleet alarm as an alert on the webhook and in the trail', async () => {
  const policy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8')) as Record<string, unknown>
  const policyFile = path.join(root, 'policy.json')
  writeFileSync(policyFile, JSON.stringify({ ...policy, alerts: { webhook: { url: hook.url, retries: 2 } } }))
  const login = await fleetLogin(pg, root, 'fleet_hosts', 'host-secret', 'portcullis_ingest')
  host = await makeFleetHost(root, 'restored', policyFile, login.args)
  await host.start()
  await host.load(5)
  await shippedAll(host)
  await host.stop()
  const older = path.join(root, 'older-copy')
  execFileSync('cp', ['-a', host.data, older])
  await host.start()
  await host.load(5)
  await shippedAll(host)
  await host.stop()
  await rm(host.data, { recursive: true })
  execFileSync('cp', ['-a', older, host.data])

  await host.start()
  const body = await waitFor('alert.fleet-alarm on the webhook', () => (hook.bodies as Array<{ event: string, alert: { state: string, severity: string, code?: string, detail: string, fields: Record<string, unknown> } }>)
    .find((b) => b.event === 'alert.fleet-alarm'), { timeoutMs: 30_000 })
  expect(body.alert).toMatchObject({ state: 'raised', severity: 'crit', code: 'PORTCULLIS_FLEET_ALARM', fields: { alarm: 'behind' } })
  expect(body.alert.detail).toContain('restored from an older copy')
  const status = await host.fleetStatus()
  expect(status.halted).toMatchObject({ kind: 'behind' })
  const fleetHost = host
  const records = await waitFor('the alert record', async () => {
    const tail = await portcullisCliOk(['audit', 'tail', '-n', '50', '--json', '--admin-socket', fleetHost.adminSocket])
    const all = tail.trim().split('\n').map((line) => JSON.parse(line) as { seq: number, action?: string, fields?: Record<string, unknown> })
    return all.some((r) => r.action === 'alert.fleet-alarm') ? all : undefined
  })
  const alarm = records.find((r) => r.action === 'fleet.alarm')!
  expect(records.find((r) => r.action === 'alert.fleet-alarm')?.fields).toMatchObject({ state: 'raised', alarm: 'behind', sourceSeq: alarm.seq, sinks: ['webhook'] })
}, 120_000)
