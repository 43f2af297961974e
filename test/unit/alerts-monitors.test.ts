// What the daemon watches becomes alerts: the fleet shippers' lag and integrity alarm records (as they write them
// to the chain) and policy reloads; free disk space under the threshold. A real store and policy file, no sinks:
// the alerts' own records show what was raised.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { Alerts } from '../../src/alerts/alerts.js'
import { AlertMonitors } from '../../src/alerts/monitors.js'
import type { AuditRecord } from '../../src/audit/record.js'
import type { AuditStore } from '../../src/audit/store.js'
import { PolicySource } from '../../src/policy/source.js'
import { tempStores } from '../helpers/temp-stores.js'
import { waitFor } from '../helpers/wait.js'

const stores = tempStores('portcullis-alert-monitors-')
const minimal = { roles: { viewer: { allow: ['container.list'] } }, projects: {} }

async function watched (alerts: object = {}): Promise<{ store: AuditStore, policy: PolicySource, monitors: AlertMonitors, policyFile: string }> {
  const store = await stores.openStore()
  const policyFile = join(stores.root, `policy-${Math.random().toString(16).slice(2)}.json`)
  writeFileSync(policyFile, JSON.stringify({ ...minimal, alerts }))
  const policy = new PolicySource(policyFile)
  const logger = pino({ level: 'silent' })
  const raised = new Alerts({ audit: store, settings: () => policy.current.alerts, logger, host: 'h1' })
  const monitors = new AlertMonitors({ alerts: raised, audit: store, policy, logger })
  monitors.start()
  return { store, policy, monitors, policyFile }
}

async function allRecords (store: AuditStore): Promise<AuditRecord[]> {
  const all: AuditRecord[] = []
  for await (const record of store.read()) all.push(record)
  return all
}

async function alertRecords (store: AuditStore, count: number): Promise<string[]> {
  return await waitFor(`${count} alert records`, async () => {
    const found = (await allRecords(store)).filter((r) => r.action?.startsWith('alert.') === true).map((r) => `${r.action!}:${String(r.fields?.state)}`)
    return found.length >= count ? found : undefined
  })
}

describe('alert monitors', () => {
  it('forward the fleet shipper\'s lag (once, until it catches up) and each integrity alarm', async () => {
    const { store, monitors } = await watched()
    await store.append({ kind: 'system', action: 'fleet.lagging', reason: '20000 records are not yet in the fleet database', fields: { lag: 20000 } })
    await store.append({ kind: 'system', action: 'fleet.lagging', reason: 'still', fields: { lag: 30000 } })
    await store.append({ kind: 'system', action: 'fleet.caught-up', reason: 'the fleet database holds every record up to 30010' })
    const source = await store.append({ kind: 'system', action: 'fleet.alarm', reason: 'fleet shipping stopped: fork', code: 'PORTCULLIS_FLEET_ALARM', fields: { alarm: 'fork', seq: 10 } })
    const found = await alertRecords(store, 3)
    expect(found).toEqual(['alert.fleet-lagging:raised', 'alert.fleet-lagging:resolved', 'alert.fleet-alarm:raised'])
    const alarm = (await allRecords(store)).find((r) => r.action === 'alert.fleet-alarm')!
    expect(alarm).toMatchObject({ code: 'PORTCULLIS_FLEET_ALARM', fields: { severity: 'crit', alarm: 'fork', sourceSeq: source.seq } })
    monitors.stop()
  })

  it('raise output-failing when a SIEM output cannot write and resolve it once it writes again', async () => {
    const { store, monitors } = await watched()
    await store.append({ kind: 'system', action: 'output.failed', reason: 'the syslog output cannot write: refused; records wait in the store', code: 'PORTCULLIS_OUTPUT', fields: { output: 'syslog', writtenSeq: 3, error: 'PORTCULLIS_OUTPUT' } })
    await store.append({ kind: 'system', action: 'output.recovered', reason: 'the syslog output writes again after 12 s', fields: { output: 'syslog', writtenSeq: 3, downSeconds: 12 } })
    expect(await alertRecords(store, 2)).toEqual(['alert.output-failing:raised', 'alert.output-failing:resolved'])
    const raised = (await allRecords(store)).find((r) => r.action === 'alert.output-failing')!
    expect(raised).toMatchObject({ code: 'PORTCULLIS_OUTPUT', fields: { severity: 'warning', output: 'syslog' } })
    monitors.stop()
  })

  it('keep output-failing while any output still fails, and raise output-alarm for an output stopped or skipping records', async () => {
    const { store, monitors } = await watched()
    await store.append({ kind: 'system', action: 'output.failed', reason: 'files cannot write', fields: { output: 'files' } })
    await store.append({ kind: 'system', action: 'output.failed', reason: 'syslog cannot write', fields: { output: 'syslog' } })
    await store.append({ kind: 'system', action: 'output.recovered', reason: 'syslog writes again', fields: { output: 'syslog' } })
    await store.append({ kind: 'system', action: 'output.alarm', reason: 'the files output holds another record 7', fields: { output: 'files' } })
    expect(await alertRecords(store, 2)).toEqual(['alert.output-failing:raised', 'alert.output-alarm:raised'])
    await store.append({ kind: 'system', action: 'output.recovered', reason: 'files writes again', fields: { output: 'files' } })
    expect(await alertRecords(store, 3)).toEqual(['alert.output-failing:raised', 'alert.output-alarm:raised', 'alert.output-failing:resolved'])
    monitors.stop()
  })

  it('raise policy-reload-failed for a refused reload and resolve it on a good one', async () => {
    const { store, policy, monitors, policyFile } = await watched()
    writeFileSync(policyFile, '{ "roles": ')
    policy.reload()
    policy.reload()
    writeFileSync(policyFile, JSON.stringify(minimal))
    policy.reload()
    expect(await alertRecords(store, 2)).toEqual(['alert.policy-reload-failed:raised', 'alert.policy-reload-failed:resolved'])
    monitors.stop()
  })

  it('raise disk-low when the store\'s file system has less free than the threshold (here: all of it)', async () => {
    const { store, monitors } = await watched({ diskFreeBelow: '99.9%' })
    await monitors.checkDisk()
    const [found] = await alertRecords(store, 1)
    expect(found).toBe('alert.disk-low:raised')
    const record = (await allRecords(store)).find((r) => r.action === 'alert.disk-low')!
    expect(record.fields).toMatchObject({ threshold: '99.9%', dir: store.dir, freeBytes: expect.any(Number), totalBytes: expect.any(Number) })
    monitors.stop()
  })
})
