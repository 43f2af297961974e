// Issue 15, item 5: serve feeds a SIEM the records themselves. With `outputs.files` in the policy it writes its chain,
// record by record as the store holds it, to JSON-lines files sealed (synced, renamed atomically) by size, age and at
// shutdown, named by their first and last seq. The files are checked against `audit export` of the same store: every
// seq once, in order, byte for byte. A serve killed with SIGKILL mid-file (its open file then torn) resumes with no
// gap and no duplicate, and an agent that reads only `*.jsonl` (as Fluent Bit's tail or Vector's file source would be
// pointed at them; neither is packaged in Debian bookworm, so a reader of our own plays the agent) reads every record
// exactly once across the restart. `audit verify-files` holds the files against the chain and names what was changed.
import { appendFileSync, cpSync, existsSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminJson } from '../../src/admin/client.js'
import { REPO_ROOT, removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { localChain } from '../helpers/fleet-chain.js'
import { makeFleetHost, type FleetHost } from '../helpers/fleet-host.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
const hosts: FleetHost[] = []

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-siem-'))
})

afterAll(async () => {
  for (const host of hosts) await host.stop()
  if (root !== undefined) removeDirSync(root)
}, 60_000)

const SEALED = /^portcullis-(\d{20})-(\d{20})\.jsonl$/

/** A serve (no dockerd: AuthZReqs are posted to its plugin socket) whose policy writes sealed files to its `siem` dir. */
async function siemHost (name: string, files: Record<string, unknown>): Promise<{ host: FleetHost, dir: string }> {
  const dir = path.join(root, name, 'siem')
  const policy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8')) as Record<string, unknown>
  policy.outputs = { files: { dir, ...files } }
  const policyFile = path.join(root, `${name}-policy.json`)
  writeFileSync(policyFile, JSON.stringify(policy))
  const host = await makeFleetHost(root, name, policyFile, [])
  hosts.push(host)
  return { host, dir }
}

/** The sealed files' names in name order, each with the seqs its name carries. */
function sealed (dir: string): Array<{ name: string, first: number, last: number }> {
  return readdirSync(dir).sort().flatMap((name) => {
    const match = SEALED.exec(name)
    return match === null ? [] : [{ name, first: Number(match[1]), last: Number(match[2]) }]
  })
}

/** Every line of the sealed files, in name order. */
function sealedLines (dir: string): string[] {
  return sealed(dir).flatMap(({ name }) => readFileSync(path.join(dir, name), 'utf8').split('\n').filter((line) => line !== ''))
}

async function outputStatus (host: FleetHost): Promise<{ state: string, lag: number, writtenSeq: number, deliveredSeq: number, sink: { openRecords: number, sealedFiles: number } }> {
  const { body } = await adminJson<{ outputs: Array<Awaited<ReturnType<typeof outputStatus>>> }>(host.adminSocket, 'GET', '/v1/status')
  return body.outputs[0]!
}

/** A file agent as Fluent Bit's tail or Vector's file source would be set up for these files: it reads `*.jsonl`
 * only, each file once, remembering which it read (its position database), never the open `.tmp` file. */
function fileAgent (dir: string): { lines: string[], scan: () => void, stop: () => void } {
  const read = new Set<string>()
  const lines: string[] = []
  const scan = (): void => {
    if (!existsSync(dir)) return
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.jsonl') || read.has(name)) continue
      read.add(name)
      lines.push(...readFileSync(path.join(dir, name), 'utf8').split('\n').filter((line) => line !== ''))
    }
  }
  const timer = setInterval(scan, 50)
  return { lines, scan, stop: () => clearInterval(timer) }
}

let firstDir = ''
let firstData = ''

