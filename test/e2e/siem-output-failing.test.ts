// Issue 15, item 5: a SIEM output that cannot write never holds decisions up. Its directory taken away (removed, a
// file in its place) makes it `failing`, with one output.failed record, while every call is still decided and
// recorded; once it can write again it records output.recovered and goes on from what its files hold (here: its
// delivered mark, the sealed files being gone), so what it writes afterwards holds the chain with no gap.
import { mkdtemp } from 'node:fs/promises'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { adminJson } from '../../src/admin/client.js'
import { REPO_ROOT, removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { localChain } from '../helpers/fleet-chain.js'
import { makeFleetHost, type FleetHost } from '../helpers/fleet-host.js'
import { waitUntil } from '../helpers/wait.js'

let root = ''
let host: FleetHost | null = null

afterAll(async () => {
  await host?.stop()
  if (root !== '') removeDirSync(root)
}, 60_000)

async function output (h: FleetHost): Promise<{ state: string, lag: number, deliveredSeq: number, lastError: { code: string } | null }> {
  return (await adminJson<{ outputs: Array<Awaited<ReturnType<typeof output>>> }>(h.adminSocket, 'GET', '/v1/status')).body.outputs[0]!
}

describe('a SIEM output that cannot write', () => {
  it('is failing while decisions go on, records it once, and recovers from its delivered mark with no gap', { timeout: 90_000 }, async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-siem-failing-'))
    const dir = path.join(root, 'siem')
    const policy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8')) as Record<string, unknown>
    policy.outputs = { files: { dir, maxAge: '1s' } }
    writeFileSync(path.join(root, 'policy.json'), JSON.stringify(policy))
    host = await makeFleetHost(root, 'failing', path.join(root, 'policy.json'), [])
    await host.start()
    expect(await host.load(40, 4)).toBe(40)
    await waitUntil('the records to be sealed', async () => {
      const status = await output(host!)
      return status.lag === 0 && status.deliveredSeq > 40
    })
    const delivered = (await output(host)).deliveredSeq

    rmSync(dir, { recursive: true })
    writeFileSync(dir, 'not a directory')
    expect(await host.load(40, 4)).toBe(40)
    await waitUntil('the output to be failing', async () => (await output(host!)).state === 'failing', { timeoutMs: 20_000 })
    expect(await host.load(40, 4)).toBe(40)

    rmSync(dir)
    await waitUntil('the output to write again', async () => {
      const status = await output(host!)
      return status.state === 'writing' && status.lag === 0
    }, { timeoutMs: 30_000 })
    await host.stop()

    const chain = (await localChain(host.data)).map((line) => JSON.parse(line) as { seq: number, action: string })
    expect(chain.filter((r) => r.action === 'output.failed')).toHaveLength(1)
    expect(chain.filter((r) => r.action === 'output.recovered')).toHaveLength(1)
    const files = readdirSync(dir).filter((name) => name.endsWith('.jsonl')).sort()
    expect(files[0]).toMatch(new RegExp(`^portcullis-${String(delivered + 1).padStart(20, '0')}-`))
    const verify = await runPortcullisCli(['audit', 'verify-files', dir, '--data', host.data])
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    expect(verify.stdout).toContain(`records ${delivered + 1} to ${chain.at(-1)!.seq}`)
  })
})
