// authorized_keys options mean what sshd(8) says they mean, or the key line is refused (auth-options.c, misc.c).
import { afterEach, describe, expect, it } from 'vitest'
import { AuthorizedKeyError } from '../../src/ssh/authorized-key-error.js'
import { expired, parseExpiryTime } from '../../src/ssh/expiry-time.js'
import { keyRestrictions, loginRefusal, type AuthorizedKeyOption } from '../../src/ssh/key-options.js'

const opts = (...specs: string[]): AuthorizedKeyOption[] => specs.map((spec) => {
  const eq = spec.indexOf('=')
  return eq < 0 ? { name: spec } : { name: spec.slice(0, eq), value: spec.slice(eq + 1) }
})

function refusal (...specs: string[]): { problem: string, message: string } {
  try {
    keyRestrictions(opts(...specs))
  } catch (err) {
    expect(err).toBeInstanceOf(AuthorizedKeyError)
    return { problem: (err as AuthorizedKeyError).problem, message: (err as Error).message }
  }
  throw new Error(`expected ${specs.join(',')} to be refused`)
}

const NOW = Date.UTC(2026, 5, 15, 12, 0, 0)

describe('key options', () => {
  it('a key without options may do what the bridge offers: a pty, any command, from anywhere, for good', () => {
    expect(keyRestrictions([])).toEqual({ from: null, command: null, pty: true, expiresAt: null, expiryText: null })
  })

  it('no-pty and restrict take the pty away; pty after restrict gives it back, before restrict does not', () => {
    expect(keyRestrictions(opts('no-pty')).pty).toBe(false)
    expect(keyRestrictions(opts('restrict')).pty).toBe(false)
    expect(keyRestrictions(opts('restrict', 'pty')).pty).toBe(true)
    expect(keyRestrictions(opts('pty', 'restrict')).pty).toBe(false)
    expect(keyRestrictions(opts('no-pty', 'pty')).pty).toBe(true)
  })

  it('command= is kept as the forced command', () => {
    expect(keyRestrictions(opts('command=/usr/bin/uptime', 'no-pty')).command).toBe('/usr/bin/uptime')
  })

  it('the no-*-forwarding and no-user-rc flags are accepted: the bridge never offers those', () => {
    expect(keyRestrictions(opts('no-port-forwarding', 'no-agent-forwarding', 'no-x11-forwarding', 'no-user-rc')).pty).toBe(true)
  })

  it.each([
    ['environment=A=b', /environment is not supported.*bridge\.env/],
    ['tunnel=0', /tunnel is not supported/],
    ['principals=alice', /principals is not supported.*certificates/],
    ['cert-authority', /cert-authority is not supported/],
    ['permitopen=localhost:80', /permitopen is not supported/],
    ['permitlisten=8080', /permitlisten is not supported/],
    ['port-forwarding', /never forwards ports/],
    ['agent-forwarding', /never forwards agents/],
    ['x11-forwarding', /never forwards X11/],
    ['user-rc', /no ~\/\.ssh\/rc/],
    ['no-touch-required', /FIDO/],
    ['verify-required', /FIDO/],
    ['nopty', /Unknown option "nopty".*no-pty/],
    ['frm=10.0.0.1', /Unknown option "frm"/]
  ])('refuses %s, saying why', (spec, message) => {
    const { problem, message: text } = refusal(spec)
    expect(problem).toBe('unsupported-option')
    expect(text).toMatch(message)
  })

  it('refuses what sshd refuses: two from= or command= clauses, flags with values, values missing', () => {
    expect(refusal('from=10.0.0.1', 'from=10.0.0.2').message).toMatch(/from= is given twice/)
    expect(refusal('command=a', 'command=b').message).toMatch(/command= is given twice/)
    expect(refusal('no-pty=yes').message).toMatch(/takes no value/)
    expect(refusal('restrict=1').message).toMatch(/takes no value/)
    expect(refusal('from').message).toMatch(/needs a value/)
    expect(refusal('from=*.example.com').message).toMatch(/does not look up host names/)
    expect(refusal('expiry-time=tomorrow').message).toMatch(/YYYYMMDD/)
  })

  it('two expiry-time= options: the earlier one holds, as in sshd', () => {
    const r = keyRestrictions(opts('expiry-time=20300101Z', 'expiry-time=20290101Z', 'expiry-time=20310101Z'))
    expect(r.expiresAt).toBe(Date.UTC(2029, 0, 1))
    expect(r.expiryText).toBe('20290101Z')
  })
})

