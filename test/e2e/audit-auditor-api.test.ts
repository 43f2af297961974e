// Separation of duties (issue 15 item 4; 等保 三权分立): a user the policy names in audit.auditors reads, exports,
// replays, verifies and bundles the audit trail with their own token through the daemon's API, without root on the
// host, and every read names them and their token. A developer's token, a bad token and no token are refused and
// the refusals recorded; an auditor has no route that reloads policy, issues tokens, removes or marks records.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { portcullisCliOk, runPortcullisCli } from '../helpers/index.js'
import { expectFailedWith, serveWorkspace, type ServePaths, type StartedServe } from '../helpers/serve-workspace.js'
import { issueUserToken, startServeWithApi } from '../helpers/audit-api.js'

const workspace = serveWorkspace('portcullis-auditor-')

interface Rec { seq: number, kind: string, action: string | null, user: string | null, tokenId?: string, code: string | null, reason: string | null, fields: Record<string, any> | null }

let paths: ServePaths
let serve: StartedServe
let url: string
const tokens: Record<string, { file: string, token: string, id: string }> = {}

async function records (): Promise<Rec[]> {
  const out = await portcullisCliOk(['audit', 'export', '--admin-socket', paths.admin])
  return out.trim().split('\n').map((l) => JSON.parse(l) as Rec)
}

const as = (user: string, args: string[]) => runPortcullisCli([...args, '--url', url, '--token-file', tokens[user]!.file], { timeoutMs: 60_000 })

beforeAll(async () => {
  paths = workspace.pathsIn('auditor')
  for (const user of ['dana', 'bob']) {
    const { token, id } = await issueUserToken(workspace, user)
    const file = path.join(workspace.root, `${user}.token`)
    writeFileSync(file, token + '\n', { mode: 0o600 })
    tokens[user] = { file, token, id }
  }
  ;({ serve, url } = await startServeWithApi(workspace, paths))
}, 60_000)

afterAll(async () => {
  await serve?.stop()
})

