// A flood of refused audit reads is not a flood of records (issue 15 review): anyone who can reach the loopback port
// could otherwise write records at line rate. The first refusals of each kind and claimant are recorded whole, the
// rest counted into a summary (written at the latest when serve stops), and the counts add up: none is lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { portcullisCliOk } from '../helpers/index.js'
import { serveWorkspace, type ServePaths, type StartedServe } from '../helpers/serve-workspace.js'
import { issueUserToken, startServeWithApi } from '../helpers/audit-api.js'

const workspace = serveWorkspace('portcullis-refusal-flood-')

interface Rec { seq: number, action: string | null, user: string | null, code: string | null, reason: string | null, fields: Record<string, any> | null }

let paths: ServePaths
let serve: StartedServe | null = null
let url: string
const tokens: Record<string, string> = {}

beforeAll(async () => {
  paths = workspace.pathsIn('flood')
  for (const user of ['dana', 'bob']) tokens[user] = (await issueUserToken(workspace, user)).token
  ;({ serve, url } = await startServeWithApi(workspace, paths))
}, 60_000)

afterAll(async () => {
  await serve?.stop()
})

/** 500 refused reads: no token, a forged token, and a token of a user who is no auditor. */
interface FloodRequest { route: string, headers: Record<string, string>, status: number }

function floodRequests (): FloodRequest[] {
  const forged = `${tokens.dana!.slice(0, -4)}AAAA`
  return Array.from({ length: 500 }, (_, i): FloodRequest => {
    if (i % 5 < 2) return { route: 'tail?n=50', headers: {}, status: 401 }
    if (i % 5 < 4) return { route: 'export', headers: { authorization: `Bearer ${forged}` }, status: 401 }
    return { route: 'sessions', headers: { authorization: `Bearer ${tokens.bob!}` }, status: 403 }
  })
}

describe('a flood of refused audit reads', () => {
  it('500 refusals leave a bounded number of records whose counts add up to 500, every request answered', { timeout: 90_000 }, async () => {
    const requests = floodRequests()
    for (let i = 0; i < requests.length; i += 50) {
      const statuses = await Promise.all(requests.slice(i, i + 50).map(async (request) => {
        const res = await fetch(`${url}/v1/audit/${request.route}`, { headers: request.headers })
        await res.arrayBuffer()
        return [res.status, request.status]
      }))
      for (const [got, want] of statuses) expect(got).toBe(want)
    }
    // The summary of what was counted is written at the latest when serve stops.
    await serve!.stop()
    serve = null
    const all = (await portcullisCliOk(['audit', 'export', '--data', paths.data])).trim().split('\n').map((l) => JSON.parse(l) as Rec)

    const refused = all.filter((r) => r.action === 'audit.read.refused')
    const summaries = all.filter((r) => r.action === 'audit.read.refused.summary')
    expect(summaries.length).toBeGreaterThanOrEqual(1)
    const counted = summaries.reduce((sum, r) => sum + (r.fields!.refused as number), 0)
    expect(refused.length + counted).toBe(500)
    // A few whole records per kind and claimant in a window (and a total per window), not one per request.
    expect(refused.length).toBeLessThanOrEqual(2 * 30 * summaries.length)
    expect(refused.length + summaries.length).toBeLessThan(100)

    // Each kind of refusal has whole records that say who and why; the summaries name the claimants and codes.
    expect(new Set(refused.map((r) => r.code))).toEqual(new Set(['PORTCULLIS_AUDIT_UNAUTHENTICATED', 'PORTCULLIS_AUDIT_NOT_AUDITOR']))
    expect(refused.find((r) => r.user === 'bob')).toMatchObject({ code: 'PORTCULLIS_AUDIT_NOT_AUDITOR', fields: { route: 'sessions', via: 'http', remote: '127.0.0.1' } })
    const codes: Record<string, number> = {}
    for (const summary of summaries) {
      for (const [code, n] of Object.entries(summary.fields!.codes as Record<string, number>)) codes[code] = (codes[code] ?? 0) + n
      expect(summary.reason).toMatch(/more audit reads refused on the API from .* counted rather than recorded one by one/)
    }
    const whole = (code: string): number => refused.filter((r) => r.code === code).length
    expect(codes).toEqual({ PORTCULLIS_AUDIT_UNAUTHENTICATED: 400 - whole('PORTCULLIS_AUDIT_UNAUTHENTICATED'), PORTCULLIS_AUDIT_NOT_AUDITOR: 100 - whole('PORTCULLIS_AUDIT_NOT_AUDITOR') })
    expect(summaries.flatMap((r) => r.fields!.users as string[])).toContain('bob')
    expect(summaries.flatMap((r) => r.fields!.peers as string[])).toContain('127.0.0.1')
    // Written before the store closed: the stop record comes after them.
    const stop = all.find((r) => r.action === 'portcullis.stop')!
    for (const summary of summaries) expect(summary.seq).toBeLessThan(stop.seq)
  })
})
