// The policy's `outputs`: the example validates, defaults come from the schema, durations are in milliseconds, and a
// policy without outputs has none.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { compilePolicy } from '../../src/policy/compile.js'

const read = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`../../examples/${name}`, import.meta.url), 'utf8'))

describe('policy outputs', () => {
  it('examples/policy-siem.json compiles to sealed files with its settings', () => {
    expect(compilePolicy(read('policy-siem.json')).outputs).toEqual({
      files: { dir: '/var/log/portcullis/siem', maxBytes: 16_777_216, maxAgeMs: 60_000, group: 'fluent-bit', keepForMs: 30 * 86_400_000, keepBytes: null }
    })
  })

  it('unset settings take the schema\'s defaults; no outputs: none', () => {
    const policy = read('policy.json')
    expect(compilePolicy(policy).outputs).toEqual({ files: null })
    expect(compilePolicy({ ...policy, outputs: { files: { dir: '/srv/siem' } } }).outputs.files).toEqual({ dir: '/srv/siem', maxBytes: 16_777_216, maxAgeMs: 60_000, group: null, keepForMs: null, keepBytes: null })
  })

  it('refuses a relative directory, a tiny maxBytes, a zero keepFor and unknown settings, all at once', () => {
    const policy = { ...read('policy.json'), outputs: { files: { dir: 'siem', maxBytes: 10, keepFor: '0', rotate: true }, syslog: {} } }
    let message = ''
    try {
      compilePolicy(policy)
    } catch (err) {
      message = (err as Error).message
    }
    for (const path of ['$.outputs.files.dir', '$.outputs.files.maxBytes', '$.outputs.files.keepFor', 'rotate', 'syslog']) expect(message).toContain(path)
  })
})
