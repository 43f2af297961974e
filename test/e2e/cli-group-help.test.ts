// The built CLI as users run it: a group asked for with --help lists its commands and exits 0; a group named alone
// prints the same and exits 2 (like git); unknown commands and flags are `portcullis: … [CODE]` with "did you mean".
// `portcullis config` says where each daemon location comes from; a bad profile is a coded error naming file and key.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { runPortcullisCli } from '../helpers/index.js'

const home = mkdtempSync(path.join(tmpdir(), 'portcullis-cli-help-'))
/** No profile of this machine's user, no location from the test runner's environment. */
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), ...extra })

describe('group help', () => {
  for (const group of ['policy', 'audit', 'request', 'fleet']) {
    it(`\`portcullis ${group} --help\` lists its commands and exits 0; \`portcullis ${group}\` prints the same on stderr and exits 2`, async () => {
      const asked = await runPortcullisCli([group, '--help'], { env: env() })
      expect(asked.code).toBe(0)
      expect(asked.stdout).toMatch(new RegExp(`^Usage: portcullis ${group} COMMAND \\[options\\]\\n\\nCommands:\\n  \\S`))
      expect(asked.stdout).toContain(`Run \`portcullis ${group} COMMAND --help\` for its options.`)
      const bare = await runPortcullisCli([group], { env: env() })
      expect(bare.code).toBe(2)
      expect(bare.stderr).toBe(asked.stdout)
      expect(bare.stdout).toBe('')
    })
  }

  it('`portcullis help audit` is `portcullis audit --help`', async () => {
    const help = await runPortcullisCli(['help', 'audit'], { env: env() })
    expect(help.code).toBe(0)
    expect(help.stdout).toBe((await runPortcullisCli(['audit', '--help'], { env: env() })).stdout)
  })

  it('the top-level help lists config and whoami', async () => {
    const help = await runPortcullisCli(['--help'], { env: env() })
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/\n {2}config +Show where the CLI finds the daemon/)
    expect(help.stdout).toMatch(/\n {2}whoami +Show the portcullis token your docker CLI sends/)
  })
})

describe('unknown commands and flags', () => {
  it('a misspelt command: exit 2, the closest command, the code', async () => {
    const result = await runPortcullisCli(['polcy', 'validate'], { env: env() })
    expect(result.code).toBe(2)
    expect(result.stderr).toBe('portcullis: Unknown command "polcy" (did you mean `portcullis policy`?). Run `portcullis --help` for the list. [PORTCULLIS_UNKNOWN_COMMAND]\n')
  })

  it('a misspelt member of a group', async () => {
    const result = await runPortcullisCli(['audit', 'tial'], { env: env() })
    expect(result.code).toBe(2)
    expect(result.stderr).toBe('portcullis: Unknown command "audit tial" (did you mean `portcullis audit tail`?). Run `portcullis audit --help` for the list. [PORTCULLIS_UNKNOWN_COMMAND]\n')
  })

  it('a misspelt flag', async () => {
    const result = await runPortcullisCli(['token', 'issue', '--user', 'a', '--docker-cofnig', '/tmp/x'], { env: env() })
    expect(result.code).toBe(2)
    expect(result.stderr).toBe('portcullis: Bad command line: unknown option --docker-cofnig (did you mean --docker-config?). Run `portcullis token issue --help` for the options. [PORTCULLIS_USAGE]\n')
  })
})

describe('where the daemon is, remembered', () => {
  it('`portcullis config` names the source of each value: environment, profile, default', async () => {
    const profile = path.join(home, 'profile.json')
    writeFileSync(profile, JSON.stringify({ adminSocket: '/srv/p/admin.sock', tokenFile: '/srv/p/token' }))
    const result = await runPortcullisCli(['config', '--json'], { env: env({ PORTCULLIS_PROFILE: profile, PORTCULLIS_URL: 'http://10.0.0.5:2224' }) })
    expect(result.code, result.stderr).toBe(0)
    const shown = JSON.parse(result.stdout) as { profile: { path: string, found: boolean }, locations: Array<{ option: string, value: string | null, source: string }> }
    expect(shown.profile).toEqual({ path: profile, found: true })
    const byOption = Object.fromEntries(shown.locations.map((l) => [l.option, { value: l.value, source: l.source }]))
    expect(byOption).toEqual({
      '--admin-socket': { value: '/srv/p/admin.sock', source: `profile ${profile} (adminSocket)` },
      '--url': { value: 'http://10.0.0.5:2224', source: '$PORTCULLIS_URL' },
      '--docker-config': { value: path.join(home, '.docker'), source: 'default' },
      '--token-file': { value: '/srv/p/token', source: `profile ${profile} (tokenFile)` }
    })
  })

  it('status goes to the remembered admin socket, and says which one it could not reach', async () => {
    const result = await runPortcullisCli(['status'], { env: env({ PORTCULLIS_ADMIN_SOCKET: path.join(home, 'nowhere.sock') }) })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`Cannot reach the portcullis admin socket ${path.join(home, 'nowhere.sock')}`)
    expect(result.stderr).toMatch(/\[PORTCULLIS_ADMIN_UNREACHABLE\]\n$/)
  })

  it('a bad profile is a coded error naming the file and the key', async () => {
    const profile = path.join(home, 'bad-profile.json')
    writeFileSync(profile, JSON.stringify({ adminSokcet: '/x' }))
    const result = await runPortcullisCli(['status'], { env: env({ PORTCULLIS_PROFILE: profile }) })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`The profile ${profile} cannot be used: unknown key "adminSokcet" (did you mean "adminSocket"?)`)
    expect(result.stderr).toMatch(/\[PORTCULLIS_PROFILE_INVALID\]\n$/)
  })
})
