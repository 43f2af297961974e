// Where the CLI finds the daemon: a flag wins, then the environment variable, then the profile, then the command's
// default. An option whose absence chooses a mode (token issue's offline issuing, request's admin socket) is never
// switched by a remembered value; serve never reads one.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseCommandLine, type Command, type Options } from '../../src/cli/command.js'
import { COMMANDS } from '../../src/cli/commands.js'
import { LocationResolver } from '../../src/cli/locations.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-locations-'))
const profile = join(dir, 'profile.json')
writeFileSync(profile, JSON.stringify({ adminSocket: '/profile/admin.sock', url: 'http://profile:2224', tokenFile: '/profile/token' }))

async function command (name: string): Promise<Command<Options>> {
  return await COMMANDS.find((c) => c.name === name)!.load()
}

function parse (cmd: Command<Options>, argv: string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  return parseCommandLine(cmd, argv, new LocationResolver(env)).values
}

describe('remembered locations: flag > environment > profile > default', () => {
  it('status: the flag wins over the environment and the profile', async () => {
    const env = { PORTCULLIS_PROFILE: profile, PORTCULLIS_ADMIN_SOCKET: '/env/admin.sock' }
    expect(parse(await command('status'), ['--admin-socket', '/flag/admin.sock'], env)['admin-socket']).toBe('/flag/admin.sock')
  })

  it('status: the environment wins over the profile', async () => {
    const env = { PORTCULLIS_PROFILE: profile, PORTCULLIS_ADMIN_SOCKET: '/env/admin.sock' }
    expect(parse(await command('status'), [], env)['admin-socket']).toBe('/env/admin.sock')
  })

  it('status and every audit command: the profile wins over the default', async () => {
    for (const name of ['status', 'policy reload', 'audit tail', 'audit export', 'audit verify', 'audit sessions', 'audit checkpoint', 'audit bundle']) {
      expect(parse(await command(name), [], { PORTCULLIS_PROFILE: profile })['admin-socket'], name).toBe('/profile/admin.sock')
    }
  })

  it('without flag, environment or profile, the built-in default', async () => {
    expect(parse(await command('status'), [], { XDG_CONFIG_HOME: join(dir, 'none') })['admin-socket']).toBe('/run/portcullis/admin.sock')
    expect(parse(await command('request list'), [], { XDG_CONFIG_HOME: join(dir, 'none') }).url).toBe('http://127.0.0.1:2224')
  })

  it('request: $PORTCULLIS_URL, else the profile url; the token file is remembered too', async () => {
    const list = await command('request list')
    expect(parse(list, [], { PORTCULLIS_PROFILE: profile, PORTCULLIS_URL: 'http://env:1' }).url).toBe('http://env:1')
    expect(parse(list, [], { PORTCULLIS_PROFILE: profile })).toMatchObject({ url: 'http://profile:2224', 'token-file': '/profile/token' })
    expect(parse(list, ['--url', 'http://flag:3'], { PORTCULLIS_PROFILE: profile, PORTCULLIS_URL: 'http://env:1' }).url).toBe('http://flag:3')
  })

  it('audit commands remember the token file for --url, but never the URL itself: --url is the auditor\'s switch', async () => {
    const env = { PORTCULLIS_PROFILE: profile, PORTCULLIS_URL: 'http://env:1' }
    for (const name of ['audit tail', 'audit export', 'audit verify', 'audit sessions', 'audit replay', 'audit bundle', 'audit verify-files']) {
      expect(parse(await command(name), [], env), name).toMatchObject({ 'admin-socket': '/profile/admin.sock', 'token-file': '/profile/token' })
      expect(parse(await command(name), [], env).url, name).toBeUndefined()
    }
  })

  it('a remembered admin socket does not switch request or token issue to the admin socket', async () => {
    const env = { PORTCULLIS_PROFILE: profile, PORTCULLIS_ADMIN_SOCKET: '/env/admin.sock' }
    expect(parse(await command('request list'), [], env)['admin-socket']).toBeUndefined()
    expect(parse(await command('token issue'), ['--user', 'a'], env)['admin-socket']).toBeUndefined()
    expect(parse(await command('token issue'), ['--user', 'a'], { ...env, DOCKER_CONFIG: '/env/docker' })['docker-config']).toBeUndefined()
  })

  it('serve listens where its command line says, whatever the environment or profile', async () => {
    const env = { PORTCULLIS_PROFILE: profile, PORTCULLIS_ADMIN_SOCKET: '/env/admin.sock' }
    expect(parse(await command('serve'), [], env)['admin-socket']).toBe('/run/portcullis/admin.sock')
  })

  it('whoami reads $DOCKER_CONFIG, else the profile\'s dockerConfig', async () => {
    const withDocker = join(dir, 'docker-profile.json')
    writeFileSync(withDocker, JSON.stringify({ dockerConfig: '/profile/docker' }))
    const whoami = await command('whoami')
    expect(parse(whoami, [], { PORTCULLIS_PROFILE: withDocker })['docker-config']).toBe('/profile/docker')
    expect(parse(whoami, [], { PORTCULLIS_PROFILE: withDocker, DOCKER_CONFIG: '/env/docker' })['docker-config']).toBe('/env/docker')
  })

  it('names where each value came from', () => {
    const resolver = new LocationResolver({ PORTCULLIS_PROFILE: profile, PORTCULLIS_URL: 'http://env:1' })
    expect(resolver.resolveWithDefault('admin-socket', '/flag')).toEqual({ value: '/flag', source: '--admin-socket' })
    expect(resolver.resolveWithDefault('url', undefined)).toEqual({ value: 'http://env:1', source: '$PORTCULLIS_URL' })
    expect(resolver.resolveWithDefault('admin-socket', undefined)).toEqual({ value: '/profile/admin.sock', source: `profile ${profile} (adminSocket)` })
    expect(resolver.resolveWithDefault('docker-config', undefined).source).toBe('default')
    expect(new LocationResolver({ XDG_CONFIG_HOME: join(dir, 'none') }).resolveWithDefault('token-file', undefined)).toEqual({ value: undefined, source: 'unset' })
  })

  it('reads the profile only when a value falls through to it: a broken profile does not stop a command given flags', async () => {
    const broken = join(dir, 'broken.json')
    writeFileSync(broken, '{')
    const status = await command('status')
    expect(parse(status, ['--admin-socket', '/flag'], { PORTCULLIS_PROFILE: broken })['admin-socket']).toBe('/flag')
    expect(() => parse(status, [], { PORTCULLIS_PROFILE: broken })).toThrow(/broken\.json cannot be used: it is not JSON/)
  })
})
