// The example policy against a real dockerd and the real docker CLI: who may do what in which project.
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectDenied, expectOk, startStack, TEST_IMAGE, type Stack } from '../helpers/index.js'
import { auditRecords, decisions, headSeq } from '../helpers/audit.js'

const policy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack

const run = (project: string, ...rest: string[]): string[] =>
  ['run', '-d', '--network', 'none', '--label', `portcullis.project=${project}`, ...rest]

beforeAll(async () => {
  stack = await startStack({ policy, users: ['alice', 'bob', 'carol', 'ops', 'mallory'], importAs: 'ops' })
  expectOk(await stack.docker('carol', [...run('payments', '--name', 'pay-1', TEST_IMAGE, 'sleep', '600')]))
  expectOk(await stack.docker('bob', [...run('web', '--name', 'web-1', TEST_IMAGE, 'sleep', '600')]))
})

afterAll(async () => {
  await stack?.stop()
})

const denied = (result: Parameters<typeof expectDenied>[0], message?: string | RegExp): void => expectDenied(result, stack.plugin.name, message)

describe('members of a project', () => {
  it('a developer runs, lists, stops and starts containers of the project', async () => {
    expectOk(await stack.docker('alice', [...run('payments', '--name', 'pay-dev', TEST_IMAGE, 'sleep', '600')]))
    const ps = await stack.docker('alice', ['ps', '--format', '{{.Names}}'])
    expectOk(ps)
    expect(ps.stdout).toContain('pay-dev')
    expectOk(await stack.docker('alice', ['stop', '-t', '0', 'pay-dev']))
    expectOk(await stack.docker('alice', ['start', 'pay-dev']))
    expectOk(await stack.docker('alice', ['logs', 'pay-dev']))
  })

  it('a developer may run a command with docker exec', async () => {
    const out = await stack.docker('alice', ['exec', 'pay-1', 'cat', '/etc/hostname'])
    expectOk(out)
    expect(out.stdout.trim()).toMatch(/^[0-9a-f]{12}$/)
  })

  it('a developer may not remove a container; an operator may', async () => {
    expectOk(await stack.docker('alice', [...run('payments', '--name', 'pay-rm', TEST_IMAGE, 'sleep', '600')]))
    denied(await stack.docker('alice', ['rm', '-f', 'pay-rm']), /role developer in payments does not allow it; roles that allow it: operator, admin/)
    expectOk(await stack.docker('carol', ['rm', '-f', 'pay-rm']))
  })

  it('a viewer may look but not touch', async () => {
    expectOk(await stack.docker('bob', ['inspect', 'pay-1']))
    expectOk(await stack.docker('bob', ['logs', 'pay-1']))
    denied(await stack.docker('bob', ['stop', 'pay-1']), 'bob may not container.stop in project payments')
    denied(await stack.docker('bob', ['exec', 'pay-1', 'true']), 'container.exec')
  })

  it('the same user has the role of each project: bob develops web, views payments', async () => {
    expectOk(await stack.docker('bob', ['restart', '-t', '0', 'web-1']))
    denied(await stack.docker('bob', ['restart', '-t', '0', 'pay-1']))
  })

  it('a container is judged by its project whether named by name, full ID or ID prefix', async () => {
    const id = (await stack.docker('carol', ['inspect', '--format', '{{.Id}}', 'pay-1'])).stdout.trim()
    expect(id).toMatch(/^[0-9a-f]{64}$/)
    for (const ref of [id, id.slice(0, 12), id.slice(0, 5)]) {
      denied(await stack.docker('bob', ['pause', ref]), 'in project payments')
      denied(await stack.docker('mallory', ['inspect', ref]))
    }
  })
})

describe('non-members', () => {
  it('a developer of payments can neither exec nor attach to a web container', async () => {
    denied(await stack.docker('alice', ['exec', 'web-1', 'id']), 'alice is not a member of project web')
    denied(await stack.docker('alice', ['attach', '--no-stdin', 'web-1'], { timeoutMs: 30_000 }), 'alice is not a member of project web')
    denied(await stack.docker('alice', ['cp', 'web-1:/etc/hostname', '-']), 'alice is not a member of project web')
  })

  it('a user in no project may do nothing but ping', async () => {
    denied(await stack.docker('mallory', ['ps']), 'mallory holds no role in any project')
    denied(await stack.docker('mallory', [...run('payments', TEST_IMAGE, 'true')]), 'not a member of project payments')
  })

  it('a container must name a project its creator belongs to', async () => {
    denied(await stack.docker('alice', ['run', '--rm', '--network', 'none', TEST_IMAGE, 'true']), '--label portcullis.project=<project>; your projects: payments')
    denied(await stack.docker('alice', [...run('web', TEST_IMAGE, 'true')]), 'alice is not a member of project web')
    denied(await stack.docker('alice', [...run('nope', TEST_IMAGE, 'true')]), 'project "nope" is not in the policy')
  })
})

