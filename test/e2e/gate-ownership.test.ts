// Issue 10, classes 9 and 10 against a real dockerd and the real docker CLI: an object's project comes from a
// create portcullis allowed (never from a label the daemon copied from an image), and images belong to projects
// by repository name (examples/policy.json: payments/*, web/*; images.registries).
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createDocker, deniedMessage, dockerdPaths, expectDenied, expectOk, importBusyboxImage, portcullisCliOk, removeDirSync, startDockerd,
  startPortcullis, startStack, TEST_IMAGE, type Dockerd, type Portcullis, type Stack
} from '../helpers/index.js'
import { auditRecords, decisions, headSeq, type Record as AuditRecord } from '../helpers/audit.js'
import { waitFor } from '../helpers/wait.js'

const policy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack

const label = (project: string): string[] => ['--label', `portcullis.project=${project}`]
const run = (project: string, ...rest: string[]): string[] => ['run', '-d', '--network', 'none', ...label(project), ...rest]
const denied = (result: Parameters<typeof expectDenied>[0], message?: string | RegExp): void => expectDenied(result, stack.plugin.name, message)

/** The last refusal recorded for `user` since `since`, with the code the test expects. */
async function refusal (since: number, user: string, code: string): Promise<AuditRecord> {
  const found = await decisions(stack.plugin, { user, decision: 'deny', code }, since)
  expect(found.length, `a ${code} refusal of ${user} in the audit trail`).toBeGreaterThan(0)
  return found.at(-1)!
}

/** A call on the daemon socket as `user`, for what the CLI does not send as such. */
function rawPost (user: string, path: string, body: object): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body)
    const req = http.request({
      socketPath: stack.dockerd.socket,
      path,
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), 'X-Portcullis-Token': stack.tokens[user]! }
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

async function imageId (ref: string): Promise<string> {
  const out = await stack.docker('ops', ['image', 'inspect', '--format', '{{.Id}}', ref])
  expectOk(out)
  return out.stdout.trim()
}

beforeAll(async () => {
  stack = await startStack({ policy, users: ['alice', 'bob', 'carol', 'ops'], importAs: 'ops' })
  // A payments base image whose label names payments; the daemon copies it into every container made from it.
  expectOk(await stack.docker('ops', ['build', '-t', 'payments/base:1', '-'], { input: `FROM ${TEST_IMAGE}\nLABEL portcullis.project=payments\n` }))
  expectOk(await stack.docker('ops', ['build', '-t', 'web/site:1', '-'], { input: `FROM ${TEST_IMAGE}\nLABEL site=web\n` }))
}, 180_000)

afterAll(async () => {
  await stack?.stop()
})

describe('class 9: projects come from creates portcullis allowed', () => {
  it('a developer still runs and execs in her own project, and the record says the project came from the registry', async () => {
    expectOk(await stack.docker('alice', [...run('payments', '--name', 'pay-own', TEST_IMAGE, 'sleep', '600')]))
    const since = await headSeq(stack.plugin)
    expectOk(await stack.docker('alice', ['exec', 'pay-own', 'true']))
    const [exec] = await decisions(stack.plugin, { user: 'alice', action: 'container.exec', decision: 'allow' }, since)
    expect(exec).toMatchObject({ project: 'payments' })
    expect(exec!.fields).toMatchObject({ projectSource: 'registry' })
  })

  it('a classic-builder RUN container carrying the payments label is not payments\'s: its developers cannot exec into it', async () => {
    const build = stack.docker('alice', ['build', '-t', 'payments/app:1', '-'], { input: 'FROM payments/base:1\nRUN sleep 25\n', timeoutMs: 120_000 })
    const builder = await waitFor('the classic builder\'s RUN container (`sleep 25`) running', async () => {
      const ps = await stack.docker('ops', ['ps', '--no-trunc', '--filter', 'label=portcullis.project=payments', '--format', '{{.ID}} {{.Command}}'])
      return ps.stdout.split('\n').find((line) => line.includes('sleep 25'))?.split(' ')[0]
    }, { timeoutMs: 30_000, intervalMs: 500 })
    const labels = await stack.docker('ops', ['inspect', '--format', '{{index .Config.Labels "portcullis.project"}}', builder])
    expect(labels.stdout.trim()).toBe('payments')

    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['exec', builder, 'touch', '/tampered']), /was not created through portcullis, so it belongs to no project/)
    denied(await stack.docker('carol', ['exec', builder, 'true']), /was not created through portcullis/)
    const record = await refusal(since, 'carol', 'UNOWNED_RESOURCE')
    expect(record.fields).toMatchObject({ projectSource: 'unregistered' })
    // The CLI stops at its inspect; the exec create itself, sent raw, is refused the same way.
    const raw = await rawPost('alice', `/v1.41/containers/${builder}/exec`, { Cmd: ['touch', '/tampered'] })
    expect(raw.status).toBe(403)
    expect(raw.body).toMatch(/was not created through portcullis/)
    const execs = await decisions(stack.plugin, { user: 'alice', code: 'UNOWNED_RESOURCE', action: 'container.exec' }, since)
    expect(execs).toHaveLength(1)
    expect(execs[0]!.fields).toMatchObject({ projectSource: 'unregistered' })
    // A global admin still may: unowned objects are for global roles.
    expectOk(await stack.docker('ops', ['exec', builder, 'true']))
    expectOk(await build)
  }, 150_000)

  it('a removed volume\'s name does not keep its project: the daemon\'s own re-creation of the name belongs to nobody', async () => {
    expectOk(await stack.docker('carol', ['volume', 'create', ...label('payments'), 'reused']))
    expectOk(await stack.docker('carol', ['volume', 'rm', 'reused']))
    // bob's run makes a fresh, unlabelled volume `reused` without any volume.create call.
    expectOk(await stack.docker('bob', [...run('web', '-v', 'reused:/data', TEST_IMAGE, 'sleep', '600')]))
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', [...run('payments', '-v', 'reused:/data', TEST_IMAGE, 'cat', '/data/x')]), /volume reused, which belongs to no project/)
    await refusal(since, 'alice', 'CROSS_PROJECT')
  })

  it('a volume created through portcullis is its project\'s', async () => {
    expectOk(await stack.docker('alice', ['volume', 'create', ...label('payments'), 'pay-data']))
    expectOk(await stack.docker('alice', [...run('payments', '-v', 'pay-data:/data', TEST_IMAGE, 'true')]))
    denied(await stack.docker('bob', [...run('web', '-v', 'pay-data:/data', TEST_IMAGE, 'true')]), /belongs to project payments/)
  })
})

