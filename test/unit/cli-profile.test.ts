// The profile file: a JSON object of adminSocket, url, dockerConfig and tokenFile, each a non-empty string. Anything
// else is PORTCULLIS_PROFILE_INVALID naming the file and the key; a missing default file is an empty profile.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadProfile, parseProfile, profilePath } from '../../src/cli/profile.js'

const FILE = '/home/a/.config/portcullis/profile.json'

function refusal (text: string): { code: string, message: string } {
  try {
    parseProfile(text, FILE)
  } catch (err) {
    return { code: (err as { code: string }).code, message: (err as Error).message }
  }
  throw new Error('accepted')
}

describe('the profile parser', () => {
  it('reads the four keys', () => {
    expect(parseProfile('{"adminSocket":"/a.sock","url":"https://h:2224","dockerConfig":"/d","tokenFile":"/t"}', FILE))
      .toEqual({ adminSocket: '/a.sock', url: 'https://h:2224', dockerConfig: '/d', tokenFile: '/t' })
    expect(parseProfile('{}', FILE)).toEqual({})
  })

  it('refuses an unknown key, naming the file and the key, with the closest known one', () => {
    const { code, message } = refusal('{"adminsocket":"/a.sock"}')
    expect(code).toBe('PORTCULLIS_PROFILE_INVALID')
    expect(message).toContain(FILE)
    expect(message).toContain('unknown key "adminsocket" (did you mean "adminSocket"?)')
  })

  it('refuses a value that is not a non-empty string, naming the key', () => {
    expect(refusal('{"url":5}').message).toContain('key "url" must be a non-empty string')
    expect(refusal('{"tokenFile":""}').message).toContain('key "tokenFile"')
  })

  it('refuses a url that is not http(s)', () => {
    expect(refusal('{"url":"127.0.0.1:2224"}').message).toContain('key "url" must be an http:// or https:// URL')
  })

  it('refuses text that is not a JSON object', () => {
    expect(refusal('{').message).toContain('it is not JSON')
    expect(refusal('[]').message).toContain('not a JSON object')
    expect(refusal('null').code).toBe('PORTCULLIS_PROFILE_INVALID')
  })
})

describe('where the profile is', () => {
  it('$PORTCULLIS_PROFILE, else $XDG_CONFIG_HOME/portcullis, else ~/.config/portcullis', () => {
    expect(profilePath({ PORTCULLIS_PROFILE: '/p.json', XDG_CONFIG_HOME: '/x' })).toBe('/p.json')
    expect(profilePath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/portcullis/profile.json')
    expect(profilePath({})).toMatch(/\/\.config\/portcullis\/profile\.json$/)
  })

  it('a missing default file is an empty profile; a missing $PORTCULLIS_PROFILE is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-profile-'))
    expect(loadProfile({ XDG_CONFIG_HOME: dir })).toEqual({ path: join(dir, 'portcullis/profile.json'), found: false, values: {} })
    expect(() => loadProfile({ PORTCULLIS_PROFILE: join(dir, 'missing.json') })).toThrow(/missing\.json cannot be used: it cannot be read/)
    writeFileSync(join(dir, 'p.json'), '{"url":"http://h:1"}')
    expect(loadProfile({ PORTCULLIS_PROFILE: join(dir, 'p.json') }).values).toEqual({ url: 'http://h:1' })
  })
})
