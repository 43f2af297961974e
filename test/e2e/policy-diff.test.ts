// Changes to identities and privileges say what changed (issue 15 item 2, PCI DSS 10.2.1.5): a reload of a running
// daemon records the changes themselves in its `policy.reload` record (fields.changes, a summary in the reason), SSH
// keys as fingerprints only; `portcullis policy diff OLD NEW` prints the same list, exit 0 when equal, 1 when they
// differ, 2 with a coded error when a file cannot be used.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT, runPortcullisCli } from '../helpers/index.js'
import { expectFailedWith, serveWorkspace } from '../helpers/serve-workspace.js'
import { waitUntil } from '../helpers/wait.js'

const examplePolicy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8'))
const workspace = serveWorkspace('portcullis-pdiff-')

interface AuditRecord { seq: number, kind: string, action: string | null, reason: string | null, fields: Record<string, unknown> | null }

/** The example policy after the edit the tests make, and the new SSH key's line and fingerprint. */
function editedPolicy (dir: string): { policy: any, keyLine: string, fingerprint: string } {
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'alice@laptop', '-f', path.join(dir, 'alice')])
  const keyLine = readFileSync(path.join(dir, 'alice.pub'), 'utf8').trim()
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, 'alice.pub')], { encoding: 'utf8' }).split(' ')[1]!
  const policy = structuredClone(examplePolicy)
  policy.projects.web.members.carol = 'developer'
  delete policy.projects.web.members.bob
  policy.users.alice.sshKeys = [keyLine]
  policy.roles.viewer.allow = [...policy.roles.viewer.allow, 'container.export']
  return { policy, keyLine, fingerprint }
}

const EXPECTED = (fingerprint: string): unknown[] => [
  { kind: 'member.removed', path: '$.projects.web.members.bob', project: 'web', user: 'bob', role: 'developer' },
  { kind: 'member.moved', path: '$.projects.web.members.carol', project: 'web', user: 'carol', from: 'viewer', to: 'developer' },
  { kind: 'role.changed', path: '$.roles.viewer.allow', role: 'viewer', part: 'allow', added: ['container.export'] },
  { kind: 'ssh-key.added', path: '$.users.alice.sshKeys', user: 'alice', fingerprint }
]

describe('policy.reload records what changed', () => {
  it('a reload through `portcullis policy reload` records members moved and removed, role patterns and SSH keys by fingerprint', { timeout: 90_000 }, async () => {
    const paths = workspace.pathsIn('reload')
    const config = path.join(paths.dir, 'policy.json')
    await writeFile(config, JSON.stringify(examplePolicy, null, 2))
    const serve = await workspace.startServe(paths.dir, paths.data, { config })
    try {
      await waitUntil('the admin socket', () => existsSync(paths.admin), { timeoutMs: 30_000 })
      const { policy, keyLine, fingerprint } = editedPolicy(paths.dir)
      await writeFile(config, JSON.stringify(policy, null, 2))
      const reload = await runPortcullisCli(['policy', 'reload', '--admin-socket', paths.admin])
      expect(reload.code, reload.stderr).toBe(0)
      expect(reload.stdout).toMatch(/^policy reloaded \(sha256 [0-9a-f]{12}\): /)

      // The file watcher may apply the edit before the command does: either way one record holds it.
      let reloads: AuditRecord[] = []
      await waitUntil('the policy.reload record', async () => {
        const tail = await runPortcullisCli(['audit', 'tail', '--all', '-n', '200', '--json', '--admin-socket', paths.admin])
        reloads = tail.stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AuditRecord).filter((r) => r.action === 'policy.reload')
        return reloads.length > 0
      }, { timeoutMs: 15_000, intervalMs: 200 })
      expect(reloads).toHaveLength(1)
      const record = reloads[0]!
      expect(record.fields?.changes).toEqual(expect.arrayContaining(EXPECTED(fingerprint)))
      expect(record.fields?.changes).toHaveLength(4)
      expect(record.fields?.changesOmitted).toBeUndefined()
      expect(record.reason).toBe(`policy reloaded from ${config}: 1 member removed, 1 member moved, 1 role change, 1 SSH key added`)
      // Never the key material.
      expect(JSON.stringify(record)).not.toContain(keyLine.split(' ')[1]!.slice(20))

      // Asked again with nothing changed: the command says so, and no policy.reload is added (only who asked:
      // policy.reload-requested, docs/audit-access.md).
      const again = await runPortcullisCli(['policy', 'reload', '--admin-socket', paths.admin])
      expect(again.stdout).toMatch(/: no change\n$/)
    } finally {
      await serve.stop()
    }
  })
})

describe('portcullis policy diff', () => {
  it('exits 0 and says "no change" for equal policies; 1 and prints every change when they differ; --json gives the list', { timeout: 60_000 }, async () => {
    const { dir } = workspace.pathsIn('diff')
    const { policy, keyLine, fingerprint } = editedPolicy(dir)
    const before = path.join(dir, 'before.json')
    const after = path.join(dir, 'after.json')
    await writeFile(before, JSON.stringify(examplePolicy))
    await writeFile(after, JSON.stringify(policy, null, 2))

    const same = await runPortcullisCli(['policy', 'diff', before, before])
    expect([same.code, same.stdout]).toEqual([0, 'no change\n'])

    const text = await runPortcullisCli(['policy', 'diff', before, after])
    expect(text.code, text.stderr).toBe(1)
    expect(text.stdout.split('\n')).toEqual([
      'bob removed (was developer) in project web',
      'carol moved from viewer to developer in project web',
      'role viewer allow: added container.export ($.roles.viewer.allow)',
      `SSH key ${fingerprint} added for alice`,
      '1 member removed, 1 member moved, 1 role change, 1 SSH key added',
      ''
    ])
    expect(text.stdout).not.toContain(keyLine.split(' ')[1]!.slice(20))

    const json = await runPortcullisCli(['policy', 'diff', '--json', before, after])
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toEqual(EXPECTED(fingerprint))
  })

  it('exits 2 with a coded error for an invalid or missing file, or without two files', { timeout: 60_000 }, async () => {
    const { dir } = workspace.pathsIn('diff-bad')
    const good = path.join(dir, 'good.json')
    const bad = path.join(dir, 'bad.json')
    await writeFile(good, JSON.stringify(examplePolicy))
    await writeFile(bad, JSON.stringify({ ...examplePolicy, projects: { web: { members: { bob: 'nosuchrole' } } } }))

    const invalid = await runPortcullisCli(['policy', 'diff', good, bad])
    expectFailedWith(invalid, 'PORTCULLIS_POLICY_INVALID')
    expect(invalid.stderr).toContain('$.projects.web.members.bob')
    expect(invalid.stdout).toBe('')
    expectFailedWith(await runPortcullisCli(['policy', 'diff', path.join(dir, 'missing.json'), good]), 'PORTCULLIS_POLICY_READ')
    expectFailedWith(await runPortcullisCli(['policy', 'diff', good]), 'PORTCULLIS_USAGE')
  })
})
