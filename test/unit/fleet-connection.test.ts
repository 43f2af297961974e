// `--fleet URL` never carries a secret: a password anywhere in it (user part, query, keyword/value form, any case or
// encoding) is refused with PORTCULLIS_FLEET_URL_PASSWORD, whose message says where the password belongs, and no
// refusal repeats the secret. What fleetTarget keeps as `url` (logged, shown by status, recorded) is then secret-free.
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { PortcullisError } from '../../src/errors.js'
import { fleetTarget } from '../../src/fleet/connection.js'

const SECRET = 's3cret'

function refusal (url: string): PortcullisError {
  try {
    fleetTarget(url, undefined, {})
  } catch (err) {
    expect(err).toBeInstanceOf(PortcullisError)
    return err as PortcullisError
  }
  throw new Error(`${url} was taken`)
}

describe('a fleet URL with a password in it is refused, and the refusal never repeats it', () => {
  const withPassword = [
    `postgresql://host_a:${SECRET}@db:5432/portcullis`,
    `POSTGRESQL://host_a:${SECRET}@db/portcullis`,
    `postgresql://host_a%3A${SECRET}@db/portcullis`,
    `postgresql://host_a@x:${SECRET}@db/portcullis`,
    `postgresql://db1,host_a:${SECRET}@db2/portcullis`,
    `postgresql://host_a@db/portcullis?password=${SECRET}`,
    `postgresql://host_a@db/portcullis?PASSWORD=${SECRET}`,
    `postgresql://host_a@db/portcullis?Password=${SECRET}`,
    `postgresql://host_a@db/portcullis?pass%77ord=${SECRET}`,
    `postgresql://host_a@db/portcullis?%70%61ssword=${SECRET}`,
    `postgresql://host_a@db/portcullis?passwd=${SECRET}`,
    `postgresql://host_a@db/portcullis?sslmode=require&sslkey=/k/client.key&sslpassword=${SECRET}`,
    `postgresql://host_a@db/portcullis?password=&password=${SECRET}`,
    `postgresql://host_a@db1:5432,db2:5432/portcullis?target_session_attrs=read-write&password=${SECRET}`,
    `postgresql://host_a@/portcullis?host=%2Frun%2Fa,%2Frun%2Fb&port=5432,5433&password=${SECRET}`,
    `postgresql://host_a@db/portcullis#password=${SECRET}`,
    `host=db user=host_a password=${SECRET} dbname=portcullis`,
    `host=db user=host_a PASSWORD = ${SECRET}`,
    `sslpassword=${SECRET} host=db`,
    `host=db password=${SECRET} options=postgresql://x`,
    `postgresql://host_a@db/portcullis password=${SECRET}`,
    // A password holding /, ? or # ends the authority early: its head would pass for the user part, its tail for a
    // path, query or fragment.
    `postgresql://host_a:${SECRET.slice(0, 3)}/${SECRET.slice(3)}@db/portcullis`,
    `postgresql://host_a:${SECRET.slice(0, 3)}?${SECRET.slice(3)}@db/portcullis`,
    `postgresql://host_a:${SECRET.slice(0, 3)}#${SECRET.slice(3)}@db/portcullis`,
    `postgresql://host_a:${SECRET.slice(0, 3)}/x?y#${SECRET.slice(3)}@db1,db2/portcullis?target_session_attrs=read-write`
  ]
  for (const url of withPassword) {
    it(url, () => {
      const err = refusal(url)
      expect(err.code).toBe('PORTCULLIS_FLEET_URL_PASSWORD')
      expect(err.message).not.toContain(SECRET.slice(0, 3))
      expect(err.message).toContain('--fleet-password-file FILE')
      expect(err.message).toContain('PORTCULLIS_FLEET_PASSWORD')
    })
  }
})

describe('a fleet URL that cannot be used is refused without repeating what may be secret', () => {
  const cases: Array<[string, RegExp]> = [
    [`postgresql://host_a@db/portcullis?pwd=${SECRET}`, /query key "pwd", which portcullis does not take/],
    [`postgresql://host_a@db/portcullis?secret=${SECRET}`, /query key "secret"/],
    ['postgresql://host_a@db/portcullis?target_session_attrs=any&target_session_attrs=read-write', /target_session_attrs twice/],
    [`postgresql://host_a@db/portcullis?sslmode=require ${SECRET}`, /no spaces/],
    [`postgresql://host_a@db/portcullis#${SECRET}`, /no spaces, #/],
    [`host=db user=host_a dbname=portcullis token=${SECRET}`, /keyword\/value form is not taken/],
    [`mysql://host_a@db/portcullis?x=${SECRET}`, /must start with postgresql:\/\//]
  ]
  for (const [url, reason] of cases) {
    it(url, () => {
      const err = refusal(url)
      expect(err.code).toBe('PORTCULLIS_FLEET_URL_INVALID')
      expect(err.message).toMatch(reason)
      expect(err.message).not.toContain(SECRET)
    })
  }

  it('a target_session_attrs libpq has but portcullis does not follow is named, with the URL', () => {
    const err = refusal('postgresql://host_a@db/portcullis?target_session_attrs=standby')
    expect(err.code).toBe('PORTCULLIS_FLEET_URL_INVALID')
    expect(err.message).toContain('postgresql://host_a@db/portcullis?target_session_attrs=standby')
  })
})

describe('a fleet URL without a secret', () => {
  it('is kept as given, and the password comes from the file, else the environment, else none', () => {
    const url = 'postgresql://host_a@db1:5432,db2:5433/portcullis?target_session_attrs=read-write&sslmode=verify-full'
    const dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-fleet-url-'))
    const file = path.join(dir, 'fleet.pw')
    writeFileSync(file, 'from-file\n')
    const fromFile = fleetTarget(url, file, { PORTCULLIS_FLEET_PASSWORD: 'from-env' })
    expect(fromFile.url).toBe(url)
    expect(fromFile.targetSessionAttrs).toBe('read-write')
    expect(fromFile.candidates.map((c) => [c.host, c.port, c.user, c.database, c.password])).toEqual([
      ['db1', 5432, 'host_a', 'portcullis', 'from-file'],
      ['db2', 5433, 'host_a', 'portcullis', 'from-file']
    ])
    expect(fleetTarget(url, undefined, { PORTCULLIS_FLEET_PASSWORD: 'from-env' }).candidates[0]!.password).toBe('from-env')
    expect(fleetTarget(url, undefined, {}).candidates[0]!.password).toBeUndefined()
  })

  it('lists socket directories in ?host= with a port each', () => {
    const target = fleetTarget('postgresql://host_a@/portcullis?host=%2Frun%2Fa,%2Frun%2Fb&port=5432,5433', undefined, {})
    expect(target.candidates.map((c) => [c.host, c.port])).toEqual([['/run/a', 5432], ['/run/b', 5433]])
  })

  it('a password file that cannot be read is named', () => {
    expect(() => fleetTarget('postgresql://host_a@db/portcullis', '/nonexistent/fleet.pw', {})).toThrow(expect.objectContaining({ code: 'PORTCULLIS_FLEET_PASSWORD_FILE' }))
  })
})
