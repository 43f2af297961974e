// Changing the policy of a running plugin: a good edit applies without a restart, a bad one is refused and the
// last good policy stays, on file change, on SIGHUP and through `portcullis policy reload`; and `serve` will not
// start at all on a bad policy. Each outcome is in the log and in the audit trail.
import { readFileSync } from 'node:fs'
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditRecords, headSeq } from '../helpers/audit.js'
import { describeResult, expectDenied, expectOk, runPortcullisCli, startStack, type DockerResult, type Stack } from '../helpers/index.js'
import { waitUntil } from '../helpers/wait.js'

const examplePolicy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))

/** The example policy with `role` for mallory in payments. */
function withMallory(role: string): object {
  const policy = structuredClone(examplePolicy)
  policy.projects.payments.members.mallory = role
  return policy
}

const MALLORY_PATH = '$.projects.payments.members.mallory'
let stack: Stack

beforeAll(async () => {
  stack = await startStack({ policy: examplePolicy, users: ['mallory', 'ops'], importAs: 'ops' })
})

afterAll(async () => {
  await stack?.stop()
})

const malloryPs = (): Promise<DockerResult> => stack.docker('mallory', ['ps'])
const json = (policy: object): string => JSON.stringify(policy, null, 2) + '\n'

/** Polls until `docker ps` as mallory has the wanted outcome; a reload is debounced and asynchronous. */
async function waitForMalloryPs(allowed: boolean, timeoutMs = 15_000): Promise<void> {
  let result: DockerResult | undefined
  await waitUntil(`mallory's docker ps ${allowed ? 'allowed' : 'denied'}`, async () => {
    result = await malloryPs()
    return (result.code === 0) === allowed
  }, { timeoutMs, intervalMs: 200, detail: () => result === undefined ? '' : describeResult(result) })
}

async function systemRecords(action: string, sinceSeq: number) {
  return (await auditRecords(stack.plugin)).filter((r) => r.kind === 'system' && r.action === action && r.seq > sinceSeq)
}

/** Replaces the policy file the way editors do: write a temp file beside it, then rename it over. */
async function replacePolicyFile(text: string): Promise<void> {
  const temp = `${stack.policyFile}.swp`
  await writeFile(temp, text)
  await rename(temp, stack.policyFile)
}

/** The `error` of the pino line that refused a reload. */
function refusal(line: string): string {
  const entry = JSON.parse(line) as { msg: string, error?: string }
  expect(entry.msg).toBe('policy reload refused; keeping the last good policy')
  return entry.error ?? ''
}

