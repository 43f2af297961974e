// The policy's `alerts` section: without it, no sinks and the schema's thresholds; with it, sinks and thresholds as
// written; a syslog address portcullis cannot use, a share of 100% or more and a zero interval are refused with
// their path.
import { describe, expect, it } from 'vitest'
import { compilePolicy } from '../../src/policy/compile.js'
import { policyProblems } from '../helpers/policy-problems.js'

const minimal = { roles: { viewer: { allow: ['container.list'] } }, projects: {} }

const problems = (alerts: object): string[] => policyProblems({ ...minimal, alerts })

describe('the policy\'s alerts', () => {
  it('without the section: no sinks, 1 GiB free, a look every 30 s, a reminder every hour', () => {
    expect(compilePolicy(minimal).alerts).toMatchObject({ webhook: null, syslog: null, diskFreeBelow: { bytes: 1024 ** 3 }, diskCheckIntervalMs: 30_000, reminderIntervalMs: 3_600_000 })
  })

  it('takes a webhook with its retries and timeout, a syslog address and facility, and a share of the disk', () => {
    const alerts = compilePolicy({ ...minimal, alerts: { webhook: { url: 'https://hooks.example/a', retries: 3, timeout: '2s' }, syslog: { address: 'unix:/run/syslog.sock', facility: 'auth' }, diskFreeBelow: '5%' } }).alerts
    expect(alerts).toMatchObject({
      webhook: { url: 'https://hooks.example/a', retryDelaysMs: [1000, 2000, 4000], timeoutMs: 2000 },
      syslog: { address: 'unix:/run/syslog.sock', facility: 'auth' },
      diskFreeBelow: { percent: 5 }
    })
    expect(compilePolicy({ ...minimal, alerts: { syslog: { address: 'tcp:127.0.0.1:514' } } }).alerts.syslog).toEqual({ address: 'tcp:127.0.0.1:514', facility: 'local0' })
    expect(compilePolicy({ ...minimal, alerts: { diskFreeBelow: '1.5GiB' } }).alerts.diskFreeBelow).toEqual({ bytes: 1.5 * 1024 ** 3 })
  })

  it('refuses what cannot work, naming where it is', () => {
    expect(problems({ syslog: { address: 'udp:127.0.0.1:514' } })).toEqual([expect.stringMatching(/^\$\.alerts\.syslog\.address: The syslog address udp:127\.0\.0\.1:514 cannot be used/)])
    expect(problems({ diskFreeBelow: '100%' })).toEqual(['$.alerts.diskFreeBelow: a share must be below 100%'])
    expect(problems({ reminderInterval: '0s' })).toEqual(['$.alerts.reminderInterval: must be longer than 0'])
    expect(problems({ diskFreeBelow: '1 GB' })[0]).toMatch(/^\$\.alerts\.diskFreeBelow: /)
    expect(problems({ webhook: { url: 'ftp://x' } })[0]).toMatch(/^\$\.alerts\.webhook\.url: /)
    expect(problems({ syslog: { address: 'tcp:127.0.0.1:514', facility: 'local9' } })[0]).toMatch(/^\$\.alerts\.syslog\.facility: /)
  })
})
