// A live session whose key carries expiry-time= is judged again at a policy reload against the review's clock: it
// keeps running before the key's time and is ended, with the reason, once its clock is past it. Time is moved, not
// waited for (test/fakes/clock.ts).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { AccessReview, type ReviewedSession } from '../../src/bridge/access-review.js'
import { sshFingerprint } from '../../src/bridge/host-key.js'
import { allowed } from '../../src/core/decision.js'
import { PolicySource } from '../../src/policy/source.js'
import { ManualClock } from '../fakes/clock.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-review-clock-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('a key\'s expiry-time= at a policy reload', () => {
  it('leaves the session running before the key\'s time and ends it once the review\'s clock is past it', async () => {
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'alice@test', '-f', join(dir, 'alice')])
    const pub = readFileSync(join(dir, 'alice.pub'), 'utf8').trim()
    const policyFile = join(dir, 'policy.json')
    writeFileSync(policyFile, JSON.stringify({
      version: 1,
      roles: { operator: { allow: ['container.exec'] } },
      projects: { shop: { members: { alice: 'operator' } } },
      users: { alice: { sshKeys: [`expiry-time="20300101Z" ${pub}`] } }
    }))
    const policy = new PolicySource(policyFile)
    const ended: string[] = []
    const session: ReviewedSession = {
      sessionId: 's-0000000000000001',
      access: {
        user: 'alice',
        key: sshFingerprint(Buffer.from(pub.split(' ')[1]!, 'base64')),
        containerId: 'c1',
        body: { Cmd: ['bash'], Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true },
        address: '192.0.2.1',
        forcedCommand: null,
        pty: true
      },
      terminate: (_reason, message) => { ended.push(message) }
    }
    const clock = new ManualClock(Date.parse('2029-12-31T23:00:00Z'))
    const review = new AccessReview(policy, { judge: async () => allowed('container.exec', 'shop', 'operator', 'operator in shop') }, new Set([session]), pino({ enabled: false }), clock)
    try {
      await review.reviewAll()
      expect(ended).toEqual([])
      clock.advance(2 * 3_600_000)
      await review.reviewAll()
      expect(ended).toHaveLength(1)
      expect(ended[0]).toMatch(/expiry-time/)
    } finally {
      review.close()
      policy.close()
    }
  })
})