describe('class 10: images belong to projects by repository name', () => {
  it('a developer tags and builds within her project\'s pattern', async () => {
    expectOk(await stack.docker('alice', ['tag', TEST_IMAGE, 'payments/tool:1']))
    expectOk(await stack.docker('alice', ['build', '-t', 'payments/tool:2', '-t', 'docker.io/payments/tool:3', '-'], { input: `FROM ${TEST_IMAGE}\n` }))
  })

  it('a developer cannot retag another project\'s repository (however she spells it)', async () => {
    const since = await headSeq(stack.plugin)
    for (const name of ['payments/base:1', 'docker.io/payments/base:1', 'index.docker.io/payments/base']) {
      denied(await stack.docker('bob', ['tag', 'web/site:1', name]), /bob may not image.tag in project payments/)
    }
    const record = await refusal(since, 'bob', 'ROLE_DENIES')
    expect(record).toMatchObject({ action: 'image.tag', project: 'payments' })
    // The base image still is what payments built.
    expect(await imageId('payments/base:1')).not.toBe(await imageId('web/site:1'))
  })

  it('nor build into it, nor tag into a repository no project owns', async () => {
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['build', '-t', 'web/site:1', '-'], { input: `FROM ${TEST_IMAGE}\n` }), /alice is not a member of project web/)
    await refusal(since, 'alice', 'NOT_MEMBER')
    denied(await stack.docker('alice', ['tag', TEST_IMAGE, 'busybox:latest']), /matches no project's images pattern/)
    await refusal(since, 'alice', 'UNOWNED_RESOURCE')
  })

  it('a developer cannot push another project\'s repository', async () => {
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('bob', ['push', 'payments/base:1']), /bob may not image.push in project payments/)
    expect(await refusal(since, 'bob', 'ROLE_DENIES')).toMatchObject({ action: 'image.push', project: 'payments' })
  })

  it('an operator cannot remove another project\'s image, by name, ID or ID prefix', async () => {
    const id = await imageId('web/site:1')
    const since = await headSeq(stack.plugin)
    for (const ref of ['web/site:1', id, id.replace('sha256:', '').slice(0, 12)]) {
      denied(await stack.docker('carol', ['rmi', '-f', ref]), /carol may not image.remove in project web/)
    }
    expect(await refusal(since, 'carol', 'ROLE_DENIES')).toMatchObject({ action: 'image.remove', project: 'web' })
    expect(await imageId('web/site:1')).toBe(id)
  })

  it('an operator removes her own project\'s tag by name, not an image that also carries another project\'s tag by ID', async () => {
    expectOk(await stack.docker('ops', ['tag', 'web/site:1', 'payments/copy:1']))
    const id = await imageId('web/site:1')
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('carol', ['rmi', '-f', id]), /names repositories of project payments and project web .* so only global roles may/)
    await refusal(since, 'carol', 'UNOWNED_RESOURCE')
    expectOk(await stack.docker('carol', ['rmi', 'payments/copy:1']))
    expect(await imageId('web/site:1')).toBe(id)
  })

  it('docker load is for global roles: the names are inside the tarball', async () => {
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('carol', ['load'], { input: Buffer.alloc(1024) }), /inside the tarball/)
    await refusal(since, 'carol', 'UNOWNED_RESOURCE')
  })

  it('a pull or run from a registry outside images.registries is refused before the daemon contacts it', async () => {
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['pull', '127.0.0.1:5999/payments/app:1']), /registry 127.0.0.1:5999 is not in the policy's images.registries/)
    const pull = await refusal(since, 'alice', 'REGISTRY_NOT_ALLOWED')
    expect(pull.action).toBe('image.pull')
    denied(await stack.docker('alice', [...run('payments', 'quay.io/payments/app:1', 'true')]), /registry quay.io is not in the policy's images.registries/)
    const create = await refusal(since, 'alice', 'REGISTRY_NOT_ALLOWED')
    expect(create.action).toBe('container.create')
  })
})