describe('a running plugin reloads its policy', () => {
  it('mallory, in no project, may not list containers', async () => {
    expectDenied(await malloryPs(), stack.plugin.name, 'mallory holds no role in any project')
  })

  it('a good edit of the file takes effect without a restart', async () => {
    const since = await headSeq(stack.plugin)
    const offset = await stack.plugin.logOffset()
    const pid = stack.plugin.pid
    await writeFile(stack.policyFile, json(withMallory('developer')))

    await waitForMalloryPs(true)
    await stack.plugin.waitForLog(/"msg":"policy reloaded"/, { since: offset })
    const [reload] = await systemRecords('policy.reload', since)
    expect(reload?.reason).toContain(`policy reloaded from ${stack.policyFile}`)
    expect(reload?.fields).toMatchObject({ policyDigest: expect.stringMatching(/^[0-9a-f]{64}$/) })
    expect(stack.plugin.pid).toBe(pid)
  })

  it('an invalid edit is refused: the last good policy stays, the log names the JSON path', async () => {
    const since = await headSeq(stack.plugin)
    const offset = await stack.plugin.logOffset()
    await replacePolicyFile(json(withMallory('superuser')))

    const error = refusal(await stack.plugin.waitForLog(/policy reload refused/, { since: offset }))
    expect(error).toContain(`${MALLORY_PATH}: unknown role "superuser"`)
    expect(await systemRecords('policy.reload-failed', since)).toEqual([
      expect.objectContaining({ reason: expect.stringContaining(`${MALLORY_PATH}: unknown role "superuser"`) }),
    ])
    // Still a developer of payments by the last good policy.
    expectOk(await malloryPs())
  })

  it('SIGHUP rereads the file: the unchanged bad file is refused again', async () => {
    const since = await headSeq(stack.plugin)
    const offset = await stack.plugin.logOffset()
    stack.plugin.reload()

    // The file did not change, so only the signal can have caused this reload.
    expect(refusal(await stack.plugin.waitForLog(/policy reload refused/, { since: offset }))).toContain(MALLORY_PATH)
    expect(await systemRecords('policy.reload-failed', since)).toHaveLength(1)
    expectOk(await malloryPs())
  })

  it('`policy reload --admin-socket` on a bad file exits 1 and prints the problems', async () => {
    const result = await stack.plugin.cli(['policy', 'reload', '--admin-socket', stack.plugin.adminSocket])
    expect(result.code, result.stdout + result.stderr).toBe(1)
    expect(result.stderr).toContain('the daemon keeps the last good one')
    expect(result.stderr).toContain(`${MALLORY_PATH}: unknown role "superuser"`)
    expectOk(await malloryPs())
  })

  it('an edit made through a symlink is picked up: the target\'s directory is watched too', async () => {
    // The policy file becomes a link to a file elsewhere, as configuration managers and mounted volumes do it.
    const targetDir = path.join(stack.dir, 'policies')
    const target = path.join(targetDir, 'policy.json')
    await mkdir(targetDir)
    await writeFile(target, json(withMallory('developer')))
    const link = `${stack.policyFile}.link`
    await symlink(target, link)
    await rename(link, stack.policyFile)
    await waitForMalloryPs(true)
    // Let the watcher's debounce (at most MAX_SETTLE_MS, 500 ms, src/policy/source.ts) for the link itself run out: a
    // product timer, and a reload that finds nothing changed says nothing, so there is no event to wait on.
    await sleep(500)

    const since = await headSeq(stack.plugin)
    const offset = await stack.plugin.logOffset()
    await writeFile(target, json(examplePolicy))

    await stack.plugin.waitForLog(/"msg":"policy reloaded"/, { since: offset })
    expectDenied(await malloryPs(), stack.plugin.name, 'mallory holds no role in any project')
    expect(await systemRecords('policy.reload', since)).toHaveLength(1)
  })

  it('`policy reload --admin-socket` on a good file exits 0', async () => {
    const result = await stack.plugin.cli(['policy', 'reload', '--admin-socket', stack.plugin.adminSocket])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^policy reloaded \(sha256 [0-9a-f]{12}\): no change$/m)
  })
})

describe('serve', () => {
  it('refuses to start on an invalid policy, naming the JSON path', async () => {
    const dir = path.join(stack.dir, 'serve-bad')
    await mkdir(dir)
    const badPolicy = path.join(dir, 'policy.json')
    await writeFile(badPolicy, json(withMallory('superuser')))
    const socket = path.join(dir, 'portcullis.sock')

    const result = await runPortcullisCli([
      'serve', '--config', badPolicy, '--socket', socket, '--data', path.join(dir, 'data'),
      '--admin-socket', path.join(dir, 'admin.sock'), '--keys', stack.keysDir,
      '--docker-host', stack.dockerd.host, '--plugin-name', 'portcullis-never-started',
    ], { timeoutMs: 15_000 })

    expect(result.code, result.stdout + result.stderr).not.toBe(0)
    expect(result.code).not.toBeNull() // it exited by itself, not killed by the timeout
    expect(result.stderr).toContain(`${MALLORY_PATH}: unknown role "superuser"`)
    expect(result.stderr).toContain('PORTCULLIS_POLICY_INVALID')
    expect(result.stderr).toContain('portcullis policy validate')
  })
})
