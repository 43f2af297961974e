// Issue 10, classes 6–8 against a real dockerd and the real docker CLI: prune stays inside a project, names the
// daemon could read as IDs are refused, and entering a container (or volume, network) that reaches the host needs
// an unsafe role.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectDenied, expectOk, startStack, TEST_IMAGE, TOKEN_HEADER, type DockerResult, type Stack } from '../helpers/index.js'
import { decisions, headSeq } from '../helpers/audit.js'
import { daemonRequest } from '../helpers/daemon-http.js'

const policy = {
  version: 1,
  anonymous: { allow: ['system.ping', 'system.version'] },
  roles: {
    developer: {
      allow: [
        'system.*', 'container.*', 'exec.*', 'image.list', 'image.inspect', 'image.prune', 'image.build-prune',
        'volume.*', 'network.*'
      ],
      exec: { interactive: 'allow' }
    },
    admin: { allow: ['*'], unsafe: true }
  },
  projects: {
    payments: { members: { alice: 'developer' } },
    web: { members: { bob: 'developer' } }
  },
  global: { members: { ops: 'admin' } }
}

let stack: Stack

const label = (project: string): string[] => ['--label', `portcullis.project=${project}`]
const exists = async (kind: 'container' | 'volume' | 'network', name: string): Promise<boolean> =>
  (await stack.docker('ops', [kind, 'inspect', name])).code === 0

beforeAll(async () => {
  stack = await startStack({ policy, users: ['alice', 'bob', 'ops'], importAs: 'ops' })
  // A normal running container of each project.
  expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', ...label('payments'), '--name', 'pay-app', TEST_IMAGE, 'sleep', '600']))
  expectOk(await stack.docker('bob', ['run', '-d', '--network', 'none', ...label('web'), '--name', 'web-app', TEST_IMAGE, 'sleep', '600']))
  // Containers of payments that an unsafe admin gave host reach.
  expectOk(await stack.docker('ops', ['run', '-d', '--network', 'none', ...label('payments'), '--name', 'pay-hostly', '-v', '/etc:/host-etc:ro', TEST_IMAGE, 'sleep', '600']))
  expectOk(await stack.docker('ops', ['run', '-d', '--network', 'none', ...label('payments'), '--name', 'pay-pidhost', '--pid', 'host', TEST_IMAGE, 'sleep', '600']))
  expectOk(await stack.docker('ops', ['volume', 'create', ...label('payments'), '-o', 'type=none', '-o', 'o=bind', '-o', 'device=/etc', 'pay-etc']))
  expectOk(await stack.docker('ops', ['run', '-d', '--network', 'none', ...label('payments'), '--name', 'pay-volly', '-v', 'pay-etc:/v:ro', TEST_IMAGE, 'sleep', '600']))
}, 180_000)

afterAll(async () => {
  await stack?.stop()
})

const denied = (result: DockerResult, message?: string | RegExp): void => expectDenied(result, stack.plugin.name, message)

/** One raw call on the daemon socket as `user`, for what the CLI cannot express. */
function raw (user: string | null, method: string, path: string, body?: unknown): Promise<{ status: number, body: string }> {
  const headers: Record<string, string> = body === undefined ? {} : { 'Content-Type': 'application/json' }
  if (user !== null) headers[TOKEN_HEADER] = stack.tokens[user]!
  return daemonRequest(stack.dockerd.socket, { method, path, headers, body: body === undefined ? undefined : JSON.stringify(body), timeoutMs: 30_000 })
}