describe('the first start adopts what existed before, except labels that may be an image\'s', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  })

  it('adopts a container\'s and a volume\'s own label once, leaves a container whose label equals its image\'s unowned, and records both', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-adopt-'))
    cleanups.push(async () => removeDirSync(dir))
    const dockerdDir = path.join(dir, 'dockerd')
    await mkdir(dockerdDir)
    // Before the plugin is enabled: the daemon takes every call.
    let dockerd: Dockerd = await startDockerd({ dir: dockerdDir })
    const bare = createDocker({ socket: dockerd.socket, configRoot: path.join(dir, 'bare-config') })
    await importBusyboxImage(bare)
    expectOk(await bare(['build', '-t', 'payments/base:1', '-'], { input: `FROM ${TEST_IMAGE}\nLABEL portcullis.project=payments\n` }))
    expectOk(await bare(['create', '--name', 'old-own', '--label', 'portcullis.project=payments', TEST_IMAGE, 'sleep', '600']))
    expectOk(await bare(['create', '--name', 'old-inherited', 'payments/base:1', 'sleep', '600']))
    expectOk(await bare(['volume', 'create', '--label', 'portcullis.project=payments', 'old-vol']))
    await dockerd.stop()

    const keysDir = path.join(dir, 'keys')
    const policyFile = path.join(dir, 'policy.json')
    await writeFile(policyFile, JSON.stringify(policy))
    await portcullisCliOk(['keys', 'init', '--keys', keysDir])
    const tokens: Record<string, string> = {}
    for (const user of ['alice', 'ops']) {
      tokens[user] = (await portcullisCliOk(['token', 'issue', '--keys', keysDir, '--user', user, '--ttl', '1h'])).trim().split('\n').pop()!.trim()
    }
    const plugin: Portcullis = await startPortcullis({ dir: path.join(dir, 'plugin'), policyFile, keysDir, dockerSocket: dockerdPaths(dockerdDir).socket })
    cleanups.push(async () => await plugin.stop())
    dockerd = await startDockerd({ dir: dockerdDir, authorizationPlugin: plugin.name })
    cleanups.push(async () => await dockerd.stop())
    const docker = createDocker({ socket: dockerd.socket, configRoot: path.join(dir, 'config') })
    const as = (user: string, args: string[]): ReturnType<typeof docker> => docker(args, { token: tokens[user]! })

    expectOk(await as('alice', ['start', 'old-own']))
    expectOk(await as('alice', ['run', '--rm', '--network', 'none', '--label', 'portcullis.project=payments', '-v', 'old-vol:/data', TEST_IMAGE, 'true']))
    const refused = await as('alice', ['start', 'old-inherited'])
    expect(deniedMessage(refused, plugin.name)).toMatch(/was not created through portcullis, so it belongs to no project/)
    expectOk(await as('ops', ['start', 'old-inherited']))

    const adoption = (await auditRecords(plugin)).filter((r) => r.kind === 'system' && r.action === 'ownership.adopt')
    expect(adoption).toHaveLength(1)
    expect(adoption[0]!.fields).toMatchObject({
      containers: ['old-own=payments'],
      volumes: ['old-vol=payments'],
      inheritedLabel: ['old-inherited=payments']
    })
    const [denial] = (await auditRecords(plugin)).filter((r) => r.kind === 'decision' && r.user === 'alice' && r.code === 'UNOWNED_RESOURCE')
    expect(denial).toMatchObject({ action: 'container.start', decision: 'deny' })

    // A restart does not adopt again.
    await plugin.restart()
    expectOk(await as('alice', ['stop', '-t', '0', 'old-own']))
    expect((await auditRecords(plugin)).filter((r) => r.kind === 'system' && r.action === 'ownership.adopt')).toHaveLength(1)
  }, 240_000)
})
