// `policy validate` as a reader needs it: every problem of a file in one run, with "did you mean" for misspelt
// fields, roles and actions, line:column for broken JSON, and warnings for allow patterns a deny takes away.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { compilePolicy } from '../../src/policy/compile.js'
import { policyProblems } from '../helpers/policy-problems.js'
import { closest } from '../../src/policy/did-you-mean.js'
import { findJsonSyntaxError } from '../../src/policy/json-syntax.js'
import { loadPolicyFile } from '../../src/policy/source.js'
import { auditorDutyWarnings, shadowedAllowWarnings } from '../../src/policy/warnings.js'
import { KNOWN_ACTIONS } from '../../src/routes/table.js'

const problemsOf = (doc: unknown): string[] => policyProblems(doc, KNOWN_ACTIONS)

const warningsOf = (doc: unknown): string[] => shadowedAllowWarnings(compilePolicy(doc, KNOWN_ACTIONS), KNOWN_ACTIONS).map((w) => `${w.path}: ${w.message}`)

describe('every problem in one run', () => {
  it('reports schema problems and reference problems together', () => {
    const problems = problemsOf({
      roles: { developer: { allow: ['container.start'], unsafe: 'yes' } },
      projects: { pay: { members: { alice: 'develper' } } },
      global: { members: { ops: 'admn' } }
    })
    expect(problems).toEqual([
      '$.roles.developer.unsafe: must be boolean',
      '$.projects.pay.members.alice: unknown role "develper" (did you mean "developer"?) (roles are: developer)',
      '$.global.members.ops: unknown role "admn" (roles are: developer)'
    ])
  })

  it('still checks the action patterns of a role next to a field of the wrong type', () => {
    expect(problemsOf({ roles: { a: { allow: ['contaner.list'], inherits: 5 } }, projects: {} })).toEqual([
      '$.roles.a.inherits: must be string',
      '$.roles.a.inherits: must be array',
      '$.roles.a.inherits: must match exactly one schema in oneOf',
      '$.roles.a.allow[0]: "contaner.list" matches no action (did you mean "container.list"?) (`portcullis actions` lists them)'
    ])
  })
})

describe('did you mean', () => {
  it('a misspelt field names the field that exists there', () => {
    expect(problemsOf({ roles: { a: { alow: ['*'] } }, projects: {} })).toEqual(['$.roles.a: unknown field "alow" (did you mean "allow"?)'])
    expect(problemsOf({ roles: { a: {} }, projects: {}, bridge: { idleTimout: '5m' } })).toEqual(['$.bridge: unknown field "idleTimout" (did you mean "idleTimeout"?)'])
  })

  it('a misspelt role in inherits and in members names the role', () => {
    expect(problemsOf({ roles: { viewer: {}, dev: { inherits: 'veiwer' } }, projects: {} }))
      .toEqual(['$.roles.dev.inherits: inherits unknown role "veiwer" (did you mean "viewer"?) (roles are: viewer, dev)'])
  })

  it('a misspelt action names the action, transpositions included', () => {
    expect(problemsOf({ roles: { a: { deny: ['container.strat'] } }, projects: {} }))
      .toEqual(['$.roles.a.deny[0]: "container.strat" matches no action (did you mean "container.start"?) (`portcullis actions` lists them)'])
  })

  it('an action pattern in the wrong case is pointed at the real one', () => {
    expect(problemsOf({ roles: { a: { allow: ['Container.Start'] } }, projects: {} })[0]).toMatch(/must match pattern .* \(did you mean "container.start"\?\)$/)
  })

  it('a misspelt enum value names the value', () => {
    expect(problemsOf({ roles: { a: { exec: { interactive: 'bridgeonly' } } }, projects: {} }))
      .toEqual(['$.roles.a.exec.interactive: must be one of ["allow","deny","bridge-only"] (did you mean "bridge-only"?)'])
  })

  it('suggests nothing when no name is close', () => {
    expect(closest('zzzzzz', ['viewer', 'developer'])).toBeUndefined()
  })
})

