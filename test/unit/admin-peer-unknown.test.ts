// Fail closed: when the admin socket's peer cannot be told (here: no `ss` on PATH), an audit read is refused with
// PORTCULLIS_ADMIN_PEER_UNKNOWN before any record leaves, and the refusal itself is recorded.
import type http from 'node:http'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminRequest } from '../../src/admin/client.js'
import { createAdminApp, listenAdmin } from '../../src/admin/server.js'
import { AuditStore } from '../../src/audit/store.js'
import type { PolicySource } from '../../src/policy/source.js'
import { tempStores } from '../helpers/temp-stores.js'

const { freshDir } = tempStores('portcullis-peer-unknown-')
let store: AuditStore
let server: http.Server
let socket: string

beforeAll(async () => {
  store = await AuditStore.open(freshDir())
  await store.append({ kind: 'decision', user: 'alice', action: 'container.start', decision: 'allow', reason: 'operator' })
  socket = `${freshDir()}.sock`
  server = await listenAdmin(createAdminApp({ audit: store, policy: {} as PolicySource, logger: pino({ enabled: false }), startedAt: new Date(), version: 'test' }), socket)
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
  await store.close()
})

describe('an admin socket peer that cannot be told', () => {
  it('is refused with PORTCULLIS_ADMIN_PEER_UNKNOWN, sends no record, and the refusal is recorded', async () => {
    const path = process.env.PATH
    process.env.PATH = '/nonexistent'
    let status: number | undefined
    let body = ''
    try {
      const res = await adminRequest(socket, 'GET', '/v1/audit/export')
      status = res.statusCode
      for await (const chunk of res) body += String(chunk)
    } finally {
      process.env.PATH = path
    }
    expect(status).toBe(403)
    expect(JSON.parse(body)).toMatchObject({ code: 'PORTCULLIS_ADMIN_PEER_UNKNOWN' })
    expect(body).not.toContain('alice')
    const [last] = await store.tail(1)
    expect(last).toMatchObject({ kind: 'system', action: 'audit.read.refused', code: 'PORTCULLIS_ADMIN_PEER_UNKNOWN', user: null, fields: { route: 'export', via: 'admin-socket' } })
  })
})
