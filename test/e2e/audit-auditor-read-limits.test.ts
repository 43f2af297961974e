// An auditor cannot exhaust the daemon's disk and CPU with audit reads (issue 15 review): one bundle of theirs in
// the making at a time and a few reads open at once, whichever of their tokens they use. A read over the limit is
// refused with PORTCULLIS_AUDIT_READS_BUSY (429, Retry-After) and the refusal recorded.
import http from 'node:http'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { portcullisCliOk } from '../helpers/index.js'
import { serveWorkspace, type ServePaths, type StartedServe } from '../helpers/serve-workspace.js'
import { issueUserToken, startServeWithApi } from '../helpers/audit-api.js'
import { waitUntil } from '../helpers/wait.js'

const workspace = serveWorkspace('portcullis-auditor-limits-')

interface Rec { seq: number, action: string | null, user: string | null, tokenId?: string, code: string | null, reason: string | null, fields: Record<string, any> | null }

let paths: ServePaths
let serve: StartedServe
let port: number

const issue = async (user: string): Promise<string> => (await issueUserToken(workspace, user)).token

async function records (): Promise<Rec[]> {
  const out = await portcullisCliOk(['audit', 'export', '--admin-socket', paths.admin])
  return out.trim().split('\n').map((l) => JSON.parse(l) as Rec)
}

/** A followed tail, open until closed. */
function follow (token: string): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/v1/audit/tail?follow=true&n=1', agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      if (res.statusCode === 200) resolve(req)
      else reject(new Error(`the follow was answered ${res.statusCode}`))
      res.resume()
    })
    req.on('error', reject)
  })
}

/** Connections opened first, then one request written on each in the same tick: they reach serve together. */
async function atOnce (requests: string[]): Promise<Array<{ status: number, body: string }>> {
  const sockets = await Promise.all(requests.map(() => new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket))
    socket.once('error', reject)
  })))
  const answers = sockets.map((socket) => new Promise<{ status: number, body: string }>((resolve, reject) => {
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.once('error', reject)
    socket.once('close', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), body: text })
    })
  }))
  sockets.forEach((socket, i) => socket.write(requests[i]!))
  return await Promise.all(answers)
}

beforeAll(async () => {
  paths = workspace.pathsIn('limits')
  ;({ serve, port } = await startServeWithApi(workspace, paths))
}, 60_000)

afterAll(async () => {
  await serve?.stop()
})

describe('an auditor\'s reads are limited', () => {
  it('two bundles at once by one auditor, with two tokens: one is made, the other refused (429) and recorded', { timeout: 60_000 }, async () => {
    const [one, two] = [await issue('dana'), await issue('dana')]
    const request = (token: string): string => `POST /v1/audit/bundle HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`
    const answers = await atOnce([request(one), request(two)])
    expect(answers.map((a) => a.status).sort()).toEqual([200, 429])
    const refusedAnswer = answers.find((a) => a.status === 429)!
    expect(refusedAnswer.body).toMatch(/PORTCULLIS_AUDIT_READS_BUSY/)
    expect(refusedAnswer.body).toMatch(/dana already has a bundle in the making/)
    expect(refusedAnswer.body).toMatch(/\r\nRetry-After: \d+\r\n/i)

    const all = await records()
    expect(all.filter((r) => r.action === 'audit.read' && r.fields?.route === 'bundle')).toHaveLength(1)
    const refused = all.filter((r) => r.action === 'audit.read.refused')
    expect(refused).toHaveLength(1)
    expect(refused[0]).toMatchObject({ user: 'dana', code: 'PORTCULLIS_AUDIT_READS_BUSY', fields: { route: 'bundle', via: 'http' } })
    expect(refused[0]!.reason).toMatch(/dana already has a bundle in the making/)

    // Once the first is made, the next one is.
    const again = await fetch(`http://127.0.0.1:${port}/v1/audit/bundle`, { method: 'POST', headers: { authorization: `Bearer ${two}` } })
    await again.arrayBuffer()
    expect(again.status).toBe(200)
  })

  it('an auditor with four reads open is refused a fifth until one ends', { timeout: 60_000 }, async () => {
    const [one, two] = [await issue('dana'), await issue('dana')]
    const follows = [await follow(one), await follow(one), await follow(two), await follow(two)]
    const fifth = await fetch(`http://127.0.0.1:${port}/v1/audit/export`, { headers: { authorization: `Bearer ${two}` } })
    expect(fifth.status).toBe(429)
    expect(await fifth.json()).toMatchObject({ code: 'PORTCULLIS_AUDIT_READS_BUSY' })
    const refused = (await records()).filter((r) => r.action === 'audit.read.refused' && r.fields?.route === 'export')
    expect(refused).toHaveLength(1)
    expect(refused[0]!.reason).toMatch(/dana already has 4 audit reads open \(4 tail\)/)

    // A follow that ends gives its place back (its end record is written as it closes).
    const followEnds = async (): Promise<number> => (await records()).filter((r) => r.action === 'audit.read.end' && r.user === 'dana' && r.fields?.route === 'tail').length
    const endsBefore = await followEnds()
    follows[0]!.destroy()
    await waitUntil('the follow has ended', async () => await followEnds() > endsBefore, { timeoutMs: 20_000 })
    const next = await fetch(`http://127.0.0.1:${port}/v1/audit/export`, { headers: { authorization: `Bearer ${two}` } })
    await next.arrayBuffer()
    expect(next.status).toBe(200)
    for (const f of follows) f.destroy()
  })
})