describe('serve writes its chain to sealed files for a SIEM', () => {
  it('seals the records of real decisions in seq order: names sort by seq, every seq is in one file once, each line is the stored record, the files are private', { timeout: 90_000 }, async () => {
    const { host, dir } = await siemHost('sealed', { maxBytes: 8192, maxAge: '1s' })
    await host.start()
    expect(await host.load(150, 8)).toBe(150)
    await waitUntil('the output to write every record', async () => (await outputStatus(host)).lag === 0)
    // SIEM lag is part of `portcullis status`.
    const status = JSON.parse((await runPortcullisCli(['status', '-o', 'json', '--admin-socket', host.adminSocket])).stdout) as { outputs: Array<{ name: string, lag: number }> }
    expect(status.outputs).toMatchObject([{ name: 'files', lag: 0 }])
    // SIGTERM seals the open file.
    await host.stop()
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([])

    const files = sealed(dir)
    expect(files.length).toBeGreaterThan(5)
    expect(files.map((f) => f.first)).toEqual([...files.map((f) => f.first)].sort((a, b) => a - b))
    for (let i = 1; i < files.length; i++) expect(files[i]!.first, files[i]!.name).toBe(files[i - 1]!.last + 1)
    for (const file of files) {
      const lines = readFileSync(path.join(dir, file.name), 'utf8').split('\n').filter((line) => line !== '')
      expect(lines.map((line) => (JSON.parse(line) as { seq: number }).seq), file.name).toEqual(Array.from({ length: file.last - file.first + 1 }, (_, i) => file.first + i))
      expect(statSync(path.join(dir, file.name)).size).toBeLessThanOrEqual(8192)
      expect(statSync(path.join(dir, file.name)).mode & 0o777).toBe(0o600)
    }
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    // Byte for byte what the store holds, from its first record to its stop record.
    const chain = await localChain(host.data)
    expect(sealedLines(dir)).toEqual(chain)
    expect(JSON.parse(chain.at(-1)!)).toMatchObject({ action: 'portcullis.stop' })

    const verify = await runPortcullisCli(['audit', 'verify-files', dir, '--data', host.data])
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    expect(verify.stdout).toContain(`${files.length} file(s) matched against the store`)
    firstDir = dir
    firstData = host.data
  })

  it('a serve killed mid-file leaves a torn open file; restarted, it goes on with no gap and no duplicate, and an agent reading *.jsonl reads every record once', { timeout: 90_000 }, async () => {
    const { host, dir } = await siemHost('killed', { maxBytes: 16384, maxAge: '1h' })
    const agent = fileAgent(dir)
    try {
      await host.start()
      expect(await host.load(120, 8)).toBe(120)
      await waitUntil('some sealed files and an open one', async () => {
        const status = await outputStatus(host)
        return status.lag === 0 && status.sink.sealedFiles > 0 && status.sink.openRecords > 0
      })
      await host.kill()
      const open = path.join(dir, 'portcullis-open.tmp')
      expect(existsSync(open)).toBe(true)
      // The crash tore the last line: half a record, no line break.
      appendFileSync(open, '{"seq":999999,"time":"2026-')

      await host.start()
      expect(await host.load(120, 8)).toBe(120)
      await waitUntil('the output to catch up', async () => (await outputStatus(host)).lag === 0)
      await host.stop()
      expect(host.log()).toContain('torn')
      agent.scan()

      const chain = await localChain(host.data)
      const lines = sealedLines(dir)
      const seqs = lines.map((line) => (JSON.parse(line) as { seq: number }).seq)
      expect(seqs).toEqual(Array.from({ length: chain.length }, (_, i) => i + 1))
      expect(lines).toEqual(chain)
      expect(agent.lines).toEqual(chain)
      expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([])
    } finally {
      agent.stop()
    }
  })

  it('audit verify-files names a removed file, a changed line and a reordered pair', { timeout: 60_000 }, async () => {
    expect(firstDir).not.toBe('')
    const copy = (name: string): { dir: string, files: string[] } => {
      const dir = path.join(root, name)
      cpSync(firstDir, dir, { recursive: true })
      return { dir, files: sealed(dir).map((f) => path.join(dir, f.name)) }
    }
    const verify = async (dir: string): Promise<string> => {
      const result = await runPortcullisCli(['audit', 'verify-files', dir, '--data', firstData])
      expect(result.code, result.stdout + result.stderr).toBe(1)
      expect(result.stdout).toContain('do NOT hold the chain intact')
      return result.stdout
    }

    const removed = copy('removed')
    unlinkSync(removed.files[2]!)
    const missing = sealed(path.dirname(removed.files[0]!))[1]!
    expect(await verify(removed.dir)).toContain(`records ${missing.last + 1} to `)

    const changed = copy('changed')
    const lines = readFileSync(changed.files[1]!, 'utf8').split('\n')
    const edited = lines[1]!.replace('"alice"', '"mallory"')
    expect(edited).not.toBe(lines[1])
    lines[1] = edited
    writeFileSync(changed.files[1]!, lines.join('\n'))
    expect(await verify(changed.dir)).toMatch(/line 2: record \d+ was changed/)

    const reordered = copy('reordered')
    const swapped = readFileSync(reordered.files[1]!, 'utf8').split('\n')
    ;[swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!]
    writeFileSync(reordered.files[1]!, swapped.join('\n'))
    expect(await verify(reordered.dir)).toMatch(/line 2: it holds record \d+, record \d+ was expected here/)

    // A file renamed to claim other seqs is caught by its content.
    const renamed = copy('renamed')
    const target = sealed(renamed.dir)[1]!
    renameSync(renamed.files[1]!, path.join(renamed.dir, `portcullis-${String(target.first).padStart(20, '0')}-${String(target.last + 1).padStart(20, '0')}.jsonl`))
    expect(await verify(renamed.dir)).toContain(`its name says its last record is ${target.last + 1}`)
  })
})
