// Issue 15, item 5: with `outputs.syslog` in the policy, serve sends every record of its chain to a syslog receiver as
// one RFC 5424 message, in seq order: MSG is the record's stored line exactly (as `audit export` prints it), the
// structured data carries its seq and hash. The receiver here is a real rsyslogd (test/helpers/syslog.ts). Its cursor
// is what the kernel took: a receiver that was away gets everything from the cursor on once it is back; a serve
// killed with SIGKILL resumes at the cursor it saved, which may send again the records between the saved cursor
// and what the kernel had taken (at most one batch, 1,000 records), never skip one. A receiver that accepts and
// never reads does not slow decisions: the output waits, and status shows its lag.
import { mkdtemp } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { localChain } from '../helpers/fleet-chain.js'
import type { FleetHost } from '../helpers/fleet-host.js'
import { startRsyslog, type Rsyslog } from '../helpers/syslog.js'
import { firstOutputStatus, receivedFrom as receivedFromHost, syslogOutputHost, type OutputStatusOf } from '../helpers/syslog-output-host.js'
import { waitUntil } from '../helpers/wait.js'

/** The records the output may send again after a SIGKILL: one batch (RecordOutput's batchSize). */
const BATCH = 1_000

let root: string
let rsyslog: Rsyslog
const hosts: FleetHost[] = []

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-syslog-'))
  rsyslog = await startRsyslog()
})

afterAll(async () => {
  for (const host of hosts) await host.stop()
  await rsyslog?.stop()
  if (root !== undefined) removeDirSync(root)
}, 60_000)

type SyslogOutputStatus = OutputStatusOf<{ connected: boolean, sentSeq: number, pendingBytes: number, address: string }>

/** A serve (no dockerd: AuthZReqs are posted to its plugin socket) whose policy sends every record to `address`. */
async function syslogHost (name: string, address: string): Promise<FleetHost> {
  const host = await syslogOutputHost(root, name, address)
  hosts.push(host)
  return host
}

const outputStatus = firstOutputStatus<SyslogOutputStatus>
const receivedFrom = (host: string): ReturnType<typeof receivedFromHost> => receivedFromHost(rsyslog, host)

