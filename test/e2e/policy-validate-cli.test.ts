// `portcullis policy validate FILE` and `portcullis actions`, run as an operator runs them: the built CLI, real
// files, exit codes and output. No daemon is involved.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runPortcullisCli } from '../helpers/portcullis.js'

const dir = mkdtempSync(path.join(tmpdir(), 'portcullis-validate-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const example = (): any => JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))

function file (name: string, content: string | object): string {
  const where = path.join(dir, name)
  writeFileSync(where, typeof content === 'string' ? content : JSON.stringify(content, null, 2))
  return where
}

describe('portcullis policy validate FILE', () => {
  it('validates FILE, not the default path', async () => {
    const good = file('good.json', example())
    const result = await runPortcullisCli(['policy', 'validate', good])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(new RegExp(`^${good}: valid \\(4 roles, 2 projects, sha256 [0-9a-f]{12}\\)\\n$`))
  })

  it('validates FILE even when it is broken and /etc/portcullis/policy.json is not', async () => {
    const broken = file('broken-roles.json', { roles: {}, projects: {} })
    const result = await runPortcullisCli(['policy', 'validate', broken])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`The policy ${broken} is invalid`)
  })

  it('reports every problem of a file in one run, schema and references together, with did-you-mean', async () => {
    const policy = example()
    policy.roles.developer.alow = ['container.list']
    policy.roles.developer.allow[3] = 'contaner.*'
    policy.projects.payments.members.alice = 'develper'
    policy.roles.viewer.exec = { interactive: 'bridgeonly' }
    const result = await runPortcullisCli(['policy', 'validate', file('typos.json', policy)])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('  $'))
    expect(lines).toEqual([
      '  $.roles.viewer.exec.interactive: must be one of ["allow","deny","bridge-only"] (did you mean "bridge-only"?)',
      '  $.roles.developer: unknown field "alow" (did you mean "allow"?)',
      '  $.projects.payments.members.alice: unknown role "develper" (did you mean "developer"?) (roles are: viewer, developer, operator, admin)',
      '  $.roles.developer.allow[3]: "contaner.*" matches no action (did you mean "container.*"?) (`portcullis actions` lists them)',
    ])
    expect(result.stderr).toContain('[PORTCULLIS_POLICY_INVALID]')
  })

  it('names file:line:column for broken JSON', async () => {
    const broken = file('syntax.json', '{\n  "roles": {\n    "viewer": { "allow": ["system.ping"], }\n  },\n  "projects": {}\n}\n')
    const result = await runPortcullisCli(['policy', 'validate', broken])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`${broken}:3:43: not valid JSON: a comma before "}" (JSON allows no trailing comma)`)
  })

  it('warns about an allow an inherited deny takes away, and still calls the policy valid', async () => {
    const policy = example()
    policy.roles.developer.deny = ['container.remove']
    const result = await runPortcullisCli(['policy', 'validate', file('shadowed.json', policy)])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toBe('warning: $.roles.operator.allow[0]: "container.remove" can never take effect: every action it matches is refused by ' +
      'deny pattern "container.remove" inherited from role developer (deny wins over allow)\n')
    expect(result.stdout).toMatch(/: valid \(.*\), 1 warning\n$/)
  })

  it('says which file cannot be read', async () => {
    const missing = path.join(dir, 'nope.json')
    const result = await runPortcullisCli(['policy', 'validate', missing])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`Cannot read the policy file ${missing}`)
    expect(result.stderr).toContain('[PORTCULLIS_POLICY_READ]')
  })

  it('refuses two different files', async () => {
    const result = await runPortcullisCli(['policy', 'validate', 'a.json', '--config', 'b.json'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('[PORTCULLIS_USAGE]')
  })

  it('prints the policy\'s own text with every control character escaped, so a policy from someone else cannot drive the terminal', async () => {
    const policy = example()
    // OSC 52 (clipboard write) in a key option, a screen clear in a misspelt field, a title in a warning's file name.
    policy.users.alice.sshKeys = ['from="\u001b]52;c;aGVsbG8=\u0007" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOgL5o0Wz0b2u1l7r6ZQ2mXJx0ZsQ6Yt8m4X0QbKk1lT']
    policy.users.bob['em\u001b[2Jail'] = 'x'
    policy.users.carol['\u009b2J'] = 'y'
    const result = await runPortcullisCli(['policy', 'validate', file('hostile.json', policy)])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('\\x1b]52;c;aGVsbG8=\\x07')
    expect(result.stderr).toContain('unknown field "em\\x1b[2Jail"')
    expect(result.stderr).toContain('unknown field "\\x9b2J"')
    expect(result.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/)

    const warned = example()
    warned.roles.developer.deny = ['container.create']
    const named = file('title\u001b]0;pwned\u0007.json', warned)
    const valid = await runPortcullisCli(['policy', 'validate', named])
    expect(valid.code, valid.stderr).toBe(0)
    expect(valid.stdout + valid.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/)
    expect(valid.stdout).toContain('title\\x1b]0;pwned\\x07.json: valid')
  })

  it('--config FILE still works', async () => {
    const result = await runPortcullisCli(['policy', 'validate', '--config', file('good2.json', example())])
    expect(result.code, result.stderr).toBe(0)
  })
})

describe('portcullis actions', () => {
  it('lists every action with its routes, marking unsafe-only ones', async () => {
    const result = await runPortcullisCli(['actions'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^container\.list\s+GET \/containers\/json$/m)
    expect(result.stdout).toMatch(/^plugin\.enable\s+POST \/plugins\/\{name:\.\*\}\/enable {2}\[unsafe roles only\]$/m)
  })

  it('keeps what a pattern matches, as JSON lines with --json', async () => {
    const result = await runPortcullisCli(['actions', 'exec.*', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const rows = result.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(rows.map((r) => r.action)).toEqual(['exec.inspect', 'exec.resize', 'exec.start'])
    expect(rows[0]).toMatchObject({ unsafeOnly: false, routes: [{ method: 'GET', path: '/exec/{id:.*}/json', target: 'exec {id}' }] })
  })

  it('says so when a pattern matches nothing', async () => {
    const result = await runPortcullisCli(['actions', 'contaner.*'])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('no action matches "contaner.*"')
  })
})
