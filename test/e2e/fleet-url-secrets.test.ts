// A password in `--fleet URL` (here in its query, which node-postgres would silently drop) is refused by serve and by
// every command that takes the URL, with PORTCULLIS_FLEET_URL_PASSWORD and where the password belongs, and the secret
// is in no log line, no message and no audit record. No database is needed: the URL is refused before any connection.
import { readFileSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { portcullisCliOk, REPO_ROOT, removeDirSync, runPortcullisCli, type CliResult } from '../helpers/index.js'

const SECRET = 'hunter2-s3cret'
const URLS = [
  `postgresql://host_a@db.invalid:5432/portcullis?password=${SECRET}`,
  `postgresql://host_a@db1.invalid,db2.invalid/portcullis?target_session_attrs=read-write&PassWord=${SECRET}`,
  `postgresql://host_a@/portcullis?host=%2Frun%2Fpg&sslpassword=${SECRET}`
]

let root: string
let keysDir: string
let policyFile: string

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-fleet-url-'))
  keysDir = path.join(root, 'keys')
  policyFile = path.join(root, 'policy.json')
  await writeFile(policyFile, readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json')))
  await portcullisCliOk(['keys', 'init', '--keys', keysDir])
  await portcullisCliOk(['policy', 'keygen', '--out', keysDir])
})

afterAll(() => {
  if (root !== undefined) removeDirSync(root)
})

function expectRefused (result: CliResult): void {
  expect(result.code, result.stderr).toBe(2)
  expect(result.stderr).toContain('[PORTCULLIS_FLEET_URL_PASSWORD]')
  expect(result.stderr).toContain('--fleet-password-file FILE')
  expect(result.stderr).toContain('PORTCULLIS_FLEET_PASSWORD')
  expect(result.stdout + result.stderr).not.toContain(SECRET)
}

describe('serve --fleet with a password in the URL', () => {
  for (const [i, url] of URLS.entries()) {
    it(`exits 2 with PORTCULLIS_FLEET_URL_PASSWORD before anything is recorded, and the secret is in no log line: ${url.replace(SECRET, '…')}`, async () => {
      const dir = path.join(root, `serve-${i}`)
      const data = path.join(dir, 'data')
      const result = await runPortcullisCli([
        'serve', '--config', policyFile, '--socket', path.join(dir, 'plugin.sock'), '--admin-socket', path.join(dir, 'admin.sock'),
        '--data', data, '--keys', keysDir, '--docker-host', `unix://${path.join(dir, 'no-dockerd.sock')}`, '--elevation-listen', 'off',
        '--log-level', 'debug', '--fleet', url
      ], { timeoutMs: 30_000 })
      expectRefused(result)
      // Refused before the start record: the store holds nothing of this start, so nothing secret either.
      const exported = await portcullisCliOk(['audit', 'export', '--data', data])
      expect(exported).toBe('')
    })
  }

  it('with --policy-from fleet, refused before any policy is taken: exit 2, nothing secret said', async () => {
    const dir = path.join(root, 'serve-policy')
    const result = await runPortcullisCli([
      'serve', '--config', policyFile, '--socket', path.join(dir, 'plugin.sock'), '--admin-socket', path.join(dir, 'admin.sock'),
      '--data', path.join(dir, 'data'), '--keys', keysDir, '--docker-host', `unix://${path.join(dir, 'no-dockerd.sock')}`,
      '--elevation-listen', 'off', '--log-level', 'debug', '--fleet', URLS[0]!, '--policy-from', 'fleet', '--policy-key', path.join(keysDir, 'policy_ed25519.pub')
    ], { timeoutMs: 30_000 })
    expectRefused(result)
  })
})

describe('every other command that takes --fleet refuses the same URL', () => {
  const commands: Array<[string, string[]]> = [
    ['fleet init-db', ['fleet', 'init-db']],
    ['fleet status', ['fleet', 'status']],
    ['fleet verify', ['fleet', 'verify']],
    ['fleet export', ['fleet', 'export']],
    ['fleet bundle', ['fleet', 'bundle', '--since', '2026-01-01T00:00:00Z', '--out', '/nonexistent/bundle']],
    ['policy publish', ['policy', 'publish', '--key', 'KEY', 'POLICY']]
  ]
  for (const [name, args] of commands) {
    it(name, async () => {
      const filled = args.map((arg) => arg === 'KEY' ? path.join(keysDir, 'policy_ed25519.key') : arg === 'POLICY' ? policyFile : arg)
      expectRefused(await runPortcullisCli([...filled, '--fleet', URLS[1]!]))
    })
  }
})
