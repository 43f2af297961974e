// A full disk raises alerts (PCI DSS 10.7.2): the audit store sits on a small tmpfs; as it fills, `disk-low` reaches
// a real loopback webhook and a real rsyslogd before any write fails; once writes fail, `audit-write-failed` reaches
// both at once while every call is denied; when space returns both conditions are resolved, and every alert is in
// the store, the one raised while the store could not be written recorded once it could, saying so.
import { execFileSync } from 'node:child_process'
import { statfsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { auditRecords } from '../helpers/audit.js'
import { postAuthzReq } from '../helpers/authz-request.js'
import { portcullisCliOk, removeDirSync, startPortcullis, type Portcullis } from '../helpers/index.js'
import { startRsyslog, type ReceivedSyslog, type Rsyslog } from '../helpers/syslog.js'
import { waitFor, waitUntil } from '../helpers/wait.js'
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js'

let scratch: string
let mountDir: string
let mounted = false
let plugin: Portcullis
let hook: WebhookReceiver
let syslog: Rsyslog

const MiB = 1024 * 1024

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'portcullis-alerts-disk-'))
  mountDir = path.join(scratch, 'disk')
  execFileSync('mkdir', ['-p', mountDir])
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mountDir])
  mounted = true
  hook = await startWebhookReceiver()
  syslog = await startRsyslog()
  const policy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
  policy.alerts = { webhook: { url: hook.url, retries: 2 }, syslog: { address: syslog.tcpAddress, facility: 'local3' }, diskFreeBelow: '8MiB', diskCheckInterval: '1s' }
  const policyFile = path.join(scratch, 'policy.json')
  await writeFile(policyFile, JSON.stringify(policy))
  const keysDir = path.join(scratch, 'keys')
  await portcullisCliOk(['keys', 'init', '--keys', keysDir])
  plugin = await startPortcullis({ dir: path.join(scratch, 'run'), policyFile, keysDir, dockerSocket: path.join(scratch, 'no-dockerd.sock'), dataDir: path.join(mountDir, 'data'), logLevel: 'info' })
}, 60_000)

afterAll(async () => {
  await plugin?.stop()
  await syslog?.stop()
  await hook?.close()
  if (mounted) execFileSync('umount', ['-l', mountDir])
  if (scratch !== undefined) removeDirSync(scratch)
})

interface AlertBody { event: string, time: string, alert: { kind: string, state: string, severity: string, detail: string, code?: string, host: string, since: string, time: string } }

const hookAlert = (kind: string, state: string): Promise<AlertBody> =>
  waitFor(`webhook alert ${kind} ${state}`, () => (hook.bodies as AlertBody[]).find((b) => b.event === `alert.${kind}` && b.alert.state === state), { timeoutMs: 20_000 })

const syslogAlert = (kind: string, state: string): Promise<ReceivedSyslog> =>
  waitFor(`syslog alert ${kind} ${state}`, () => syslog.received().find((m) => m.msgid === `alert.${kind}` && m.sd.includes(`state="${state}"`)), { timeoutMs: 20_000, detail: () => syslog.rfc5424Lines().join('\n') })

const version = async (): Promise<{ Allow: boolean, Msg?: string }> => (await postAuthzReq(plugin.socket, '/v1.41/version'))!

