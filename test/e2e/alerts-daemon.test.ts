// The daemon's own failures raise alerts to a real loopback webhook and a real rsyslogd (over its unix stream
// socket): the checkpoint signing key removed (at the next checkpoint), a policy reload refused, its periodic verify
// finding a tampered store, and serve stopped by SIGTERM (delivered before the process exits). Each condition is
// resolved when it ends, and each alert but the stop (whose record is portcullis.stop) is an `alert.<kind>` record.
import { rename, readFile, writeFile, mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RECORD_RANGE } from '../../src/audit/keys.js'
import { CHECKPOINT_RANGE } from '../../src/audit/keys.js'
import { auditRecords } from '../helpers/audit.js'
import { postAuthzReq } from '../helpers/authz-request.js'
import { portcullisCliOk, removeDirSync, startPortcullis, type Portcullis } from '../helpers/index.js'
import { startRsyslog, type ReceivedSyslog, type Rsyslog } from '../helpers/syslog.js'
import { tamper } from '../helpers/tamper.js'
import { waitFor } from '../helpers/wait.js'
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js'

let scratch: string
let hook: WebhookReceiver
let syslog: Rsyslog
let examplePolicy: Record<string, unknown>
const running: Portcullis[] = []

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'portcullis-alerts-'))
  hook = await startWebhookReceiver()
  syslog = await startRsyslog()
  examplePolicy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8')) as Record<string, unknown>
}, 30_000)

afterAll(async () => {
  for (const plugin of running) await plugin.stop()
  await syslog?.stop()
  await hook?.close()
  if (scratch !== undefined) removeDirSync(scratch)
})

interface AlertBody { event: string, alert: { kind: string, state: string, severity: string, detail: string, code?: string, fields: Record<string, unknown> } }

/** A serve of its own (policy, keys, store) whose alerts go to the shared webhook and rsyslogd; `name` tells its alerts apart. */
async function serveWith (name: string, audit: Record<string, unknown>, extraArgs: string[] = [], dataDir?: string): Promise<Portcullis> {
  const dir = path.join(scratch, name)
  const policyFile = path.join(dir, 'policy.json')
  const keysDir = path.join(dir, 'keys')
  await portcullisCliOk(['keys', 'init', '--keys', keysDir]).catch(() => '') // made once per case
  await writeFile(policyFile, JSON.stringify(policyFor(name, audit)))
  const plugin = await startPortcullis({ dir, policyFile, keysDir, dockerSocket: path.join(dir, 'no-dockerd.sock'), logLevel: 'info', extraArgs, ...(dataDir !== undefined ? { dataDir } : {}) })
  running.push(plugin)
  caseOf.set(plugin, name)
  return plugin
}

function policyFor (name: string, audit: Record<string, unknown>): object {
  return { ...examplePolicy, audit, alerts: { webhook: { url: `${hook.url}?case=${name}`, retries: 2 }, syslog: { address: syslog.unixAddress, facility: 'local5' } } }
}

/** Each case's serve posts to the hook with `?case=NAME`. */
const caseOf = new Map<Portcullis, string>()
const hookAlert = (plugin: Portcullis, kind: string, state: string): Promise<AlertBody> =>
  waitFor(`webhook alert ${kind} ${state}`, () => (hook.bodies as AlertBody[]).find((b, i) => b.event === `alert.${kind}` && b.alert.state === state && hook.paths[i]!.endsWith(`case=${caseOf.get(plugin)!}`)), { timeoutMs: 20_000 })

const syslogAlert = (plugin: Portcullis, kind: string, state: string): Promise<ReceivedSyslog> =>
  waitFor(`syslog alert ${kind} ${state}`, () => syslog.received().find((m) => m.msgid === `alert.${kind}` && m.sd.includes(`state="${state}"`) && m.procid === String(plugin.pid ?? stoppedPids.get(plugin))), { timeoutMs: 20_000 })

/** Each serve's syslog messages carry its pid as PROCID; a stopped one's is kept here. */
const stoppedPids = new Map<Portcullis, number>()

const call = async (plugin: Portcullis): Promise<void> => { await postAuthzReq(plugin.socket, '/v1.41/version') }