describe('serve sends every record to a syslog receiver, driven by seq', () => {
  it('every record of real decisions reaches rsyslog once, in seq order, MSG the stored line, seq and hash in the structured data, values with ", \\ and ] intact', { timeout: 90_000 }, async () => {
    const host = await syslogHost('plain', rsyslog.tcpAddress)
    await host.start()
    expect(await host.load(60, 4)).toBe(60)
    // Values a naive SD or MSG encoder would break: a quote, a backslash, a closing bracket.
    await host.load(6, 2, (n) => `/v1.41/containers/json?filters={"name":["x\\\\y]${n}"]}`)
    await waitUntil('the output to send every record', async () => (await outputStatus(host)).lag === 0)
    const status = JSON.parse((await runPortcullisCli(['status', '-o', 'json', '--admin-socket', host.adminSocket])).stdout) as { outputs: SyslogOutputStatus[] }
    expect(status.outputs[0]).toMatchObject({ name: 'syslog', state: 'writing', lag: 0, sink: { connected: true, address: rsyslog.tcpAddress } })
    await host.stop()

    const chain = await localChain(host.data)
    await waitUntil('rsyslog to write every record', async () => receivedFrom('plain').length >= chain.length)
    const received = receivedFrom('plain')
    expect(received.map((m) => m.seq)).toEqual(chain.map((_, i) => i + 1))
    expect(received.map((m) => m.msg)).toEqual(chain)
    expect(received.map((m) => m.hash)).toEqual(chain.map((line) => (JSON.parse(line) as { hash: string }).hash))
    const odd = chain.filter((line) => line.includes('x\\\\\\\\y]'))
    expect(odd.length).toBeGreaterThan(0)
    for (const message of received) {
      expect(message.message).toMatchObject({ app: 'portcullis', hostname: 'host-plain' })
      // local3 (19): info, or notice for a denial.
      const record = JSON.parse(message.msg) as { decision: string | null, kind: string }
      expect(message.message.pri).toBe(String(19 * 8 + (record.decision === 'deny' ? 5 : 6)))
      expect(message.message.msgid).toBe(record.kind)
    }
    // rsyslog's RFC 5424 form of the same message carries the SD element with the parameters.
    expect(rsyslog.rfc5424Lines().some((line) => line.includes('[portcullis@32473 seq="1" hash="'))).toBe(true)
  })

  it('rsyslogd stopped for a while and started again: nothing between the cursor and the head is lost, nothing sent twice', { timeout: 90_000 }, async () => {
    const host = await syslogHost('away', rsyslog.tcpAddress)
    await host.start()
    expect(await host.load(40, 4)).toBe(40)
    await waitUntil('the output to send every record', async () => (await outputStatus(host)).lag === 0)
    // Stopped while idle: it has read all it was sent (a receiver killed with data in its buffers loses that data:
    // syslog has no acknowledgement; docs/siem.md says so).
    await rsyslog.pause()
    try {
      expect(await host.load(80, 4)).toBe(80)
      await waitUntil('the output to fail with the receiver away', async () => {
        const status = await outputStatus(host)
        return status.state === 'failing' && !status.sink.connected && status.lag > 0
      })
    } finally {
      await rsyslog.resume()
    }
    await waitUntil('the output to catch up', async () => (await outputStatus(host)).state === 'writing' && (await outputStatus(host)).lag === 0, { timeoutMs: 30_000 })
    await host.stop()

    const chain = await localChain(host.data)
    await waitUntil('rsyslog to write every record', async () => receivedFrom('away').length >= chain.length)
    expect(receivedFrom('away').map((m) => m.msg)).toEqual(chain)
    const actions = chain.map((line) => (JSON.parse(line) as { action: string }).action)
    expect(actions).toContain('output.failed')
    expect(actions).toContain('output.recovered')
    // The outage is an alert (output-failing), raised and then resolved.
    const alerts = chain.map((line) => JSON.parse(line) as { action: string, fields?: { state?: string } }).filter((r) => r.action === 'alert.output-failing').map((r) => r.fields?.state)
    expect(alerts).toEqual(['raised', 'resolved'])
  })

  it('serve SIGKILLed mid-load resumes at its saved cursor: every seq arrives, in order, and only the last batch before the kill may arrive twice', { timeout: 90_000 }, async () => {
    const host = await syslogHost('killed', rsyslog.tcpAddress)
    await host.start()
    const load = host.load(400, 8)
    await waitUntil('some records sent', async () => (await outputStatus(host)).writtenSeq > 100)
    await host.kill()
    await load.catch(() => 0)
    await host.start()
    expect(await host.load(50, 4)).toBe(50)
    await waitUntil('the output to catch up', async () => (await outputStatus(host)).lag === 0)
    await host.stop()

    const chain = await localChain(host.data)
    await waitUntil('rsyslog to write every record', async () => new Set(receivedFrom('killed').map((m) => m.seq)).size >= chain.length)
    const seqs = receivedFrom('killed').map((m) => m.seq)
    // In order, except once: the restart goes back to the record after the saved cursor.
    const back = seqs.flatMap((seq, i) => i > 0 && seq <= seqs[i - 1]! ? [i] : [])
    expect(back.length).toBeLessThanOrEqual(1)
    const resent = back.length === 0 ? 0 : seqs[back[0]! - 1]! - seqs[back[0]!]! + 1
    expect(resent).toBeLessThanOrEqual(BATCH)
    expect(seqs.length).toBe(chain.length + resent)
    const unique = [...new Set(seqs)]
    expect(unique).toEqual(chain.map((_, i) => i + 1))
    // Each message, the first copy or the second, is the stored record.
    for (const m of receivedFrom('killed')) expect(m.msg).toBe(chain[m.seq - 1])
  })

  it('a receiver that accepts and never reads does not slow decisions: they go on, the output waits, status shows the lag', { timeout: 90_000 }, async () => {
    const socketPath = path.join(root, 'stuck.sock')
    const accepted: net.Socket[] = []
    const stuck = net.createServer((socket) => {
      socket.pause()
      accepted.push(socket)
    })
    await new Promise<void>((resolve) => stuck.listen(socketPath, resolve))
    try {
      const host = await syslogHost('stuck', `unix:${socketPath}`)
      await host.start()
      // Far more than a unix socket's buffers hold.
      expect(await host.load(1500, 8)).toBe(1500)
      await waitUntil('the output to wait on the receiver with a lag', async () => {
        const status = await outputStatus(host)
        return status.sink.connected && status.lag > 500 && status.sink.pendingBytes > 0
      })
      const status = await outputStatus(host)
      expect(status.state).toBe('writing')
      expect(status.writtenSeq).toBeLessThan(status.headSeq)
      expect(accepted.length).toBe(1)
      // More decisions are judged while it waits.
      expect(await host.load(200, 8)).toBe(200)
      expect((await outputStatus(host)).headSeq).toBeGreaterThan(status.headSeq)
      // The stop does not hang on the receiver: serve stops by itself and records its stop.
      await host.stop()
      expect(JSON.parse((await localChain(host.data)).at(-1)!)).toMatchObject({ action: 'portcullis.stop' })
    } finally {
      for (const socket of accepted) socket.destroy()
      await new Promise<void>((resolve) => stuck.close(() => resolve()))
    }
  })
})