describe('prune stays inside a project', () => {
  beforeAll(async () => {
    for (const [user, project] of [['alice', 'payments'], ['bob', 'web']] as const) {
      const short = project.slice(0, 3)
      expectOk(await stack.docker(user, ['create', '--network', 'none', ...label(project), '--name', `${short}-stopped`, TEST_IMAGE, 'true']))
      expectOk(await stack.docker(user, ['volume', 'create', ...label(project), `${short}-data`]))
      expectOk(await stack.docker(user, ['network', 'create', ...label(project), `${short}-net`]))
    }
  })

  it('a developer\'s unfiltered prune is refused and names the filter to add', async () => {
    const since = await headSeq(stack.plugin)
    for (const kind of ['container', 'volume', 'network']) {
      denied(await stack.docker('alice', [kind, 'prune', '-f']), `--filter label=portcullis.project=payments`)
    }
    denied(await stack.docker('alice', ['system', 'prune', '-f']), 'would remove stopped containers of every project')
    const refused = await decisions(stack.plugin, { user: 'alice', decision: 'deny', code: 'PRUNE_UNCONFINED' }, since)
    expect(refused.map((r) => r.action)).toEqual(['container.prune', 'volume.prune', 'network.prune', 'container.prune'])
    for (const [kind, name] of [['container', 'web-stopped'], ['container', 'pay-stopped'], ['volume', 'web-data'], ['network', 'web-net']] as const) {
      expect(await exists(kind, name)).toBe(true)
    }
  })

  it('filters that do not confine it to a project are refused', async () => {
    denied(await stack.docker('alice', ['container', 'prune', '-f', '--filter', 'label=portcullis.project']), 'every project')
    denied(await stack.docker('alice', ['container', 'prune', '-f', '--filter', 'label!=portcullis.project=web']), 'every project')
    denied(await stack.docker('alice', ['container', 'prune', '-f', '--filter', 'label=Portcullis.project=payments']), 'every project')
    denied(await stack.docker('alice', ['volume', 'prune', '-f', '--filter', 'label=portcullis.project=web']), 'alice is not a member of project web')
    denied(await stack.docker('alice', ['volume', 'prune', '-f', '--filter', 'label=portcullis.project=payments', '--filter', 'label=portcullis.project=web']), 'names several projects')
    // Go's map rules: the later duplicate `label` key empties the filter, so the daemon would prune everything.
    const dup = encodeURIComponent('{"label":{"portcullis.project=payments":true},"label":null}')
    const res = await raw('alice', 'POST', `/v1.41/containers/prune?filters=${dup}`)
    expect(res.status).toBe(403)
    expect(res.body).toContain('every project')
    expect(await exists('container', 'web-stopped')).toBe(true)
  })

  it('the confined prune removes the project\'s objects and leaves other projects\' alone', async () => {
    const since = await headSeq(stack.plugin)
    for (const kind of ['container', 'volume', 'network']) {
      expectOk(await stack.docker('alice', [kind, 'prune', '-f', '--filter', 'label=portcullis.project=payments']))
    }
    expect(await exists('container', 'pay-stopped')).toBe(false)
    expect(await exists('volume', 'pay-data')).toBe(false)
    expect(await exists('network', 'pay-net')).toBe(false)
    expect(await exists('container', 'web-stopped')).toBe(true)
    expect(await exists('volume', 'web-data')).toBe(true)
    expect(await exists('network', 'web-net')).toBe(true)
    expect(await exists('container', 'pay-app')).toBe(true)
    const allowed = await decisions(stack.plugin, { user: 'alice', decision: 'allow', action: 'volume.prune' }, since)
    expect(allowed).toHaveLength(1)
    expect(allowed[0]).toMatchObject({ project: 'payments', role: 'developer' })
    expect(allowed[0]!.fields).toMatchObject({ filters: '{"label":{"portcullis.project=payments":true}}' })
  })

  it('the legacy list form of filters confines it too', async () => {
    expectOk(await stack.docker('alice', ['create', '--network', 'none', ...label('payments'), '--name', 'pay-stopped-2', TEST_IMAGE, 'true']))
    const legacy = encodeURIComponent('{"label":["portcullis.project=payments"]}')
    const res = await raw('alice', 'POST', `/v1.41/containers/prune?filters=${legacy}`)
    expect(res.status, res.body).toBe(200)
    expect(await exists('container', 'pay-stopped-2')).toBe(false)
    expect(await exists('container', 'web-stopped')).toBe(true)
  })

  it('image and build-cache prune need a global role, filter or not', async () => {
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['image', 'prune', '-f']), 'only global roles may')
    denied(await stack.docker('alice', ['image', 'prune', '-f', '--filter', 'label=portcullis.project=payments']), 'image labels are user data')
    denied(await stack.docker('alice', ['builder', 'prune', '-f']), 'only global roles may')
    const refused = await decisions(stack.plugin, { user: 'alice', decision: 'deny', code: 'PRUNE_GLOBAL_ONLY' }, since)
    expect(refused.map((r) => r.action)).toEqual(['image.prune', 'image.prune', 'image.build-prune'])
    expectOk(await stack.docker('ops', ['image', 'prune', '-f']))
  })

  it('docker system prune with the filter prunes the project\'s containers and stops at images', async () => {
    expectOk(await stack.docker('alice', ['create', '--network', 'none', ...label('payments'), '--name', 'pay-stopped-3', TEST_IMAGE, 'true']))
    denied(await stack.docker('alice', ['system', 'prune', '-f', '--filter', 'label=portcullis.project=payments']), 'image.prune')
    expect(await exists('container', 'pay-stopped-3')).toBe(false)
    expect(await exists('container', 'web-stopped')).toBe(true)
    expect(await exists('network', 'web-net')).toBe(true)
  })

  it('a global admin may prune everything', async () => {
    expectOk(await stack.docker('ops', ['container', 'prune', '-f']))
    expect(await exists('container', 'web-stopped')).toBe(false)
  })
})

