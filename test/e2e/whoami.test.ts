// `portcullis whoami`, the user side: the token the docker CLI sends, read locally (user, token ID, expiry; never the
// token), from --docker-config, $DOCKER_CONFIG or the profile's dockerConfig; exit 1 with how to get a new one when
// there is none or it has expired.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { runPortcullisCli } from '../helpers/index.js'

const home = mkdtempSync(path.join(tmpdir(), 'portcullis-whoami-'))
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), ...extra })

describe('whoami, the user side', () => {
  const unsigned = (claims: object): string => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`

  it('an expired token: its user and expiry, how to get a new one, exit 1; never the token', async () => {
    const dir = path.join(home, 'expired-docker')
    mkdirSync(dir)
    const token = unsigned({ sub: 'alice', jti: '11111111-2222-3333-4444-555555555555', iat: 1_700_000_000, exp: 1_700_003_600 })
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ HttpHeaders: { 'x-portcullis-token': token } }))
    const result = await runPortcullisCli(['whoami', '--docker-config', dir], { env: env() })
    expect(result.code).toBe(1)
    expect(result.stdout).toBe(`alice, token ID 11111111-2222-3333-4444-555555555555, valid until 2023-11-14T23:13:20.000Z (expired); sent by the docker CLI from ${path.join(dir, 'config.json')}.\n` +
      `Ask your portcullis administrator for a new one: \`portcullis token issue --user alice --docker-config ${dir}\` (run where the keys are).\n`)
    expect(result.stdout).not.toContain('c2ln')
  })

  it('no token in the config the profile names: says so, exit 1', async () => {
    const profile = path.join(home, 'whoami-profile.json')
    writeFileSync(profile, JSON.stringify({ dockerConfig: path.join(home, 'empty-docker') }))
    const result = await runPortcullisCli(['whoami'], { env: env({ PORTCULLIS_PROFILE: profile }) })
    expect(result.code).toBe(1)
    expect(result.stdout).toContain(`No portcullis token in ${path.join(home, 'empty-docker', 'config.json')} (no X-Portcullis-Token header).`)
  })
})