describe('host-reaching settings need an unsafe role', () => {
  const escapes: Array<[string, string[], string]> = [
    ['privileged', ['--privileged'], 'privileged'],
    ['an added capability', ['--cap-add', 'SYS_ADMIN'], 'cap-add'],
    ['the host pid namespace', ['--pid', 'host'], 'pid'],
    ['a bind mount', ['-v', '/etc:/host-etc'], 'bind-mount'],
    ['a device', ['--device', '/dev/null:/dev/x'], 'devices'],
    ['seccomp unconfined', ['--security-opt', 'seccomp=unconfined'], 'security-opt'],
    ['a sysctl', ['--sysctl', 'kernel.msgmax=65536'], 'sysctls']
  ]
  for (const [what, flags, setting] of escapes) {
    it(`an operator may not ask for ${what}`, async () => {
      denied(await stack.docker('carol', ['run', '--rm', '--network', 'none', '--label', 'portcullis.project=payments', ...flags, TEST_IMAGE, 'true']), setting)
    })
  }

  it('an unsafe admin may', async () => {
    // (--privileged itself cannot start here: this sandbox does not grant every capability to runc.)
    const out = await stack.docker('ops', ['run', '--rm', '--network', 'none', '--label', 'portcullis.project=payments', '--pid', 'host', '-v', '/etc:/host-etc:ro', TEST_IMAGE, 'ls', '/host-etc/hostname'])
    expectOk(out)
  })

  it('a container may not join the namespace of another project\'s container', async () => {
    denied(await stack.docker('ops', ['run', '--rm', '--label', 'portcullis.project=payments', '--network', 'container:web-1', TEST_IMAGE, 'true']), 'which belongs to project web')
    denied(await stack.docker('ops', ['run', '--rm', '--network', 'none', '--label', 'portcullis.project=payments', '--volumes-from', 'web-1', TEST_IMAGE, 'true']), 'which belongs to project web')
  })
})

describe('exec under the role\'s rules', () => {
  it('a bridge-only developer is refused docker exec -i and told the SSH bridge, her only way in, is off on this host', async () => {
    denied(await stack.docker('alice', ['exec', '-i', 'pay-1', 'sh'], { input: 'exit\n' }), 'only through the recorded SSH bridge: the SSH bridge is off on this host')
  })

  it('an operator may exec interactively', async () => {
    const out = await stack.docker('carol', ['exec', '-i', 'pay-1', 'sh'], { input: 'echo interactive-ok\nexit\n' })
    expectOk(out)
    expect(out.stdout).toContain('interactive-ok')
  })

  it('a denied command is refused', async () => {
    denied(await stack.docker('alice', ['exec', 'pay-1', 'chroot', '/', 'id']), 'may not run "chroot / id"')
  })

  it('privileged exec needs an unsafe role', async () => {
    denied(await stack.docker('carol', ['exec', '--privileged', 'pay-1', 'id']), 'privileged')
  })
})

describe('the audit trail', () => {
  it('records every decision, allowed and denied, with who, what, where and why', async () => {
    const since = await headSeq(stack.plugin)
    expectOk(await stack.docker('alice', ['exec', '-e', 'SECRET=hunter2', 'pay-1', 'echo', 'hi']))
    denied(await stack.docker('bob', ['kill', 'pay-1']))

    const [execCreate] = await decisions(stack.plugin, { user: 'alice', action: 'container.exec' }, since)
    expect(execCreate).toMatchObject({ decision: 'allow', project: 'payments', authMethod: 'jwt', method: 'POST' })
    expect(execCreate!.fields).toMatchObject({ cmd: ['echo', 'hi'] })
    expect(JSON.stringify(execCreate)).not.toContain('hunter2')
    expect(JSON.stringify(execCreate)).toContain('SECRET')

    const [kill] = await decisions(stack.plugin, { user: 'bob', action: 'container.kill' }, since)
    expect(kill).toMatchObject({ decision: 'deny', project: 'payments', code: 'ROLE_DENIES' })
    expect(kill!.reason).toContain('bob may not container.kill')
  })

  it('records the response status of allowed calls', async () => {
    const since = await headSeq(stack.plugin)
    expectOk(await stack.docker('alice', ['inspect', 'pay-1']))
    // Response records ride with the next batch (within 50 ms), so look until it is there.
    await expect.poll(async () => {
      const all = (await auditRecords(stack.plugin)).filter((r) => r.seq > since)
      const request = all.find((r) => r.kind === 'decision' && r.action === 'container.inspect')
      return all.find((r) => r.kind === 'response' && r.reqSeq === request?.seq)
    }, { timeout: 5000 }).toMatchObject({ status: 200 })
  })

  it('the chain verifies', async () => {
    const result = await stack.plugin.cli(['audit', 'verify', '--admin-socket', stack.plugin.adminSocket])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toMatch(/audit chain intact: \d+ records/)
  })
})