describe('names the daemon could read as IDs', () => {
  it('a container, network or volume may not be named in lowercase hex', async () => {
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['create', '--network', 'none', ...label('payments'), '--name', 'cafe12', TEST_IMAGE]), 'all lowercase hex')
    denied(await stack.docker('alice', ['create', '--network', 'none', ...label('payments'), '--name', '/beef', TEST_IMAGE]), 'all lowercase hex')
    denied(await stack.docker('ops', ['network', 'create', ...label('payments'), 'abcd']), 'all lowercase hex')
    denied(await stack.docker('alice', ['volume', 'create', ...label('payments'), '0123']), 'all lowercase hex')
    const refused = await decisions(stack.plugin, { decision: 'deny', code: 'ID_LIKE_NAME' }, since)
    expect(refused.map((r) => r.action)).toEqual(['container.create', 'container.create', 'network.create', 'volume.create'])
    // Names with any other character cannot be an ID.
    expectOk(await stack.docker('alice', ['create', '--network', 'none', ...label('payments'), '--name', 'Cafe12', TEST_IMAGE]))
    expectOk(await stack.docker('alice', ['rm', 'Cafe12']))
  })

  it('a container may not be renamed to another container\'s ID prefix', async () => {
    const webId = (await stack.docker('ops', ['inspect', '--format', '{{.Id}}', 'web-app'])).stdout.trim()
    expectOk(await stack.docker('alice', ['create', '--network', 'none', ...label('payments'), '--name', 'pay-renamed', TEST_IMAGE]))
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['rename', 'pay-renamed', webId.slice(0, 8)]), 'all lowercase hex')
    const [record] = await decisions(stack.plugin, { user: 'alice', action: 'container.rename' }, since)
    expect(record).toMatchObject({ decision: 'deny', code: 'ID_LIKE_NAME' })
    // ...which is what let a developer act on the other project's container once her own was renamed away.
    denied(await stack.docker('alice', ['kill', webId.slice(0, 8)]), 'not a member of project web')
    expectOk(await stack.docker('alice', ['rename', 'pay-renamed', 'pay-renamed-2']))
  })

  it('an all-hex reference that matches nothing is refused: a container created meanwhile could take it', async () => {
    const ids = (await stack.docker('ops', ['ps', '-aq', '--no-trunc'])).stdout.split('\n')
    const unused = [...'0123456789abcdef'].map((c) => c + c + c).find((p) => !ids.some((id) => id.startsWith(p)))!
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['kill', unused]), 'matches no container now')
    const [record] = await decisions(stack.plugin, { user: 'alice', action: 'container.kill' }, since)
    expect(record).toMatchObject({ decision: 'deny', code: 'AMBIGUOUS_REFERENCE' })
  })

  it('a create may not name a network by ID prefix: dockerd looks it up again at every start', async () => {
    expectOk(await stack.docker('alice', ['network', 'create', ...label('payments'), 'pay-net-2']))
    const id = (await stack.docker('alice', ['network', 'inspect', '--format', '{{.Id}}', 'pay-net-2'])).stdout.trim()
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['create', '--network', id.slice(0, 12), ...label('payments'), TEST_IMAGE]), 'is an ID prefix of network pay-net-2')
    const [record] = await decisions(stack.plugin, { user: 'alice', action: 'container.create' }, since)
    expect(record).toMatchObject({ decision: 'deny', code: 'AMBIGUOUS_REFERENCE' })
    expectOk(await stack.docker('alice', ['create', '--network', 'pay-net-2', ...label('payments'), TEST_IMAGE]))
    expectOk(await stack.docker('alice', ['create', '--network', id, ...label('payments'), TEST_IMAGE]))
    // Other calls resolve the prefix at once, so it is fine there.
    expectOk(await stack.docker('alice', ['network', 'inspect', id.slice(0, 12)]))
  })

  it('a start is judged on the networks as they resolve now: a removed network\'s name taken by another project', async () => {
    expectOk(await stack.docker('alice', ['network', 'create', ...label('payments'), 'shared-name']))
    expectOk(await stack.docker('alice', ['create', '--network', 'shared-name', ...label('payments'), '--name', 'pay-sleeper', TEST_IMAGE, 'sleep', '600']))
    expectOk(await stack.docker('alice', ['create', '--network', 'shared-name', ...label('payments'), '--name', 'pay-sleeper-2', TEST_IMAGE, 'sleep', '600']))
    expectOk(await stack.docker('alice', ['start', 'pay-sleeper-2']))
    expectOk(await stack.docker('alice', ['stop', '-t', '0', 'pay-sleeper-2']))
    // dockerd keeps the name the create gave; the network goes, and another project makes one of that name.
    expectOk(await stack.docker('alice', ['network', 'rm', 'shared-name']))
    expectOk(await stack.docker('bob', ['network', 'create', ...label('web'), 'shared-name']))
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['start', 'pay-sleeper']), 'refers to network shared-name, which belongs to project web')
    const [record] = await decisions(stack.plugin, { user: 'alice', action: 'container.start' }, since)
    expect(record).toMatchObject({ decision: 'deny', code: 'CROSS_PROJECT' })
    expect(await stack.docker('ops', ['inspect', '--format', '{{.State.Running}}', 'pay-sleeper'])).toMatchObject({ stdout: 'false\n' })
  })

  it('a network may not take the name of another project\'s network (dockerd would find neither by it)', async () => {
    expectOk(await stack.docker('bob', ['network', 'create', ...label('web'), 'web-only']))
    denied(await stack.docker('alice', ['network', 'create', ...label('payments'), 'web-only']), 'refers to network web-only, which belongs to project web')
    const res = await raw('alice', 'POST', '/v1.41/networks/create', { Name: 'web-only', CheckDuplicate: false, Labels: { 'portcullis.project': 'payments' } })
    expect(res.status).toBe(403)
    expect((await stack.docker('ops', ['network', 'ls', '-q', '--filter', 'name=^web-only$'])).stdout.trim().split('\n')).toHaveLength(1)
  })

  it('ID prefixes and full IDs of the caller\'s own containers still work', async () => {
    const id = (await stack.docker('alice', ['inspect', '--format', '{{.Id}}', 'pay-app'])).stdout.trim()
    expectOk(await stack.docker('alice', ['exec', id.slice(0, 12), 'true']))
    expectOk(await stack.docker('alice', ['exec', id, 'true']))
  })
})

