// Issue 15 review: over plain TCP syslog a record counts as delivered once the kernel took it, so a receiver that
// crashes loses what sat in its buffers while portcullis believes it delivered. With `outputs.syslog.address:
// relp:HOST:PORT` the output speaks RELP and delivered means acknowledged: the delivered seq moves only on the
// receiver's `rsp 200`. The receiver here is a real rsyslogd with imrelp (test/helpers/syslog.ts), its main queue
// direct so what it acknowledges is already written: killed with SIGKILL while records flow, it holds every record
// status ever called delivered, and once it is back every seq from 1 to the head arrives (copies only of what was
// in flight at the kill). A restart of serve resumes from the acknowledged seq, and so does one that switched the
// output from tcp: to relp:.
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { localChain } from '../helpers/fleet-chain.js'
import type { FleetHost } from '../helpers/fleet-host.js'
import { startRsyslog, type Rsyslog } from '../helpers/syslog.js'
import { firstOutputStatus, receivedFrom as receivedFromHost, syslogOutputHost, type OutputStatusOf } from '../helpers/syslog-output-host.js'
import { waitUntil } from '../helpers/wait.js'

/** RELP commands in flight at most (relp-sink.ts): all that a lost session may send again. */
const WINDOW = 128

let root: string
let rsyslog: Rsyslog
const hosts: FleetHost[] = []

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-relp-'))
  rsyslog = await startRsyslog({ relp: true })
})

afterAll(async () => {
  for (const host of hosts) await host.stop()
  await rsyslog?.stop()
  if (root !== undefined) removeDirSync(root)
}, 60_000)

type RelpOutputStatus = OutputStatusOf<{ delivery: string, connected: boolean, sentSeq: number, acknowledgedSeq: number, inFlight: number, sessions: number, address: string }>

async function relpHost (name: string): Promise<FleetHost> {
  const host = await syslogOutputHost(root, name, rsyslog.relpAddress)
  hosts.push(host)
  return host
}

const outputStatus = firstOutputStatus<RelpOutputStatus>
const receivedFrom = (host: string): ReturnType<typeof receivedFromHost> => receivedFromHost(rsyslog, host)

/** Seqs from 1 to `upTo` that rsyslog has not written for `host`. */
function missing (host: string, upTo: number): number[] {
  const held = new Set(receivedFrom(host).map((m) => m.seq))
  return Array.from({ length: upTo }, (_, i) => i + 1).filter((seq) => !held.has(seq))
}

/** Resolves once every record up to the head was delivered: acknowledged over RELP, handed to the kernel over TCP
 * (after a receiver came back: its retry pause too). */
async function allDelivered (host: FleetHost): Promise<void> {
  await waitUntil('every record delivered', async () => {
    const status = await outputStatus(host)
    return status.state === 'writing' && status.lag === 0 && status.deliveredSeq === status.headSeq
  }, { timeoutMs: 30_000 })
}

