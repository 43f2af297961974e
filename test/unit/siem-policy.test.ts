// The policy's `outputs`: the example validates (sealed files and syslog), defaults come from the schema, durations are in milliseconds, and a
// policy without outputs has none.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { compilePolicy } from '../../src/policy/compile.js'
import { parseOutputAddress, parseSyslogAddress } from '../../src/policy/syslog-address.js'

const read = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`../../examples/${name}`, import.meta.url), 'utf8'))

describe('policy outputs', () => {
  it('examples/policy-siem.json compiles to sealed files and syslog with their settings', () => {
    expect(compilePolicy(read('policy-siem.json')).outputs).toEqual({
      files: { dir: '/var/log/portcullis/siem', maxBytes: 16_777_216, maxAgeMs: 60_000, group: 'fluent-bit', keepForMs: 30 * 86_400_000, keepBytes: null },
      syslog: { address: 'tcp:127.0.0.1:514', facility: 'authpriv', hostname: null }
    })
  })

  it('unset settings take the schema\'s defaults; no outputs: none', () => {
    const policy = read('policy.json')
    expect(compilePolicy(policy).outputs).toEqual({ files: null, syslog: null })
    expect(compilePolicy({ ...policy, outputs: { syslog: { address: 'unix:/run/siem.sock' } } }).outputs.syslog).toEqual({ address: 'unix:/run/siem.sock', facility: 'local0', hostname: null })
    expect(compilePolicy({ ...policy, outputs: { files: { dir: '/srv/siem' } } }).outputs.files).toEqual({ dir: '/srv/siem', maxBytes: 16_777_216, maxAgeMs: 60_000, group: null, keepForMs: null, keepBytes: null })
  })

  it('refuses a relative directory, a tiny maxBytes, a zero keepFor and unknown settings, all at once', () => {
    const policy = { ...read('policy.json'), outputs: { files: { dir: 'siem', maxBytes: 10, keepFor: '0', rotate: true }, syslog: {}, kafka: {} } }
    let message = ''
    try {
      compilePolicy(policy)
    } catch (err) {
      message = (err as Error).message
    }
    for (const path of ['$.outputs.files.dir', '$.outputs.files.maxBytes', '$.outputs.files.keepFor', 'rotate', 'kafka', 'address']) expect(message).toContain(path)
  })

  it('refuses a syslog address it could never send to, naming the setting', () => {
    for (const address of ['udp:127.0.0.1:514', 'tcp:127.0.0.1', 'tcp:host:70000', 'unix:relative.sock', '/dev/log']) {
      expect(() => compilePolicy({ ...read('policy.json'), outputs: { syslog: { address } } }), address).toThrow(/\$\.outputs\.syslog\.address: .*tcp:HOST:PORT/)
    }
  })

  it('outputs.syslog takes relp:HOST:PORT (TCP only) for acknowledged delivery; a bad one is refused naming the form', () => {
    expect(compilePolicy({ ...read('policy.json'), outputs: { syslog: { address: 'relp:siem.example:2514' } } }).outputs.syslog).toEqual({ address: 'relp:siem.example:2514', facility: 'local0', hostname: null })
    expect(compilePolicy({ ...read('policy.json'), outputs: { syslog: { address: 'relp:[::1]:2514' } } }).outputs.syslog?.address).toBe('relp:[::1]:2514')
    for (const address of ['relp:siem.example', 'relp:unix:/run/relp.sock', 'relp:/run/relp.sock', 'relp:host:0', 'RELP:host:2514']) {
      expect(() => compilePolicy({ ...read('policy.json'), outputs: { syslog: { address } } }), address).toThrow(/\$\.outputs\.syslog\.address: The syslog address \S+ cannot be used: .*relp:HOST:PORT \(a RELP receiver, for acknowledged delivery\)/)
    }
  })

  it('alerts.syslog stays plain syslog: a relp: address there is refused with its own code and message', () => {
    expect(() => compilePolicy({ ...read('policy.json'), alerts: { syslog: { address: 'relp:127.0.0.1:2514' } } })).toThrow(/\$\.alerts\.syslog\.address: The syslog address relp:127\.0\.0\.1:2514 is a RELP receiver, which only outputs\.syslog\.address speaks/)
    expect(() => parseSyslogAddress('relp:127.0.0.1:2514')).toThrow(expect.objectContaining({ code: 'PORTCULLIS_SYSLOG_ADDRESS_RELP' }))
    expect(parseOutputAddress('relp:127.0.0.1:2514')).toEqual({ transport: 'relp', host: '127.0.0.1', port: 2514 })
    expect(parseOutputAddress('tcp:127.0.0.1:514')).toEqual({ transport: 'tcp', host: '127.0.0.1', port: 514 })
    expect(() => parseOutputAddress('relp:host')).toThrow(expect.objectContaining({ code: 'PORTCULLIS_SYSLOG_ADDRESS' }))
  })
})
