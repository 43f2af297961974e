// Taking an auditor out of audit.auditors ends their reads in progress, not just their next request (issue 15
// review): a `tail --follow` opened before the reload is cut off then, whichever of their tokens opened it, and its
// audit.read.end says so (fields.endedBy: auditor-removed). Another auditor's follow and root's on the admin socket
// go on. A reload after which the token would be refused (tokens.maxLifetime lowered) ends its reads the same way.
import { readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { portcullisCliOk } from '../helpers/index.js'
import { serveWorkspace, type ServePaths, type StartedServe } from '../helpers/serve-workspace.js'
import { issueUserToken, startServeWithApi } from '../helpers/audit-api.js'
import { waitFor, waitUntil } from '../helpers/wait.js'

const workspace = serveWorkspace('portcullis-auditor-removed-')

interface Rec { seq: number, action: string | null, user: string | null, tokenId?: string, reason: string | null, fields: Record<string, any> | null }

let paths: ServePaths
let serve: StartedServe
let port: number

/** A followed tail: the records it has received, and whether the daemon ended it. */
interface Follow { records: Rec[], ended: boolean, done: Promise<void>, close: () => void }

function follow (options: http.RequestOptions): Promise<Follow> {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...options, path: '/v1/audit/tail?follow=true&n=1', agent: false }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`the follow was answered ${res.statusCode}`))
        return
      }
      const state: Follow = { records: [], ended: false, done: null as unknown as Promise<void>, close: () => req.destroy() }
      let pending = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        pending += chunk
        const lines = pending.split('\n')
        pending = lines.pop()!
        for (const line of lines) if (line !== '') state.records.push(JSON.parse(line) as Rec)
      })
      // A cut-off stream ends as an aborted response (the daemon destroyed it) or an end: either way, over.
      state.done = new Promise<void>((done) => {
        const over = (): void => { state.ended = true; done() }
        res.once('end', over)
        res.once('aborted', over)
        res.once('close', over)
        res.once('error', over)
      })
      resolve(state)
    })
    req.on('error', reject)
  })
}

const asUser = (token: string): http.RequestOptions => ({ host: '127.0.0.1', port, headers: { authorization: `Bearer ${token}` } })

async function records (): Promise<Rec[]> {
  const out = await portcullisCliOk(['audit', 'export', '--admin-socket', paths.admin])
  return out.trim().split('\n').map((l) => JSON.parse(l) as Rec)
}

beforeAll(async () => {
  paths = workspace.pathsIn('removed')
  const policy = JSON.parse(readFileSync(workspace.policyFile, 'utf8'))
  policy.audit = { ...policy.audit, auditors: ['dana', 'erin'] }
  writeFileSync(workspace.policyFile, JSON.stringify(policy))
  ;({ serve, port } = await startServeWithApi(workspace, paths))
}, 60_000)

afterAll(async () => {
  await serve?.stop()
})

describe('a reader who loses the right to read', () => {
  it('an auditor taken out of audit.auditors has every follow of theirs ended by the reload, with either token, and the end record says why', { timeout: 60_000 }, async () => {
    const [dana1, dana2, erin] = [await issueUserToken(workspace, 'dana'), await issueUserToken(workspace, 'dana'), await issueUserToken(workspace, 'erin')]
    const danaFollows = [await follow(asUser(dana1.token)), await follow(asUser(dana2.token))]
    const erinFollow = await follow(asUser(erin.token))
    const rootFollow = await follow({ socketPath: paths.admin })
    // Each follow is open once its audit.read is in the trail.
    await waitUntil('the follows are open', async () => (await records()).filter((r) => r.action === 'audit.read' && r.fields?.route === 'tail').length >= 4, { timeoutMs: 20_000 })

    const policy = JSON.parse(readFileSync(workspace.policyFile, 'utf8'))
    policy.audit = { ...policy.audit, auditors: ['erin'] }
    writeFileSync(workspace.policyFile, JSON.stringify(policy))
    await portcullisCliOk(['policy', 'reload', '--admin-socket', paths.admin])

    await Promise.all(danaFollows.map(async (f) => await f.done))
    // The other auditor and root still follow: both receive the end records of dana's reads.
    const cutOff = (r: Rec): boolean => r.action === 'audit.read.end' && r.fields?.endedBy === 'auditor-removed'
    await waitUntil('erin and root see the cut-off reads', () => erinFollow.records.filter(cutOff).length === 2 && rootFollow.records.filter(cutOff).length === 2, { timeoutMs: 20_000 })
    expect(erinFollow.ended).toBe(false)
    expect(rootFollow.ended).toBe(false)

    const all = await records()
    const ends = all.filter(cutOff)
    expect(ends.map((r) => r.tokenId).sort()).toEqual([dana1.id, dana2.id].sort())
    for (const end of ends) {
      expect(end).toMatchObject({ user: 'dana', fields: { route: 'tail', complete: false } })
      expect(end.reason).toMatch(/cut off after .*no longer in audit\.auditors/)
      const read = all.find((r) => r.seq === end.fields!.readSeq)
      expect(read).toMatchObject({ action: 'audit.read', user: 'dana' })
    }
    // Ended after the reload that took dana out was recorded.
    const reload = all.find((r) => r.action === 'policy.reload' && JSON.stringify(r.fields).includes('audit.auditors'))!
    for (const end of ends) expect(end.seq).toBeGreaterThan(reload.seq)
    erinFollow.close()
    rootFollow.close()
  })

  it('a follow opened with a token the reloaded policy no longer takes (tokens.maxLifetime lowered) is ended too', { timeout: 60_000 }, async () => {
    const erin = await issueUserToken(workspace, 'erin')
    const erinFollow = await follow(asUser(erin.token))
    await waitUntil('the follow is open', async () => (await records()).some((r) => r.action === 'audit.read' && r.tokenId === erin.id), { timeoutMs: 20_000 })
    const policy = JSON.parse(readFileSync(workspace.policyFile, 'utf8'))
    // The token is valid for an hour: more than the policy allows now.
    policy.tokens = { ...policy.tokens, maxLifetime: '30m' }
    writeFileSync(workspace.policyFile, JSON.stringify(policy))
    await portcullisCliOk(['policy', 'reload', '--admin-socket', paths.admin])
    await erinFollow.done
    const end = await waitFor('the end record', async () => (await records()).find((r) => r.action === 'audit.read.end' && r.tokenId === erin.id), { timeoutMs: 20_000 })
    expect(end).toMatchObject({ user: 'erin', fields: { route: 'tail', complete: false, endedBy: 'token-invalid' } })
    expect(end.reason).toMatch(/no longer passes verification/)
  })
})
