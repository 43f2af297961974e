// Token issuance through a running daemon is recorded (issue 15 item 2): `portcullis token issue --admin-socket`
// has the daemon sign the token under the policy in force, and the daemon writes `token.issue` (user, token ID,
// expiry, who asked) before handing it out; never the token itself. A refused request is a coded error and no record.
import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runPortcullisCli } from '../helpers/index.js'
import { expectFailedWith, serveWorkspace } from '../helpers/serve-workspace.js'
import { waitUntil } from '../helpers/wait.js'

const workspace = serveWorkspace('portcullis-token-issue-')

interface AuditRecord { kind: string, action: string | null, user: string | null, tokenId?: string, reason: string | null, fields: Record<string, unknown> | null }

function claims (token: string): { sub: string, jti: string, exp: number, iat: number } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'))
}

describe('token issue through the running daemon', () => {
  it('records token.issue with the user, token ID, expiry and who asked, and never the token', { timeout: 90_000 }, async () => {
    const paths = workspace.pathsIn('issue')
    const serve = await workspace.startServe(paths.dir, paths.data)
    try {
      await waitUntil('the admin socket', () => existsSync(paths.admin), { timeoutMs: 30_000 })
      const issued = await runPortcullisCli(['token', 'issue', '--user', 'alice', '--ttl', '2h', '--admin-socket', paths.admin])
      expect(issued.code, issued.stderr).toBe(0)
      const token = issued.stdout.trim()
      const { sub, jti, exp, iat } = claims(token)
      expect(sub).toBe('alice')
      expect(exp - iat).toBe(7200)

      // Refused: a lifetime above the policy's cap, a user name the policy could not hold, a policy file of its own.
      expectFailedWith(await runPortcullisCli(['token', 'issue', '--user', 'alice', '--ttl', '100d', '--admin-socket', paths.admin]), 'PORTCULLIS_TOKEN_TTL_TOO_LONG')
      expectFailedWith(await runPortcullisCli(['token', 'issue', '--user', 'al ice', '--admin-socket', paths.admin]), 'PORTCULLIS_TOKEN_USER')
      expectFailedWith(await runPortcullisCli(['token', 'issue', '--user', 'alice', '--config', workspace.policyFile, '--admin-socket', paths.admin]), 'PORTCULLIS_TOKEN_DAEMON_CONFIG')

      const tail = await runPortcullisCli(['audit', 'tail', '--all', '-n', '200', '--json', '--admin-socket', paths.admin])
      expect(tail.code, tail.stderr).toBe(0)
      const records = tail.stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditRecord)
      const issues = records.filter((r) => r.action === 'token.issue')
      expect(issues).toHaveLength(1)
      expect(issues[0]).toMatchObject({
        kind: 'system',
        user: 'alice',
        tokenId: jti,
        reason: `token ${jti} issued for alice through the admin socket, valid until ${new Date(exp * 1000).toISOString()}`,
        fields: { expiresAt: new Date(exp * 1000).toISOString(), ttlSeconds: 7200, via: 'admin-socket', requestedBy: expect.stringMatching(/^\S+@\S+$/) }
      })
      const signature = token.split('.')[2]!
      expect(tail.stdout).not.toContain(signature)
      expect(serve.stderr()).not.toContain(signature)
    } finally {
      await serve.stop()
    }
  })
})