describe('the syslog output over RELP: delivered means acknowledged', () => {
  it('every record reaches rsyslog once, in seq order, with its seq and hash; status tells sent from acknowledged', { timeout: 60_000 }, async () => {
    const host = await relpHost('plain')
    await host.start()
    expect(await host.load(60, 4)).toBe(60)
    await allDelivered(host)
    const status = await outputStatus(host)
    expect(status).toMatchObject({ name: 'syslog', state: 'writing', sink: { delivery: 'acknowledged by the RELP receiver', connected: true, address: rsyslog.relpAddress, inFlight: 0, sessions: 1 } })
    expect(status.sink.acknowledgedSeq).toBe(status.deliveredSeq)
    expect(status.sink.sentSeq).toBe(status.deliveredSeq)
    const view = (await runPortcullisCli(['status', '--admin-socket', host.adminSocket])).stdout
    expect(view).toMatch(/output syslog:\s+writing, 0 record\(s\) behind, delivered up to seq \d+ \(acknowledged by the RELP receiver\)/)
    await host.stop()

    const chain = await localChain(host.data)
    const received = receivedFrom('plain')
    expect(received.map((m) => m.seq)).toEqual(chain.map((_, i) => i + 1))
    expect(received.map((m) => m.msg)).toEqual(chain)
    expect(received.map((m) => m.hash)).toEqual(chain.map((line) => (JSON.parse(line) as { hash: string }).hash))
  })

  it('rsyslogd SIGKILLed while records flow holds every record status called delivered; once it is back every seq arrives, copies only of what was in flight', { timeout: 90_000 }, async () => {
    const host = await relpHost('crash')
    await host.start()
    const ahead: string[] = []
    let watching = true
    // While records flow: whatever status calls delivered is in rsyslog's file already (status read first).
    const watch = (async () => {
      while (watching) {
        const delivered = (await outputStatus(host)).deliveredSeq
        const gaps = missing('crash', delivered)
        if (gaps.length > 0) ahead.push(`delivered ${delivered}, rsyslog lacks ${gaps.slice(0, 5).join(', ')}`)
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    })()
    const load = host.load(1500, 8)
    let deliveredAtKill: number
    try {
      await waitUntil('records acknowledged', async () => (await outputStatus(host)).deliveredSeq > 300)
      // Frozen first, so records are in flight (sent, in its socket or its memory, not acknowledged) when it dies.
      rsyslog.freeze()
      await waitUntil('a full window in flight', async () => (await outputStatus(host)).sink.inFlight === WINDOW, { detail: async () => JSON.stringify(await outputStatus(host)) })
      await rsyslog.crash()
      const atKill = await outputStatus(host)
      deliveredAtKill = atKill.deliveredSeq
      expect(atKill.sink.sentSeq).toBe(deliveredAtKill + WINDOW)
      // Every record acknowledged before the kill was written before it was acknowledged.
      expect(missing('crash', deliveredAtKill)).toEqual([])
      try {
        await waitUntil('the output to fail with the receiver gone', async () => (await outputStatus(host)).state === 'failing')
        expect((await outputStatus(host)).deliveredSeq).toBe(deliveredAtKill)
      } finally {
        await rsyslog.resume()
      }
      expect(await load).toBe(1500)
      await allDelivered(host)
    } finally {
      watching = false
      await watch
    }
    await host.stop()
    expect(ahead).toEqual([])

    const chain = await localChain(host.data)
    const seqs = receivedFrom('crash').map((m) => m.seq)
    expect(missing('crash', chain.length)).toEqual([])
    expect(Math.max(...seqs)).toBe(chain.length)
    const copies = seqs.filter((seq, i) => seqs.indexOf(seq) !== i)
    expect(copies.length).toBeLessThanOrEqual(WINDOW)
    for (const seq of copies) expect(seq).toBeGreaterThan(deliveredAtKill)
    for (const m of receivedFrom('crash')) expect(m.msg).toBe(chain[m.seq - 1])
  })

  it('serve restarted while the receiver was away resumes from the acknowledged seq: each record arrives once, in order', { timeout: 60_000 }, async () => {
    const host = await relpHost('restart')
    await host.start()
    expect(await host.load(40, 4)).toBe(40)
    await allDelivered(host)
    const acknowledged = (await outputStatus(host)).deliveredSeq
    await rsyslog.crash()
    try {
      expect(await host.load(30, 4)).toBe(30)
      await waitUntil('the output to fail with the receiver gone', async () => (await outputStatus(host)).state === 'failing')
      await host.stop()
    } finally {
      await rsyslog.resume()
    }
    const logBefore = host.log().length
    await host.start()
    expect(await host.load(10, 2)).toBe(10)
    await allDelivered(host)
    await host.stop()

    const chain = await localChain(host.data)
    // The restarted output began at the seq the receiver had acknowledged.
    expect(host.log().slice(logBefore)).toMatch(new RegExp(`"writtenSeq":${acknowledged},"deliveredSeq":${acknowledged}\\b`))
    const received = receivedFrom('restart')
    expect(received.map((m) => m.seq)).toEqual(chain.map((_, i) => i + 1))
    expect(received.map((m) => m.msg)).toEqual(chain)
  })
  it('an output switched from tcp: to relp: keeps its delivered mark: the restart goes on after it, no record twice', { timeout: 60_000 }, async () => {
    const host = await syslogOutputHost(root, 'switch', rsyslog.tcpAddress)
    hosts.push(host)
    await host.start()
    expect(await host.load(20, 4)).toBe(20)
    await allDelivered(host)
    await host.stop()
    const policyFile = path.join(root, 'switch-policy.json')
    const policy = JSON.parse(readFileSync(policyFile, 'utf8')) as { outputs: { syslog: { address: string } } }
    policy.outputs.syslog.address = rsyslog.relpAddress
    writeFileSync(policyFile, JSON.stringify(policy))
    await host.start()
    expect(await host.load(10, 2)).toBe(10)
    await allDelivered(host)
    expect((await outputStatus(host)).sink.delivery).toBe('acknowledged by the RELP receiver')
    await host.stop()

    const chain = await localChain(host.data)
    await waitUntil('rsyslog to write every record', () => receivedFrom('switch').length >= chain.length)
    expect(receivedFrom('switch').map((m) => m.seq)).toEqual(chain.map((_, i) => i + 1))
  })
})