describe('alerts from the daemon', () => {
  it('a removed checkpoint signing key raises checkpoint-key at the next checkpoint, on both sinks, and its return resolves it', async () => {
    const plugin = await serveWith('key', { checkpointInterval: '1s' })
    await call(plugin)
    const keyFile = path.join(plugin.keysDir, 'audit_ed25519.key')
    await rename(keyFile, `${keyFile}.away`)
    await call(plugin)
    const raised = await hookAlert(plugin, 'checkpoint-key', 'raised')
    expect(raised.alert).toMatchObject({ severity: 'crit', code: 'PORTCULLIS_ALERT_CHECKPOINT_KEY' })
    expect(raised.alert.detail).toContain(`${keyFile} is gone`)
    expect(raised.alert.detail).toContain('restore the file from a backup')
    const logged = await syslogAlert(plugin, 'checkpoint-key', 'raised')
    expect(logged.pri).toBe(String(21 * 8 + 2))

    await rename(`${keyFile}.away`, keyFile)
    await call(plugin)
    await hookAlert(plugin, 'checkpoint-key', 'resolved')
    await syslogAlert(plugin, 'checkpoint-key', 'resolved')
    const records = await auditRecords(plugin)
    expect(records.filter((r) => r.action === 'alert.checkpoint-key').map((r) => r.fields?.state)).toEqual(['raised', 'resolved'])
  }, 60_000)

  it('a signing key that cannot be read at start raises checkpoint-failed at once: no checkpoint will be signed in that run', async () => {
    const keysDir = path.join(scratch, 'no-key', 'keys')
    await portcullisCliOk(['keys', 'init', '--keys', keysDir])
    await writeFile(path.join(keysDir, 'audit_ed25519.key'), 'not a key\n')
    const plugin = await serveWith('no-key', {})
    const raised = await hookAlert(plugin, 'checkpoint-failed', 'raised')
    expect(raised.alert).toMatchObject({ severity: 'err', code: 'PORTCULLIS_AUDIT_NO_SIGNING_KEY' })
    expect(raised.alert.detail).toContain(`no audit signing key in ${keysDir}`)
    await syslogAlert(plugin, 'checkpoint-failed', 'raised')
  }, 60_000)

  it('a refused policy reload raises policy-reload-failed once, however often it is retried, and a good reload resolves it', async () => {
    const plugin = await serveWith('reload', {})
    const good = await readFile(plugin.policyFile, 'utf8')
    await writeFile(plugin.policyFile, '{ "roles": ')
    const raised = await hookAlert(plugin, 'policy-reload-failed', 'raised')
    expect(raised.alert.severity).toBe('err')
    expect(raised.alert.detail).toContain(plugin.policyFile)
    await syslogAlert(plugin, 'policy-reload-failed', 'raised')
    // SIGHUP retries the same bad file: no second alert.
    plugin.reload()
    await plugin.waitForLog(/policy reload refused/, { timeoutMs: 10_000 })
    await writeFile(plugin.policyFile, good)
    await hookAlert(plugin, 'policy-reload-failed', 'resolved')
    expect((hook.bodies as AlertBody[]).filter((b, i) => b.event === 'alert.policy-reload-failed' && b.alert.state === 'raised' && hook.paths[i]!.endsWith('case=reload'))).toHaveLength(1)
    const records = await auditRecords(plugin)
    expect(records.filter((r) => r.action === 'alert.policy-reload-failed').map((r) => r.fields?.state)).toEqual(['raised', 'resolved'])
  }, 60_000)

  it('the periodic verify finds a record changed (and the checkpoints removed) and raises verify-failed, each run recorded; checkpoints fail over it', async () => {
    const dataDir = path.join(scratch, 'verify', 'data')
    const first = await serveWith('verify', {}, [], dataDir)
    for (let i = 0; i < 3; i++) await call(first)
    await first.stop()
    // Someone with the files rewrites record 2 and removes the checkpoints that would pin it.
    await tamper(dataDir, async (db) => {
      const key = (await db.keys(RECORD_RANGE).all())[1]!
      const record = JSON.parse((await db.get(key))!) as { reason: string }
      await db.put(key, JSON.stringify({ ...record, reason: 'nothing happened' }))
      await db.clear(CHECKPOINT_RANGE)
    })
    const plugin = await serveWith('verify', { verifyInterval: '1s', checkpointInterval: '1s' }, ['--accept-damaged-audit'], dataDir)
    await call(plugin)
    const raised = await hookAlert(plugin, 'verify-failed', 'raised')
    expect(raised.alert.severity).toBe('alert')
    expect(raised.alert.detail).toMatch(/record 2: /)
    expect((await syslogAlert(plugin, 'verify-failed', 'raised')).pri).toBe(String(21 * 8 + 1))
    const records = await waitFor('the verify-failed record', async () => {
      const all = await auditRecords(plugin)
      return all.some((r) => r.action === 'alert.verify-failed') ? all : undefined
    })
    expect(records.find((r) => r.action === 'audit.verify')).toMatchObject({ kind: 'system', fields: { periodic: true, ok: false, from: 1, firstBad: { seq: 2 } } })
    // A checkpoint cannot be signed over the broken chain either: checkpoint-failed, with the chain's code.
    const unsigned = await hookAlert(plugin, 'checkpoint-failed', 'raised')
    expect(unsigned.alert).toMatchObject({ severity: 'err', code: 'PORTCULLIS_AUDIT_CHAIN_BROKEN' })
    expect(unsigned.alert.detail).toMatch(/the chain is broken at record 2/)
  }, 60_000)

  it('serve stopped by SIGTERM sends plugin-stopped to both sinks before it exits', async () => {
    const plugin = await serveWith('stop', {})
    const pid = plugin.pid!
    stoppedPids.set(plugin, pid)
    await plugin.stop()
    running.splice(running.indexOf(plugin), 1)
    // Already delivered when the process has exited: the webhook answered before serve ended.
    const stopped = (hook.bodies as AlertBody[]).find((b) => b.event === 'alert.plugin-stopped' && b.alert.fields.pid === pid)
    expect(stopped?.alert).toMatchObject({ state: 'raised', severity: 'warning' })
    expect(stopped!.alert.detail).toContain('stop signal')
    await syslogAlert(plugin, 'plugin-stopped', 'raised')
  }, 60_000)
})