describe('login checks', () => {
  it('from= refuses a client outside the list, naming the option and the address', () => {
    const r = keyRestrictions(opts('from=10.9.9.9', 'command=/bin/false'))
    expect(loginRefusal(r, '127.0.0.1', NOW)).toEqual({ option: 'from', value: 'from="10.9.9.9"', detail: 'the key may not log in from 127.0.0.1' })
    expect(loginRefusal(r, '10.9.9.9', NOW)).toBeNull()
    expect(loginRefusal(keyRestrictions(opts('from=!127.0.0.1,*')), '127.0.0.1', NOW)?.option).toBe('from')
  })

  it('expiry-time= refuses once the time has passed, and is checked before from=', () => {
    const r = keyRestrictions(opts('from=10.9.9.9', 'expiry-time=20260615Z'))
    expect(loginRefusal(r, '127.0.0.1', NOW)).toEqual({
      option: 'expiry-time', value: 'expiry-time="20260615Z"', detail: 'the key expired at 2026-06-15T00:00:00.000Z'
    })
    const later = keyRestrictions(opts('expiry-time=20260615120000Z'))
    expect(loginRefusal(later, '127.0.0.1', NOW)).toBeNull()
    expect(loginRefusal(later, '127.0.0.1', NOW + 999)).toBeNull()
    expect(loginRefusal(later, '127.0.0.1', NOW + 1000)?.option).toBe('expiry-time')
  })
})

describe('expiry-time timespecs, as sshd reads them', () => {
  const tz = process.env.TZ
  afterEach(() => {
    if (tz === undefined) delete process.env.TZ
    else process.env.TZ = tz
  })

  it('reads YYYYMMDD, YYYYMMDDHHMM and YYYYMMDDHHMMSS with Z or UTC as UTC', () => {
    expect(parseExpiryTime('20300102Z')).toBe(Date.UTC(2030, 0, 2))
    expect(parseExpiryTime('203001021314z')).toBe(Date.UTC(2030, 0, 2, 13, 14))
    expect(parseExpiryTime('20300102131415UTC')).toBe(Date.UTC(2030, 0, 2, 13, 14, 15))
  })

  it('reads a time without Z in the local zone as standard time all year, as mktime with tm_isdst = 0 does', () => {
    // Values from glibc's mktime on this machine (TZ=… ./mktime 2025-07-01T12:00:00 with tm_isdst = 0).
    process.env.TZ = 'Europe/Berlin'
    expect(parseExpiryTime('20250701120000') / 1000).toBe(1751367600)
    expect(parseExpiryTime('20250101120000') / 1000).toBe(1735729200)
    process.env.TZ = 'America/New_York'
    expect(parseExpiryTime('20250701120000') / 1000).toBe(1751389200)
    process.env.TZ = 'Australia/Sydney'
    expect(parseExpiryTime('20250701120000') / 1000).toBe(1751335200)
    expect(parseExpiryTime('20250101120000') / 1000).toBe(1735696800)
    process.env.TZ = 'UTC'
    expect(parseExpiryTime('20250701')).toBe(Date.UTC(2025, 6, 1))
  })

  it.each(['2030010', '203001021', '2030-01-02', '20301302Z', '20300230Z', '20300102246000Z', '19691231Z', 'Z', '20300102ZZ'])(
    'refuses %j', (text) => {
      expect(() => parseExpiryTime(text)).toThrow(/expiry-time=/)
    })

  it('a key is expired only once the clock is past its second, as sshd compares valid_before < now', () => {
    const at = Date.UTC(2030, 0, 1)
    expect(expired(at, at + 999)).toBe(false)
    expect(expired(at, at + 1000)).toBe(true)
  })
})