it('alerts on low disk space before writes fail, on the write failure while calls are denied, and on both recoveries', async () => {
  expect((await version()).Allow).toBe(true)

  // Below the threshold, not yet full: disk-low, and calls are still recorded and allowed.
  const lowFiller = path.join(mountDir, 'low-filler')
  const { bavail, bsize } = statfsSync(mountDir)
  execFileSync('fallocate', ['-l', String(bavail * bsize - 5 * MiB), lowFiller])
  const low = await hookAlert('disk-low', 'raised')
  expect(low.alert).toMatchObject({ severity: 'warning', host: os.hostname() })
  expect(low.alert.detail).toMatch(/MiB free of 32\.0 MiB on the file system of .*below 8\.0 MiB/)
  const lowSyslog = await syslogAlert('disk-low', 'raised')
  expect(lowSyslog).toMatchObject({ pri: String(19 * 8 + 4), app: 'portcullis', hostname: os.hostname() })
  expect(lowSyslog.sd).toMatch(/^\[portcullis@32473 dir="[^"]+" freeBytes="\d+" totalBytes="\d+" threshold="8.0 MiB" kind="disk-low" state="raised" since="[^"]+"\]$/)
  expect((await version()).Allow).toBe(true)

  // Full: the next write fails, every call is denied, and the sinks hear of it while the store cannot record it.
  const fullFiller = path.join(mountDir, 'full-filler')
  try { execFileSync('dd', ['if=/dev/zero', `of=${fullFiller}`, 'bs=64k'], { stdio: 'ignore' }) } catch {}
  const denied = await waitFor('a call denied for the audit store', async () => {
    const answer = await version()
    return answer.Allow ? undefined : answer
  })
  expect(denied.Msg).toMatch(/PORTCULLIS_AUDIT_(WRITE_FAILED|UNAVAILABLE)/)
  const failed = await hookAlert('audit-write-failed', 'raised')
  expect(failed.alert).toMatchObject({ severity: 'crit', code: 'PORTCULLIS_AUDIT_WRITE_FAILED' })
  expect(failed.alert.detail).toContain('No space left on device')
  const failedSyslog = await syslogAlert('audit-write-failed', 'raised')
  expect(failedSyslog.pri).toBe(String(19 * 8 + 2))
  expect(failedSyslog.msg).toContain('audit records cannot be written')
  expect((await version()).Allow).toBe(false)

  // The status shows the sinks and the conditions.
  const status = await plugin.cli(['status', '-o', 'json', '--admin-socket', plugin.adminSocket])
  const shown = JSON.parse(status.stdout) as { alerts: { sinks: Array<{ sink: string, delivered?: number, sent?: number, connected?: boolean }>, active: Array<{ kind: string }>, unrecorded: number } }
  expect(shown.alerts.active.map((a) => a.kind).sort()).toEqual(['audit-write-failed', 'disk-low'])
  expect(shown.alerts.sinks).toEqual([expect.objectContaining({ sink: 'webhook', delivered: 2 }), expect.objectContaining({ sink: 'syslog', connected: true, sent: 2, dropped: 0 })])
  expect(shown.alerts.unrecorded).toBeGreaterThanOrEqual(1)
  expect(status.stderr).toMatch(/^portcullis: alert audit-write-failed since \S+: .*No space left on device/m)
  expect(status.stderr).toMatch(/^portcullis: alert disk-low since /m)

  // Space returns: writes work again by themselves, and both conditions are resolved on both sinks.
  await rm(fullFiller)
  await rm(lowFiller)
  await waitUntil('calls allowed again', async () => (await version()).Allow, { timeoutMs: 20_000 })
  for (const kind of ['audit-write-failed', 'disk-low']) {
    expect((await hookAlert(kind, 'resolved')).alert.severity).toBe('info')
    expect((await syslogAlert(kind, 'resolved')).pri).toBe(String(19 * 8 + 6))
  }

  // Every alert is a record; the write failure's was appended once the store took records again, and says so.
  const records = await waitFor('the alert records', async () => {
    const all = await auditRecords(plugin)
    return all.filter((r) => r.action?.startsWith('alert.')).length >= 4 ? all : undefined
  })
  const alerts = records.filter((r) => r.action?.startsWith('alert.'))
  expect(alerts.map((r) => `${r.action!}:${String(r.fields?.state)}`)).toEqual(expect.arrayContaining([
    'alert.disk-low:raised', 'alert.audit-write-failed:raised', 'alert.audit-write-failed:resolved', 'alert.disk-low:resolved'
  ]))
  const lowRecord = alerts.find((r) => r.action === 'alert.disk-low' && r.fields?.state === 'raised')!
  expect(lowRecord.fields).toMatchObject({ alert: 'disk-low', severity: 'warning', sinks: ['webhook', 'syslog'] })
  expect(lowRecord.fields?.recordedLate).toBeUndefined()
  const failedRecord = alerts.find((r) => r.action === 'alert.audit-write-failed' && r.fields?.state === 'raised')!
  expect(failedRecord).toMatchObject({ kind: 'system', code: 'PORTCULLIS_AUDIT_WRITE_FAILED', fields: { recordedLate: true, raisedAt: failed.alert.time, since: failed.alert.since } })
  expect(failedRecord.reason).toContain('while the audit store refused records; recorded once it took them again')
  // The store's own outage records are there too, before the late alert.
  const outage = records.find((r) => r.action === 'audit.write-failed')!
  expect(failedRecord.seq).toBeGreaterThan(outage.seq)

  const verified = await plugin.cli(['audit', 'verify', '--admin-socket', plugin.adminSocket])
  expect(verified.code, verified.stdout + verified.stderr).toBe(0)
}, 90_000)
