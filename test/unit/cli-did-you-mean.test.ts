// Unknown commands and flags are usage errors in the documented `[CODE]` form, naming the closest command or flag.
// A group named alone is the group; its members are listed by the help, not guessed.
import { describe, expect, it } from 'vitest'
import { parseCommandLine } from '../../src/cli/command.js'
import { COMMANDS } from '../../src/cli/commands.js'
import { LocationResolver } from '../../src/cli/locations.js'
import { groupNames, groupUsage, route } from '../../src/cli/router.js'

function routeError (argv: string[]): { code: string, message: string } {
  try {
    route(COMMANDS, argv)
  } catch (err) {
    return { code: (err as { code: string }).code, message: (err as Error).message }
  }
  throw new Error('routed')
}

async function flagError (name: string, argv: string[]): Promise<{ code: string, message: string }> {
  const command = await COMMANDS.find((c) => c.name === name)!.load()
  try {
    parseCommandLine(command, argv, new LocationResolver({ XDG_CONFIG_HOME: '/nonexistent' }))
  } catch (err) {
    return { code: (err as { code: string }).code, message: (err as Error).message }
  }
  throw new Error('parsed')
}

describe('did you mean, for commands', () => {
  it('a misspelt command names the closest one', () => {
    expect(routeError(['polcy'])).toEqual({ code: 'PORTCULLIS_UNKNOWN_COMMAND', message: 'Unknown command "polcy" (did you mean `portcullis policy`?). Run `portcullis --help` for the list.' })
    expect(routeError(['stauts']).message).toContain('did you mean `portcullis status`?')
  })

  it('a misspelt member of a group names the closest member and the group\'s help', () => {
    expect(routeError(['audit', 'tial']).message).toBe('Unknown command "audit tial" (did you mean `portcullis audit tail`?). Run `portcullis audit --help` for the list.')
    expect(routeError(['policy', 'validat']).message).toContain('`portcullis policy validate`')
  })

  it('a word far from every command gets no guess', () => {
    expect(routeError(['frobnicate']).message).toBe('Unknown command "frobnicate". Run `portcullis --help` for the list.')
  })

  it('a group alone, or with --help, is the group', () => {
    expect(route(COMMANDS, ['policy'])).toEqual({ kind: 'group', group: 'policy', help: false })
    expect(route(COMMANDS, ['policy', '--help'])).toEqual({ kind: 'group', group: 'policy', help: true })
    expect(groupNames(COMMANDS)).toEqual(expect.arrayContaining(['audit', 'policy', 'request', 'fleet', 'token', 'keys']))
  })

  it('group help lists each member with the first sentence of its summary', async () => {
    const text = await groupUsage(COMMANDS, 'policy')
    expect(text).toMatch(/^Usage: portcullis policy COMMAND \[options\]\n/)
    for (const member of ['validate', 'schema', 'diff', 'reload', 'keygen', 'publish']) expect(text).toMatch(new RegExp(`\\n  ${member} +\\S`))
  })
})

describe('did you mean, for flags', () => {
  it('a misspelt long flag names the closest flag of that command', async () => {
    expect(await flagError('status', ['--admin-sockt', 'x'])).toEqual({ code: 'PORTCULLIS_USAGE', message: 'Bad command line: unknown option --admin-sockt (did you mean --admin-socket?). Run `portcullis status --help` for the options.' })
    expect((await flagError('token issue', ['--usr', 'a'])).message).toContain('(did you mean --user?)')
    expect((await flagError('token issue', ['--docker-cofnig', 'd'])).message).toContain('(did you mean --docker-config?)')
  })

  it('a flag far from every flag, or an unknown one-letter flag, gets no guess', async () => {
    expect((await flagError('status', ['--frobnicate'])).message).toBe('Bad command line: unknown option --frobnicate. Run `portcullis status --help` for the options.')
    expect((await flagError('audit tail', ['-x'])).message).toBe('Bad command line: unknown option -x. Run `portcullis audit tail --help` for the options.')
  })
})
