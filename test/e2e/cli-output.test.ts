// The CLI's habits, run as a user runs them (the built CLI against a real serve and dockerd): `-o json|table` on the
// commands that list or show, `status`'s human view, `audit tail`'s filters applied by the daemon (with a refusal
// and one of the plugin's own look-ups in the store), and `audit export --out` refusing to overwrite without --force.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectFailedWith } from '../helpers/serve-workspace.js'
import { PORTCULLIS_CLI } from '../helpers/portcullis.js'
import { expectDenied, expectOk, REPO_ROOT, startStack, TEST_IMAGE, type Stack } from '../helpers/index.js'

const EXAMPLE_POLICY = path.join(REPO_ROOT, 'examples', 'policy.json')
let stack: Stack
let admin: string[]

interface Line { seq: number, kind: string, user: string | null, authMethod: string | null, action: string | null, decision: string | null }

beforeAll(async () => {
  stack = await startStack({ policy: JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')), users: ['alice', 'mallory', 'ops'], importAs: 'ops' })
  admin = ['--admin-socket', stack.plugin.adminSocket]
  expectOk(await stack.docker('alice', ['create', '--name', 'out-1', '--network', 'none', '--label', 'portcullis.project=payments', TEST_IMAGE, 'true']))
  // `docker inspect NAME` makes the plugin look the container up: a record of user portcullis, authMethod internal.
  expectOk(await stack.docker('alice', ['inspect', 'out-1']))
  expectDenied(await stack.docker('mallory', ['ps']), stack.plugin.name)
})

afterAll(async () => {
  await stack?.stop()
})

async function cli (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await stack.plugin.cli(args)
}

async function tail (...args: string[]): Promise<Line[]> {
  const result = await cli(['audit', 'tail', '-n', '500', '-o', 'json', ...args, ...admin])
  expect(result.code, result.stderr).toBe(0)
  return result.stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Line)
}

describe('audit tail', () => {
  it('hides the plugin\'s own look-ups and pings unless --all', async () => {
    const all = await tail('--all')
    expect(all.some((r) => r.authMethod === 'internal')).toBe(true)
    expect(all.some((r) => r.action === 'system.ping')).toBe(true)
    const shown = await tail()
    expect(shown.some((r) => r.authMethod === 'internal' || r.action === 'system.ping')).toBe(false)
    // Everything else is still there, in order (the second read adds its own audit.read records after the first's).
    const last = all.at(-1)!.seq
    expect(shown.filter((r) => r.seq <= last).map((r) => r.seq)).toEqual(all.filter((r) => r.authMethod !== 'internal' && r.authMethod !== 'bridge-housekeeping' && r.action !== 'system.ping').map((r) => r.seq))
  })

  it('--decision deny shows the refusal, --user and --action narrow to what they name, -n counts after filtering', async () => {
    const denied = await tail('--decision', 'deny')
    expect(denied.length).toBeGreaterThan(0)
    expect(denied.every((r) => r.decision === 'deny')).toBe(true)
    expect(denied).toContainEqual(expect.objectContaining({ user: 'mallory', action: 'container.list' }))
    const mallory = await tail('--user', 'mallory')
    expect(mallory.length).toBeGreaterThan(0)
    expect(mallory.every((r) => r.user === 'mallory')).toBe(true)
    const creates = await tail('--action', 'container.c*', '--all')
    expect(creates.map((r) => r.action)).toContain('container.create')
    expect(creates.every((r) => r.action?.startsWith('container.c') === true)).toBe(true)
    const one = await cli(['audit', 'tail', '-n', '1', '--decision', 'deny', '--json', ...admin])
    expect(JSON.parse(one.stdout.trim())).toMatchObject({ decision: 'deny' })
  })

  it('records the filters in the read it writes (audit.read names the query)', async () => {
    await tail('--user', 'mallory', '--decision', 'deny')
    const reads = (await tail('--action', 'audit.read')).filter((r) => r.action === 'audit.read') as Array<Line & { fields?: { query?: Record<string, string> } }>
    expect(reads.some((r) => r.fields?.query?.user === 'mallory' && r.fields.query.decision === 'deny' && r.fields.query.all === 'false')).toBe(true)
  })

  it('on a terminal, a footer says how many records were hidden and how to see them; a pipe gets no footer', async () => {
    // `script` gives the CLI a pseudo-terminal as stdout, as an operator's shell does.
    const command = [process.execPath, PORTCULLIS_CLI, 'audit', 'tail', '-n', '500', ...admin].map((arg) => `'${arg}'`).join(' ')
    const onTerminal = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8' })
    expect(onTerminal.status, onTerminal.stderr).toBe(0)
    expect(onTerminal.stdout).toMatch(/\(\d+ own look-up, housekeeping or ping record\(s\) hidden among these; --all shows them\)/)
    expect((await cli(['audit', 'tail', '-n', '500', ...admin])).stdout).not.toContain('hidden among these')
  })

  it('-o table prints one line per record; a bad --decision or -o is a usage error', async () => {
    const table = await cli(['audit', 'tail', '-n', '5', '--decision', 'deny', ...admin])
    expect(table.code, table.stderr).toBe(0)
    expect(table.stdout).toMatch(/^\d+ \S+ DENY {2}mallory container\.list/m)
    expectFailedWith(await cli(['audit', 'tail', '--decision', 'maybe', ...admin]), 'PORTCULLIS_USAGE')
    expectFailedWith(await cli(['audit', 'tail', '-o', 'yaml', ...admin]), 'PORTCULLIS_USAGE')
  })
})

describe('status', () => {
  it('shows a few aligned lines by default, and the whole document with -o json (or --json)', async () => {
    const human = await cli(['status', ...admin])
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toMatch(/^daemon: +version \S+, pid \d+, up /)
    expect(human.stdout).toMatch(/^policy: +\S+ \(digest [0-9a-f]{12}/m)
    expect(human.stdout).toMatch(/^audit: +ok, head seq \d+/m)
    expect(human.stdout).toMatch(/^bridge: /m)
    for (const flag of [['-o', 'json'], ['--json']]) {
      const json = await cli(['status', ...flag, ...admin])
      expect(JSON.parse(json.stdout)).toMatchObject({ pid: expect.any(Number), audit: { state: 'ok' } })
    }
  })
})

describe('-o json|table on the other commands that list or show', () => {
  it('actions, check, policy diff, audit sessions and audit verify print JSON with -o json and text without', async () => {
    const actionsJson = await cli(['actions', 'container.*', '-o', 'json'])
    expect(JSON.parse(actionsJson.stdout.split('\n')[0]!)).toMatchObject({ action: expect.stringMatching(/^container\./) })
    expect((await cli(['actions', 'container.*', '-o', 'table'])).stdout).toMatch(/^ACTION +ROUTES\n/)

    const checkArgs = ['check', '--config', EXAMPLE_POLICY, '--user', 'mallory', '--uri', '/v1.41/containers/json']
    const checkText = await cli(checkArgs)
    expect(checkText.code).toBe(1)
    expect(checkText.stdout).toMatch(/^decision: +deny\naction: +container\.list\n/)
    expect(JSON.parse((await cli([...checkArgs, '-o', 'json'])).stdout)).toMatchObject({ decision: 'deny', allow: false })

    const changed = path.join(stack.dir, 'policy-changed.json')
    const doc = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as { projects: Record<string, { description?: string }> }
    doc.projects['payments']!.description = 'Card processing, changed'
    await writeFile(changed, JSON.stringify(doc))
    const diffJson = await cli(['policy', 'diff', '-o', 'json', EXAMPLE_POLICY, changed])
    expect(Array.isArray(JSON.parse(diffJson.stdout))).toBe(true)

    const sessions = await cli(['audit', 'sessions', '-o', 'json', ...admin])
    expect(JSON.parse(sessions.stdout)).toEqual([])
    const verify = await cli(['audit', 'verify', '-o', 'json', ...admin])
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true })
    expect((await cli(['audit', 'verify', ...admin])).stdout).not.toMatch(/^\{/)
  })
})

describe('audit export --out', () => {
  it('says on stderr what it wrote, refuses to overwrite without --force, and overwrites with it', async () => {
    const out = path.join(stack.dir, 'export-out.jsonl')
    const first = await cli(['audit', 'export', '--from-seq', '1', '--to-seq', '5', '--out', out, ...admin])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toBe('')
    const bytes = (await readFile(out)).length
    expect(first.stderr).toContain(`wrote ${out}: 5 record(s), ${bytes} bytes, seq 1..5`)

    const again = await cli(['audit', 'export', '--from-seq', '1', '--to-seq', '2', '--out', out, ...admin])
    expectFailedWith(again, 'PORTCULLIS_OUTPUT_EXISTS')
    expect(again.stderr).toContain(out)
    expect(again.stderr).toContain('--force')
    expect((await readFile(out)).length).toBe(bytes)

    const forced = await cli(['audit', 'export', '--format', 'csv', '--from-seq', '1', '--to-seq', '2', '--out', out, '--force', ...admin])
    expect(forced.code, forced.stderr).toBe(0)
    expect(forced.stderr).toMatch(/2 record\(s\), \d+ bytes, seq 1\.\.2/)
    expect(await readFile(out, 'utf8')).toMatch(/^seq,time,/)
  })
})
