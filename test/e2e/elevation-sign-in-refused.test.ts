// Requests to the elevation API that cannot be signed in (no token, a forged or expired one) are invalid access
// attempts (PCI DSS 10.2.1.4): each is refused, and recorded whole (`elevation.refused`, with the peer address, the
// method and the path) or, in a flood, counted into `elevation.refused.summary`; the counts add up to every request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { portcullisCliOk } from '../helpers/index.js'
import { serveWorkspace, type ServePaths, type StartedServe } from '../helpers/serve-workspace.js'
import { issueUserToken, startServeWithApi } from '../helpers/audit-api.js'

const workspace = serveWorkspace('portcullis-sign-in-refused-')

interface Rec { seq: number, action: string | null, user: string | null, code: string | null, reason: string | null, fields: Record<string, any> | null }

let paths: ServePaths
let serve: StartedServe | null = null
let url: string
let forged: string

beforeAll(async () => {
  paths = workspace.pathsIn('sign-in')
  const { token } = await issueUserToken(workspace, 'dana')
  forged = `${token.slice(0, -4)}AAAA`
  ;({ serve, url } = await startServeWithApi(workspace, paths))
}, 60_000)

afterAll(async () => {
  await serve?.stop()
})

describe('requests to the elevation API without a valid token', () => {
  it('300 of them (no token, a forged one) are each refused, and the records and summaries add up to 300', { timeout: 90_000 }, async () => {
    const requests = Array.from({ length: 300 }, (_, i) => i % 2 === 0
      ? { method: 'GET', path: '/v1/requests', headers: {} as Record<string, string> }
      : { method: 'POST', path: '/v1/requests', headers: { authorization: `Bearer ${forged}`, 'content-type': 'application/json' } as Record<string, string> })
    for (let i = 0; i < requests.length; i += 50) {
      const statuses = await Promise.all(requests.slice(i, i + 50).map(async (request) => {
        const res = await fetch(`${url}${request.path}`, { method: request.method, headers: request.headers, ...(request.method === 'POST' ? { body: JSON.stringify({ project: 'payments', role: 'operator', reason: 'x', duration: '10m' }) } : {}) })
        await res.arrayBuffer()
        return res.status
      }))
      for (const status of statuses) expect(status).toBe(401)
    }
    await serve!.stop()
    serve = null
    const all = (await portcullisCliOk(['audit', 'export', '--data', paths.data])).trim().split('\n').map((l) => JSON.parse(l) as Rec)
    const refused = all.filter((r) => r.action === 'elevation.refused')
    const summaries = all.filter((r) => r.action === 'elevation.refused.summary')
    expect(refused.length).toBeGreaterThanOrEqual(1)
    expect(refused.length + summaries.reduce((sum, r) => sum + (r.fields!.refused as number), 0)).toBe(300)
    expect(refused.length + summaries.length).toBeLessThan(40)
    expect(refused[0]).toMatchObject({ user: null, code: 'PORTCULLIS_ELEVATION_UNAUTHENTICATED', fields: { remote: '127.0.0.1', path: '/v1/requests' } })
    for (const record of refused) expect(['GET', 'POST']).toContain(record.fields!.method)
    expect(summaries.flatMap((r) => r.fields!.peers as string[])).toContain('127.0.0.1')
    const stop = all.find((r) => r.action === 'portcullis.stop')!
    for (const summary of summaries) expect(summary.seq).toBeLessThan(stop.seq)
  })
})
