// The audit commands' two doors to the trail, held to one specification: the running daemon's admin socket and a
// store read directly with --data answer every AuditAccess call the same way, with the same coded errors (one
// suite run against each side, as abstract-level runs one against each backend).
import type http from 'node:http'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminApp, listenAdmin } from '../../src/admin/server.js'
import { castHeader } from '../../src/audit/asciicast.js'
import { verifyBundle } from '../../src/audit/bundle-verify.js'
import type { AuditRecord } from '../../src/audit/record.js'
import { ensureAuditKey, readAuditPublicKeyFromDir } from '../../src/audit/signing-key.js'
import { AuditStore } from '../../src/audit/store.js'
import { openAuditAccess, type AuditAccess, type AuditAccessFlags } from '../../src/cli/audit-access.js'
import type { PolicySource } from '../../src/policy/source.js'
import { tempStores } from '../helpers/temp-stores.js'

// Stores are opened here, not with openStore: that closes them after each test, and a side lives for its suite.
const { freshDir } = tempStores('portcullis-audit-access-')
const SESSION = 's-00000000000000a1'

/** A trail of three calls and one recorded session; the store stays open (the daemon's side closes it later). */
async function trail (): Promise<{ store: AuditStore, dir: string, keys: string, records: AuditRecord[] }> {
  const dir = freshDir()
  const keys = `${dir}-keys`
  ensureAuditKey(keys)
  const store = await AuditStore.open(dir)
  const records: AuditRecord[] = []
  for (const user of ['alice', 'bob', 'alice']) {
    records.push(await store.append({ kind: 'decision', user, authMethod: 'tls', action: 'container.start', resource: 'pay-1', decision: 'allow', reason: 'operator' }))
  }
  const start = await store.append({ kind: 'session', user: 'carol', authMethod: 'ssh', action: 'session.start', resource: 'web-1', decision: 'allow', reason: 'opened', fields: { session: SESSION } })
  records.push(start)
  const sink = await store.openRecording(SESSION, start.seq, castHeader({ width: 80, height: 24, startedAt: new Date(), command: 'bash', user: 'carol', container: 'web-1', project: null, sessionId: SESSION }), { flushIntervalMs: 0 })
  sink.output(Buffer.from('hello from the session\r\n'))
  const recording = await sink.finish()
  records.push(await store.append({ kind: 'session', user: 'carol', authMethod: 'ssh', action: 'session.end', resource: 'web-1', decision: null, reason: 'exited', fields: { session: SESSION, startSeq: start.seq, endedBy: 'exit', recording } }))
  await sink.release()
  return { store, dir, keys, records }
}

async function text (pieces: AsyncIterable<string | Buffer>): Promise<string> {
  let all = ''
  for await (const piece of pieces) all += typeof piece === 'string' ? piece : piece.toString('utf8')
  return all
}

interface Side {
  flags: AuditAccessFlags
  records: AuditRecord[]
  keys: string
  stop: () => Promise<void>
}

const sides: Record<string, () => Promise<Side>> = {
  'the running daemon (admin socket)': async () => {
    const { store, keys, records } = await trail()
    const socket = join(freshDir() + '.sock')
    const { key } = ensureAuditKey(keys)
    const server: http.Server = await listenAdmin(createAdminApp({ audit: store, policy: {} as PolicySource, logger: pino({ enabled: false }), startedAt: new Date(), version: 'test', auditKey: key }), socket)
    return { flags: { 'admin-socket': socket }, records, keys, stop: async () => {
      await new Promise((resolve) => server.close(resolve))
      await store.close()
    } }
  },
  'a store no daemon owns (--data)': async () => {
    const { store, dir, keys, records } = await trail()
    await store.close()
    return { flags: { 'admin-socket': '/nonexistent', data: dir, keys }, records, keys, stop: async () => {} }
  }
}

for (const [name, open] of Object.entries(sides)) {
  describe(`AuditAccess through ${name}`, () => {
    let side: Side
    let access: AuditAccess
    beforeAll(async () => {
      side = await open()
      access = openAuditAccess(side.flags)
    })
    afterAll(async () => {
      await access.close()
      await side.stop()
    })

    it('exports the matching records exactly as stored, and counts them', async () => {
      let out = ''
      const sink = new Writable({ write (chunk: Buffer, _enc, done) { out += chunk.toString('utf8'); done() } })
      expect(await access.exportRecords({ user: 'alice' }, 'jsonl', sink)).toBe(2)
      expect(out).toBe([side.records[0], side.records[2]].map((r) => JSON.stringify(r) + '\n').join(''))
    })

    it('reads a record\'s hash by seq; a seq past the head has none', async () => {
      expect(await access.recordHash(2)).toBe(side.records[1]!.hash)
      expect(await access.recordHash(999)).toBeNull()
    })

    it('lists and finds the session, and refuses an unknown one with PORTCULLIS_SESSION_NOT_FOUND', async () => {
      expect((await access.sessions({ limit: 10 })).map((s) => [s.session, s.user, s.state])).toEqual([[SESSION, 'carol', 'ended']])
      expect(await access.session(SESSION)).toMatchObject({ session: SESSION, container: 'web-1' })
      await expect(access.session('s-00000000000000ff')).rejects.toMatchObject({ code: 'PORTCULLIS_SESSION_NOT_FOUND' })
      await expect(access.cast('s-00000000000000ff')).rejects.toMatchObject({ code: 'PORTCULLIS_SESSION_NOT_FOUND' })
    })

    it('streams the session\'s recording as asciicast', async () => {
      const cast = await text(await access.cast(SESSION))
      expect(JSON.parse(cast.split('\n')[0]!)).toMatchObject({ version: 2, width: 80, height: 24 })
      expect(cast).toContain('hello from the session')
    })

    it('verifies the chain with its checkpoints\' key', async () => {
      const report = await access.verify([readAuditPublicKeyFromDir(side.keys)])
      expect(report.ok).toBe(true)
      // Through the daemon the trail also holds the audit.read records of this suite's own reads.
      expect(report.records).toBeGreaterThanOrEqual(side.records.length)
    })

    it('writes a bundle that verifies, and marks it', async () => {
      const out = freshDir()
      const summary = await access.bundle({ range: {}, name: 'evidence', out, archive: false })
      expect(summary).toMatchObject({ fromSeq: 1, records: summary.toSeq, casts: 1 })
      expect(summary.toSeq).toBeGreaterThanOrEqual(side.records.length)
      expect(await verifyBundle(out)).toMatchObject({ ok: true, records: summary.records, sessions: 1 })
    })
  })
}