describe('host reach inherited from an existing object', () => {
  it('a developer may not exec, cp, commit, export or attach into a container with a bind mount', async () => {
    const since = await headSeq(stack.plugin)
    denied(await stack.docker('alice', ['exec', 'pay-hostly', 'cat', '/host-etc/hostname']), /enters container pay-hostly \([0-9a-f]{12}\), which reaches the host: bind-mount/)
    denied(await stack.docker('alice', ['cp', 'pay-hostly:/host-etc/hostname', '-']), 'which reaches the host')
    const file = path.join(stack.dir, 'payload.txt')
    await writeFile(file, 'payload\n')
    denied(await stack.docker('alice', ['cp', file, 'pay-hostly:/tmp/payload.txt']), 'which reaches the host')
    denied(await stack.docker('alice', ['commit', 'pay-hostly', 'pay/stolen:1']), 'which reaches the host')
    denied(await stack.docker('alice', ['export', 'pay-hostly']), 'which reaches the host')
    // The CLI shows only the status of a refused upgrade; the audit record below holds the reason.
    const attach = await stack.docker('alice', ['attach', '--no-stdin', 'pay-hostly'], { timeoutMs: 30_000 })
    expect(attach.code).not.toBe(0)
    expect(attach.stderr).toContain('403')
    const refused = await decisions(stack.plugin, { user: 'alice', decision: 'deny', code: 'UNSAFE_REQUIRED' }, since)
    expect(refused.map((r) => r.action)).toEqual(expect.arrayContaining([
      'container.exec', 'container.archive', 'container.put-archive', 'container.commit', 'container.export', 'container.attach'
    ]))
    expect(refused[0]!.reason).toContain('role developer is not')
    expect(refused.find((r) => r.action === 'container.attach')!.reason).toContain('enters container pay-hostly')
  })

  it('the legacy copy and the websocket attach are refused too', async () => {
    const copy = await raw('alice', 'POST', '/v1.23/containers/pay-hostly/copy', { Resource: '/host-etc/hostname' })
    expect(copy.status).toBe(403)
    const ws = await raw('alice', 'GET', '/v1.41/containers/pay-hostly/attach/ws?stream=1&stdout=1')
    expect(ws.status).toBe(403)
    expect(ws.body).toContain('which reaches the host')
  })

  it('host namespaces and bind-like volumes count as host reach too', async () => {
    denied(await stack.docker('alice', ['exec', 'pay-pidhost', 'ps']), 'pid-namespace')
    denied(await stack.docker('alice', ['exec', 'pay-volly', 'ls', '/v']), 'volume pay-etc: driver options')
  })

  it('--volumes-from, mounting a bind-like volume and joining through a create need an unsafe role', async () => {
    const run = (...flags: string[]): string[] => ['run', '--rm', '--network', 'none', ...label('payments'), ...flags, TEST_IMAGE, 'true']
    denied(await stack.docker('alice', run('--volumes-from', 'pay-hostly')), 'takes from container pay-hostly')
    // The daemon inherits the admin container's mounts, binds included, through a second container too.
    denied(await stack.docker('alice', run('--volumes-from', 'pay-volly')), 'takes from container pay-volly')
    denied(await stack.docker('alice', run('-v', 'pay-etc:/x')), 'takes from volume pay-etc')
    denied(await stack.docker('alice', run('--mount', 'type=volume,source=pay-etc,target=/x')), 'takes from volume pay-etc')
  })

  // Joining a macvlan/ipvlan network an admin made: this sandbox's kernel cannot create one ("operation not
  // supported"), so test/unit/policy-objects.test.ts holds that rule.

  it('an exec an admin created in a host-reaching container cannot be started by a developer', async () => {
    const created = await raw('ops', 'POST', '/v1.41/containers/pay-hostly/exec', { Cmd: ['cat', '/host-etc/hostname'], AttachStdout: true })
    expect(created.status, created.body).toBe(201)
    const { Id } = JSON.parse(created.body) as { Id: string }
    const started = await raw('alice', 'POST', `/v1.41/exec/${Id}/start`, { Detach: true })
    expect(started.status).toBe(403)
    expect(started.body).toContain('which reaches the host')
  })

  it('an unsafe admin may enter it; looking and stopping stay as they were', async () => {
    const out = await stack.docker('ops', ['exec', 'pay-hostly', 'cat', '/host-etc/hostname'])
    expectOk(out)
    expectOk(await stack.docker('alice', ['inspect', 'pay-hostly']))
    expectOk(await stack.docker('alice', ['logs', 'pay-hostly']))
    expectOk(await stack.docker('alice', ['stop', '-t', '0', 'pay-pidhost']))
    expectOk(await stack.docker('alice', ['start', 'pay-pidhost']))
  })

  it('a normal container of the project still works for the developer', async () => {
    expectOk(await stack.docker('alice', ['exec', 'pay-app', 'true']))
    expectOk(await stack.docker('alice', ['cp', 'pay-app:/etc/passwd', '-']))
    expectOk(await stack.docker('alice', ['export', 'pay-app']))
    const file = path.join(stack.dir, 'into-app.txt')
    await writeFile(file, 'into the app\n')
    expectOk(await stack.docker('alice', ['cp', file, 'pay-app:/tmp/into-app.txt']))
    expectOk(await stack.docker('alice', ['commit', 'pay-app', 'pay/app:snap']))
    expectOk(await stack.docker('alice', ['volume', 'create', ...label('payments'), 'pay-plain']))
    expectOk(await stack.docker('alice', ['run', '--rm', '--network', 'none', ...label('payments'), '--volumes-from', 'pay-app', '-v', 'pay-plain:/p', TEST_IMAGE, 'true']))
  })
})
