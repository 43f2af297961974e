// A policy whose users.<name>.sshKeys hold a line the bridge cannot use, or options it would not carry out, is
// invalid: every such line is reported with its JSON path, together with the policy's other problems.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { policyProblems } from '../helpers/policy-problems.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-policy-keys-'))
execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'alice@laptop', '-f', join(dir, 'id')])
const pub = readFileSync(join(dir, 'id.pub'), 'utf8').trim()
const privateKey = readFileSync(join(dir, 'id'), 'utf8')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function problemsOf (users: Record<string, { sshKeys: string[] }>, roles: Record<string, unknown> = { dev: {} }): string[] {
  return policyProblems({ roles, projects: {}, users })
}

describe('policy validation of SSH keys', () => {
  it('accepts plain keys and keys with options the bridge carries out', () => {
    expect(problemsOf({ alice: { sshKeys: [pub, `restrict,pty,from="10.0.0.0/8,!10.0.0.1",command="uptime",expiry-time="20991231Z" ${pub}`] } })).toEqual([])
  })

  it('names the JSON path of every unusable key: truncated, unknown type, type not matching the blob, private key, unsupported option', () => {
    const [type, base64] = pub.split(' ') as [string, string]
    const problems = problemsOf({
      alice: { sshKeys: [pub, `${type} ${base64.slice(0, 30)}`, `ssh-foo ${base64}`] },
      'bob.smith': { sshKeys: [`ecdsa-sha2-nistp256 ${base64}`, privateKey] },
      carol: { sshKeys: [`environment="LD_PRELOAD=/tmp/x.so" ${pub}`, `from="bastion.example.com" ${pub}`, `expiry-time="2030" ${pub}`] }
    })
    expect(problems).toEqual([
      expect.stringMatching(/^\$\.users\.alice\.sshKeys\[1\]: The ssh-ed25519 key data is not valid base64 of a ssh-ed25519 key/),
      expect.stringMatching(/^\$\.users\.alice\.sshKeys\[2\]: Unknown key type "ssh-foo"/),
      expect.stringMatching(/^\$\.users\["bob\.smith"\]\.sshKeys\[0\]: The ecdsa-sha2-nistp256 key data is not valid base64/),
      expect.stringMatching(/^\$\.users\["bob\.smith"\]\.sshKeys\[1\]: This is a PRIVATE key: never put it in the policy/),
      expect.stringMatching(/^\$\.users\.carol\.sshKeys\[0\]: The option environment is not supported/),
      expect.stringMatching(/^\$\.users\.carol\.sshKeys\[1\]: "bastion\.example\.com" in from= is not an address/),
      expect.stringMatching(/^\$\.users\.carol\.sshKeys\[2\]: expiry-time="2030" is not YYYYMMDD/)
    ])
    // The private key itself is never repeated in the message.
    expect(problems.join('\n')).not.toContain(privateKey.split('\n')[1]!.slice(0, 20))
  })

  it('reports key problems together with the policy\'s other problems', () => {
    const problems = problemsOf({ alice: { sshKeys: ['no-pty'] } }, { dev: { inherits: 'nobody' } })
    expect(problems).toEqual([
      '$.roles.dev.inherits: inherits unknown role "nobody" (roles are: dev)',
      expect.stringMatching(/^\$\.users\.alice\.sshKeys\[0\]: No key found/)
    ])
  })
})
