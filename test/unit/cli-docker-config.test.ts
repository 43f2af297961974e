// token issue --docker-config writes the token header into DIR/config.json: merged (every other key and header
// kept, one token header however an old one was spelt), the file 0600 and a new directory 0700, never through a
// symlink, and a file that is not a JSON object is refused with PORTCULLIS_DOCKER_CONFIG_INVALID and left as it was.
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { writeTokenHeader } from '../../src/cli/docker-config.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-docker-config-'))
let n = 0
const fresh = (): string => join(root, `case-${n++}`)

function refusal (dir: string): string {
  try {
    writeTokenHeader(dir, 'tok')
  } catch (err) {
    expect((err as { code: string }).code).toBe('PORTCULLIS_DOCKER_CONFIG_INVALID')
    return (err as Error).message
  }
  throw new Error('written')
}

describe('writing the token into a docker CLI config', () => {
  it('keeps every other key and header, and replaces an old token header spelt in any case', () => {
    const dir = fresh()
    mkdirSync(dir)
    const before = { auths: { 'registry.example': { auth: 'dXNlcjpwdw==' } }, credsStore: 'pass', HttpHeaders: { 'User-Agent': 'x', 'x-portcullis-token': 'old' }, proxies: { default: { httpProxy: 'http://p:3128' } } }
    writeFileSync(join(dir, 'config.json'), JSON.stringify(before), { mode: 0o644 })
    expect(writeTokenHeader(dir, 'new-token')).toEqual({ file: join(dir, 'config.json'), existed: true })
    const after = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
    expect(after).toEqual({ ...before, HttpHeaders: { 'User-Agent': 'x', 'X-Portcullis-Token': 'new-token' } })
    // It holds a secret now: 0600 whatever it was, and no temporary file left beside it.
    expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600)
    expect(readdirSync(dir)).toEqual(['config.json'])
  })

  it('makes a missing directory 0700 and the file 0600', () => {
    const dir = join(fresh(), 'nested', '.docker')
    expect(writeTokenHeader(dir, 'tok').existed).toBe(false)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual({ HttpHeaders: { 'X-Portcullis-Token': 'tok' } })
  })

  it('adds the header to a config without HttpHeaders, and to an empty file', () => {
    const dir = fresh()
    mkdirSync(dir)
    writeFileSync(join(dir, 'config.json'), '{"auths":{}}')
    writeTokenHeader(dir, 'tok')
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual({ auths: {}, HttpHeaders: { 'X-Portcullis-Token': 'tok' } })
    writeFileSync(join(dir, 'config.json'), '')
    writeTokenHeader(dir, 'tok2')
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual({ HttpHeaders: { 'X-Portcullis-Token': 'tok2' } })
  })

  it('refuses a config that is not JSON without quoting it, and leaves it as it was', () => {
    const dir = fresh()
    mkdirSync(dir)
    writeFileSync(join(dir, 'config.json'), 'secret-ish text')
    const message = refusal(dir)
    expect(message).toContain('it is not JSON')
    expect(message).not.toContain('secret')
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe('secret-ish text')
  })

  it('refuses a JSON value that is not an object, and HttpHeaders that is not one', () => {
    const dir = fresh()
    mkdirSync(dir)
    writeFileSync(join(dir, 'config.json'), '[1]')
    expect(refusal(dir)).toContain('not a JSON object')
    writeFileSync(join(dir, 'config.json'), '{"HttpHeaders":"x"}')
    expect(refusal(dir)).toContain('HttpHeaders is not an object')
  })

  it('refuses a config.json that is a symlink (root writing into a user\'s directory must not follow it)', () => {
    const dir = fresh()
    mkdirSync(dir)
    const target = join(root, `target-${n}.json`)
    writeFileSync(target, '{}')
    symlinkSync(target, join(dir, 'config.json'))
    expect(refusal(dir)).toContain('not a regular file')
    expect(readFileSync(target, 'utf8')).toBe('{}')
    expect(lstatSync(join(dir, 'config.json')).isSymbolicLink()).toBe(true)
  })
})
