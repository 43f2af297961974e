// Policy semantics a reader can predict, with the real docker CLI against a real dockerd: a deny written in a parent
// role wins over the child role's own allow, and the refusal (and its record) names the deny pattern and the role it
// is written in; a bridge-only refusal on a host whose SSH bridge is off says so instead of naming a port.
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decisions, headSeq } from '../helpers/audit.js'
import { deniedMessage, expectDenied, expectOk, startStack, TEST_IMAGE, type Stack } from '../helpers/index.js'

const policy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
// The base role forbids removal; operator, which inherits it, allows removal in its own list.
policy.roles.developer.deny = ['container.remove']
delete policy.bridge
let stack: Stack

beforeAll(async () => {
  stack = await startStack({ policy, users: ['alice', 'carol', 'ops'], importAs: 'ops' })
  expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', '--label', 'portcullis.project=payments', '--name', 'pay-1', TEST_IMAGE, 'sleep', '600']))
})

afterAll(async () => {
  await stack?.stop()
})

describe('a deny inherited from a parent role wins over the child role\'s own allow', () => {
  it('carol (operator, which allows container.remove) cannot remove pay-1, and is told which deny of which role refused it', async () => {
    const since = await headSeq(stack.plugin)
    const rm = await stack.docker('carol', ['rm', '-f', 'pay-1'])
    expectDenied(rm, stack.plugin.name, 'role operator allows it, but deny pattern "container.remove" of role developer, which operator inherits, refuses it')
    expect(deniedMessage(rm, stack.plugin.name)).toContain('a deny anywhere in a role\'s inheritance wins over every allow')
    const [record] = await decisions(stack.plugin, { action: 'container.remove' }, since)
    expect(record).toMatchObject({ decision: 'deny', user: 'carol', role: 'operator', project: 'payments', code: 'ROLE_DENIES' })
    expect(record!.fields).toMatchObject({ deniedBy: { pattern: 'container.remove', role: 'developer' } })
  })

  it('the same rule another way: an admin (allows *, inherits nothing) may remove it', async () => {
    expectOk(await stack.docker('ops', ['rm', '-f', 'pay-1']))
    expectOk(await stack.docker('alice', ['run', '-d', '--network', 'none', '--label', 'portcullis.project=payments', '--name', 'pay-1', TEST_IMAGE, 'sleep', '600']))
  })
})

describe('bridge-only refusals while the SSH bridge is off on this host say so', () => {
  const cases: Array<[string, string[], string]> = [
    ['docker exec -i (an interactive exec)', ['exec', '-i', 'pay-1', 'cat'], 'EXEC_INTERACTIVE'],
    ['docker run -i (an interactive container)', ['run', '-i', '--rm', '--network', 'none', '--label', 'portcullis.project=payments', TEST_IMAGE, 'cat'], 'INTERACTIVE_STREAM'],
    ['docker exec sh -c (command text)', ['exec', 'pay-1', 'sh', '-c', 'id'], 'EXEC_COMMAND_TEXT'],
  ]
  for (const [what, args, code] of cases) {
    it(`${what} is refused without pointing to a port nobody listens on`, async () => {
      const since = await headSeq(stack.plugin)
      const result = await stack.docker('alice', args, { input: '' })
      expectDenied(result, stack.plugin.name, 'the SSH bridge is off on this host')
      expect(deniedMessage(result, stack.plugin.name)).not.toContain('ssh -p')
      const found = await decisions(stack.plugin, { decision: 'deny', code }, since)
      expect(found).toHaveLength(1)
      expect(found[0]).toMatchObject({ user: 'alice', authMethod: 'jwt' })
      expect(found[0]!.reason).toContain('the SSH bridge is off on this host')
    })
  }
})
