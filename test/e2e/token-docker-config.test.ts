// `portcullis token issue --docker-config DIR` writes the token where the docker CLI reads it: the real docker CLI,
// pointed at that directory and nothing else, is then the user in front of a real dockerd with the plugin. The
// config's other keys stay; the token never appears on the terminal; `whoami` reads the user and expiry back. A token
// for a user the policy does not name is issued with a warning (offline from --config, and through the daemon).
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decisions, headSeq } from '../helpers/audit.js'
import { freeTcpPort } from '../helpers/tls.js'
import { runCli, runPortcullisCli, startStack, type Stack } from '../helpers/index.js'

const policy = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
let stack: Stack
let elevationUrl: string

beforeAll(async () => {
  const port = await freeTcpPort()
  elevationUrl = `http://127.0.0.1:${port}`
  stack = await startStack({ policy, users: ['alice', 'ops'], importAs: 'ops', elevationListen: `127.0.0.1:${port}` })
}, 120_000)

afterAll(async () => {
  await stack?.stop()
})

/** The docker CLI with only this config directory: whatever token it sends comes from there. */
const dockerWith = async (configDir: string, args: string[]) => await runCli(['--config', configDir, '--host', `unix://${stack.dockerd.socket}`, ...args], {})

describe('a token written into a docker CLI config', () => {
  it('is what the real docker CLI then sends: the call is alice\'s, and the config\'s other keys stay', { timeout: 60_000 }, async () => {
    const dir = path.join(stack.dir, 'alice-docker')
    mkdirSync(dir)
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ auths: { 'registry.example': { auth: 'YTpi' } }, HttpHeaders: { 'X-Meta': 'kept' } }))
    const issued = await runPortcullisCli(['token', 'issue', '--user', 'alice', '--ttl', '1h', '--keys', stack.keysDir, '--config', stack.policyFile, '--docker-config', dir])
    expect(issued.code, issued.stderr).toBe(0)
    const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'))
    const token = config.HttpHeaders['X-Portcullis-Token'] as string
    expect(config).toEqual({ auths: { 'registry.example': { auth: 'YTpi' } }, HttpHeaders: { 'X-Meta': 'kept', 'X-Portcullis-Token': token } })
    expect(statSync(path.join(dir, 'config.json')).mode & 0o777).toBe(0o600)
    // What it did, never the token.
    expect(issued.stdout).toContain(`for alice into ${path.join(dir, 'config.json')}`)
    expect(issued.stdout).toMatch(/valid until \d{4}-\d\d-\d\dT/)
    expect(issued.stdout + issued.stderr).not.toContain(token.split('.')[2]!)
    expect(issued.stderr).toBe('')

    const since = await headSeq(stack.plugin)
    const ps = await dockerWith(dir, ['ps'])
    expect(ps.code, ps.stderr).toBe(0)
    const [record] = await decisions(stack.plugin, { action: 'container.list' }, since)
    expect(record).toMatchObject({ decision: 'allow', user: 'alice', authMethod: 'jwt' })

    const whoami = await runPortcullisCli(['whoami', '--docker-config', dir])
    expect(whoami.code, whoami.stderr).toBe(0)
    expect(whoami.stdout).toMatch(/^alice, token ID [0-9a-f-]{36}, valid until \d{4}-.*\(\d+m left\)/)
    expect(whoami.stdout).not.toContain(token.split('.')[2]!)

    // The user side, with nothing typed but the command: the API from $PORTCULLIS_URL, the token from the docker
    // config the profile names.
    const profile = path.join(stack.dir, 'alice-profile.json')
    writeFileSync(profile, JSON.stringify({ dockerConfig: dir }))
    const userEnv = { PATH: process.env.PATH, HOME: stack.dir, PORTCULLIS_PROFILE: profile, PORTCULLIS_URL: elevationUrl }
    const requests = await runPortcullisCli(['request', 'list', '--json'], { env: userEnv })
    expect(requests.code, requests.stderr).toBe(0)
    expect(JSON.parse(requests.stdout)).toEqual(expect.any(Array))
  })

  it('a docker config that is not JSON is refused with a code and left as it was', async () => {
    const dir = path.join(stack.dir, 'broken-docker')
    mkdirSync(dir)
    writeFileSync(path.join(dir, 'config.json'), '{ not json')
    const issued = await runPortcullisCli(['token', 'issue', '--user', 'alice', '--keys', stack.keysDir, '--config', stack.policyFile, '--docker-config', dir])
    expect(issued.code).toBe(2)
    expect(issued.stderr).toMatch(/cannot be updated: it is not JSON.*\[PORTCULLIS_DOCKER_CONFIG_INVALID\]\n$/)
    expect(readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe('{ not json')
  })
})

describe('a token for a user the policy does not name', () => {
  it('is issued offline with a warning naming the policy file, and the docker CLI sending it is refused', { timeout: 60_000 }, async () => {
    const dir = path.join(stack.dir, 'mallory-docker')
    const issued = await runPortcullisCli(['token', 'issue', '--user', 'mallroy', '--keys', stack.keysDir, '--config', stack.policyFile, '--docker-config', dir])
    expect(issued.code, issued.stderr).toBe(0)
    expect(issued.stderr).toBe(`portcullis: warning: mallroy is in no project and holds no global role in ${stack.policyFile}: every docker call with this token is denied until the policy names them or an elevation request is granted (check the spelling of --user).\n`)
    const since = await headSeq(stack.plugin)
    const ps = await dockerWith(dir, ['ps'])
    expect(ps.code).not.toBe(0)
    const [record] = await decisions(stack.plugin, { action: 'container.list' }, since)
    expect(record).toMatchObject({ decision: 'deny', user: 'mallroy' })
  })

  it('through the daemon, the warning names the running daemon\'s policy; a member gets none', async () => {
    const nobody = await runPortcullisCli(['token', 'issue', '--user', 'mallroy', '--admin-socket', stack.plugin.adminSocket])
    expect(nobody.code, nobody.stderr).toBe(0)
    expect(nobody.stderr).toContain('mallroy is in no project and holds no global role in the running daemon\'s policy')
    const ops = await runPortcullisCli(['token', 'issue', '--user', 'ops', '--admin-socket', stack.plugin.adminSocket])
    expect(ops.code, ops.stderr).toBe(0)
    expect(ops.stderr).toBe('')
  })
})