describe('an auditor reads the trail with their token', () => {
  it('tails, exports, lists sessions, verifies, replays and bundles; each read names the auditor and the token', { timeout: 90_000 }, async () => {
    const tail = await as('dana', ['audit', 'tail', '--all', '-n', '5', '--json'])
    expect(tail.code, tail.stderr).toBe(0)
    expect(tail.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec).at(-1)).toMatchObject({ action: 'audit.read', user: 'dana', tokenId: tokens.dana!.id })
    const exported = await as('dana', ['audit', 'export', '--format', 'csv'])
    expect(exported.code, exported.stderr).toBe(0)
    expect(exported.stdout.split('\n')[0]).toMatch(/^seq,/)
    const sessions = await as('dana', ['audit', 'sessions', '--json'])
    expect(sessions.code, sessions.stderr).toBe(0)
    const verify = await as('dana', ['audit', 'verify'])
    expect(verify.code, verify.stderr).toBe(0)
    expect(verify.stdout).toMatch(/audit chain intact/)
    expectFailedWith(await as('dana', ['audit', 'replay', 's-00000000000000a1']), 'PORTCULLIS_SESSION_NOT_FOUND')
    const out = path.join(workspace.root, 'dana-bundle.tar.gz')
    const bundle = await as('dana', ['audit', 'bundle', '--out', out])
    expect(bundle.code, bundle.stderr).toBe(0)
    const verified = await runPortcullisCli(['audit', 'verify-bundle', out])
    expect(verified.code, verified.stdout + verified.stderr).toBe(0)

    const all = await records()
    const reads = all.filter((r) => r.action === 'audit.read' && r.user === 'dana')
    expect(reads.map((r) => r.fields!.route)).toEqual(['tail', 'export', 'sessions', 'verify', 'session', 'bundle'])
    for (const read of reads) {
      expect(read).toMatchObject({ kind: 'system', tokenId: tokens.dana!.id, fields: { via: 'http' } })
      expect(read.reason).toMatch(new RegExp(`read through the API by dana \\(token ${tokens.dana!.id}\\)$`))
      expect(read.fields!.peer).toBeUndefined()
      const end = all.find((r) => r.action === 'audit.read.end' && r.fields?.readSeq === read.seq)
      expect(end, `no end for ${read.fields!.route}`).toMatchObject({ user: 'dana', tokenId: tokens.dana!.id })
    }
    expect(reads[1]!.fields!.query).toMatchObject({ format: 'csv' })
    // An auditor's bundle is theirs: it does not tell retention that the records are safely bundled.
    expect(all.filter((r) => r.fields?.route === 'bundled')).toEqual([])
    expect((await fetch(`${url}/v1/audit/bundled?toSeq=1`, { method: 'POST', headers: { authorization: `Bearer ${tokens.dana!.token}` } })).status).toBe(404)
  })

  it('a developer\'s token, a bad token and no token are refused with a code, and each refusal is recorded', { timeout: 60_000 }, async () => {
    expectFailedWith(await as('bob', ['audit', 'export']), 'PORTCULLIS_AUDIT_NOT_AUDITOR')
    expectFailedWith(await as('bob', ['audit', 'bundle', '--out', path.join(workspace.root, 'bob-bundle')]), 'PORTCULLIS_AUDIT_NOT_AUDITOR')
    expect(existsSync(path.join(workspace.root, 'bob-bundle'))).toBe(false)
    const anonymous = await fetch(`${url}/v1/audit/tail?n=50`)
    expect(anonymous.status).toBe(401)
    expect(await anonymous.json()).toMatchObject({ code: 'PORTCULLIS_AUDIT_UNAUTHENTICATED' })
    const forged = await fetch(`${url}/v1/audit/export`, { headers: { authorization: `Bearer ${tokens.dana!.token.slice(0, -4)}AAAA` } })
    expect(forged.status).toBe(401)

    const refused = (await records()).filter((r) => r.action === 'audit.read.refused')
    expect(refused.filter((r) => r.user === 'bob').map((r) => [r.fields!.route, r.code, r.tokenId])).toEqual([
      ['export', 'PORTCULLIS_AUDIT_NOT_AUDITOR', tokens.bob!.id],
      ['bundle', 'PORTCULLIS_AUDIT_NOT_AUDITOR', tokens.bob!.id]
    ])
    const unsigned = refused.filter((r) => r.user === null)
    expect(unsigned.map((r) => [r.fields!.route, r.code])).toEqual([['tail', 'PORTCULLIS_AUDIT_UNAUTHENTICATED'], ['export', 'PORTCULLIS_AUDIT_UNAUTHENTICATED']])
    expect(unsigned[0]!.reason).toMatch(/no Authorization header/)
    expect((await records()).filter((r) => r.action === 'audit.read' && r.user === 'bob')).toEqual([])
  })

  it('an auditor has no route that changes policy, issues tokens, signs, expires or marks records, or decides elevation', { timeout: 60_000 }, async () => {
    const head = (await records()).length
    const auth = { authorization: `Bearer ${tokens.dana!.token}` }
    for (const [method, route] of [
      ['POST', '/v1/policy/reload'], ['POST', '/v1/tokens?user=dana&ttl=60'], ['POST', '/v1/audit/expire?force=true'],
      ['POST', '/v1/audit/checkpoint'], ['POST', '/v1/audit/bundled?toSeq=999'], ['DELETE', '/v1/audit/export'],
      ['POST', '/v1/requests/r-1/approve'], ['POST', '/v1/elevation/requests'], ['GET', '/v1/status']
    ] as const) {
      const res = await fetch(`${url}${route}`, { method, headers: { ...auth, 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : null })
      expect(res.status, `${method} ${route}`).toBeGreaterThanOrEqual(400)
      expect([401, 403, 404, 405], `${method} ${route}`).toContain(res.status)
    }
    // Nothing was changed: no policy reload, token, checkpoint or expiry was recorded for these calls.
    const after = (await records()).slice(head)
    expect(after.filter((r) => ['policy.reload', 'token.issue', 'audit.expired', 'audit.checkpoint', 'elevation.approve'].includes(r.action ?? ''))).toEqual([])
  })

  it('taking the auditor out of the policy takes the access away at the next request', { timeout: 60_000 }, async () => {
    const policy = JSON.parse(readFileSync(workspace.policyFile, 'utf8'))
    policy.audit = { ...policy.audit, auditors: [] }
    writeFileSync(workspace.policyFile, JSON.stringify(policy))
    await portcullisCliOk(['policy', 'reload', '--admin-socket', paths.admin])
    expectFailedWith(await as('dana', ['audit', 'tail']), 'PORTCULLIS_AUDIT_NOT_AUDITOR')
    // The file watch or the reload asked for applied it; either record holds the change, old and new.
    const reloads = (await records()).filter((r) => r.action === 'policy.reload')
    expect(reloads.some((r) => JSON.stringify(r.fields!.changes).includes('"path":"$.audit.auditors"') && JSON.stringify(r.fields!.changes).includes('dana'))).toBe(true)
  })
})