describe('JSON syntax errors have a line and a column', () => {
  const cases: Array<[string, string, number, number, RegExp]> = [
    ['a trailing comma', '{\n  "roles": {},\n  "projects": {},\n}', 4, 1, /trailing comma/],
    ['a missing comma', '{\n  "roles": {}\n  "projects": {}\n}', 3, 3, /expected "," or "}"/],
    ['single quotes', '{\n  "roles": { \'a\': {} }\n}', 2, 14, /"quoted" field name/],
    ['a misspelt literal', '{"bridge": {"enabled": tru}}', 1, 24, /expected a value/],
    ['a raw line break in a string', '{"a": "x\ny"}', 1, 9, /control character/],
    ['an unfinished document', '{"roles": {', 1, 12, /ends/],
  ]
  for (const [what, text, line, column, message] of cases) {
    it(what, () => {
      expect(findJsonSyntaxError(text)).toMatchObject({ line, column, message: expect.stringMatching(message) })
      expect(() => JSON.parse(text)).toThrow()
    })
  }

  it('valid JSON has none', () => {
    expect(findJsonSyntaxError('{"a": [1, -2.5e3, true, null, "\\u00e9\\n"]}')).toBeNull()
  })

  it('the policy error names file:line:column', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-validate-'))
    afterAll(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'policy.json')
    writeFileSync(file, '{\n  "roles": {},\n  "projects": {},\n}\n')
    expect(() => loadPolicyFile(file, KNOWN_ACTIONS)).toThrow(`${file}:4:1: not valid JSON: a comma before "}" (JSON allows no trailing comma)`)
  })
})

describe('deny wins over allow, across inheritance, and validate warns where that takes an allow away', () => {
  it('an allow that only an inherited deny matches can never take effect', () => {
    expect(warningsOf({
      roles: { developer: { allow: ['container.list'], deny: ['container.remove'] }, operator: { inherits: 'developer', allow: ['container.remove'] } },
      projects: {}
    })).toEqual(['$.roles.operator.allow[0]: "container.remove" can never take effect: every action it matches is refused by deny pattern "container.remove" inherited from role developer (deny wins over allow)'])
  })

  it('an allow its own role denies entirely can never take effect', () => {
    expect(warningsOf({ roles: { r: { allow: ['volume.*'], deny: ['volume.*'] } }, projects: {} }))
      .toEqual(['$.roles.r.allow[0]: "volume.*" can never take effect: every action it matches is refused by its own deny pattern "volume.*" (deny wins over allow)'])
  })

  it('a wildcard allow narrowed by a parent\'s deny lists what it does not allow', () => {
    expect(warningsOf({
      roles: { base: { deny: ['container.exec', 'exec.*'] }, admin: { inherits: 'base', allow: ['*'] } },
      projects: {}
    })).toEqual(['$.roles.admin.allow[0]: "*" does not allow exec.inspect, container.exec, exec.start, exec.resize: refused by deny pattern "exec.*" inherited from role base, deny pattern "container.exec" inherited from role base (deny wins over allow, across inheritance)'])
  })

  it('a wildcard allow narrowed by the role\'s own deny is deliberate: no warning', () => {
    expect(warningsOf({ roles: { r: { allow: ['container.*'], deny: ['container.exec'] } }, projects: {} })).toEqual([])
  })

  it('the shipped example has no warning', async () => {
    const { readFileSync } = await import('node:fs')
    expect(warningsOf(JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8')))).toEqual([])
  })

  it('a compiled role names the deny pattern that refuses an action and the role it is written in, nearest first', () => {
    const policy = compilePolicy({
      roles: { viewer: { allow: ['*'], deny: ['container.*'] }, developer: { inherits: 'viewer', deny: ['container.remove'] } },
      projects: {}
    })
    expect(policy.roles.get('developer')!.deniedBy('container.remove')).toEqual({ pattern: 'container.remove', role: 'developer' })
    expect(policy.roles.get('developer')!.deniedBy('container.start')).toEqual({ pattern: 'container.*', role: 'viewer' })
    expect(policy.roles.get('developer')!.deniedBy('image.list')).toBeNull()
  })
})

describe('separation of duties for auditors', () => {
  it('warns about an auditor who holds a role in a project or globally, and not about one who holds none', () => {
    const doc = {
      roles: { developer: { allow: ['container.start'] }, admin: { allow: ['*'], unsafe: true } },
      projects: { pay: { members: { alice: 'developer', carol: 'developer' } } },
      global: { members: { carol: 'admin' } },
      audit: { auditors: ['dana', 'carol'] }
    }
    expect(auditorDutyWarnings(compilePolicy(doc, KNOWN_ACTIONS)).map((w) => `${w.path}: ${w.message}`)).toEqual([
      '$.audit.auditors[1]: auditor "carol" also holds developer in pay, admin globally: separation of duties wants auditors who administer nothing they audit'
    ])
    expect(problemsOf({ ...doc, audit: { auditors: ['not a name'] } })).toEqual([expect.stringContaining('$.audit.auditors[0]')])
  })
})
