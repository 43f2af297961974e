import type http from 'node:http'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { adminJson, adminRequest } from '../../src/admin/client.js'
import { createAdminApp, listenAdmin } from '../../src/admin/server.js'
import type { CastSummary } from '../../src/audit/cast-digest.js'
import { readCastStream } from '../../src/audit/cast-stream.js'
import type { AuditRecord } from '../../src/audit/record.js'
import { INTERRUPTED_REASON, findSession, listSessions, openSessionArchive, openSessionIds, recoverInterruptedSessions, type SessionSummary } from '../../src/audit/sessions.js'
import { AuditStore } from '../../src/audit/store.js'
import { verifyDir } from '../../src/audit/verify.js'
import { CastRecorder } from '../../src/audit/asciicast.js'
import { formatElapsed } from '../../src/core/duration.js'
import { formatSessionTable } from '../../src/cli/audit-format.js'
import { ReplayTimeline, playCast, type ReplayClock } from '../../src/cli/replay-player.js'
import type { PolicySource } from '../../src/policy/source.js'
import { tamper } from '../helpers/tamper.js'
import { tempStores } from '../helpers/temp-stores.js'

const { root, freshDir, openStore } = tempStores('portcullis-sessions-')
const logger = pino({ enabled: false })

const id = (n: number): string => 's-' + n.toString(16).padStart(16, '0')

interface SessionSpec {
  n: number
  user?: string
  container?: string
  containerId?: string
  command?: string[] | null
  lines?: number
  /** Leave it open: no session.end, marker kept. */
  open?: boolean
}

/** Records a session the way the bridge does: start, recording, end, release. */
async function recordSession (store: AuditStore, spec: SessionSpec): Promise<{ startSeq: number, cast: CastSummary | null, text: string }> {
  const session = id(spec.n)
  const user = spec.user ?? 'alice'
  const container = spec.container ?? 'web-1'
  const start = await store.append({
    kind: 'session',
    user,
    authMethod: 'ssh',
    action: 'session.start',
    project: 'shop',
    role: 'developer',
    resource: container,
    decision: 'allow',
    reason: 'opened over SSH',
    fields: { session, containerId: spec.containerId ?? 'ab'.repeat(32), command: spec.command ?? null, tty: true, client: '10.0.0.1:5555', key: 'SHA256:x' }
  })
  const rec = new CastRecorder({ width: 80, height: 24, startedAt: new Date(), user, container, project: 'shop', sessionId: session })
  const sink = store.castSink(session, start.seq, { maxChunkBytes: 200, flushIntervalMs: 0 })
  let text = rec.header() + '\n'
  sink.write(text)
  for (let i = 0; i < (spec.lines ?? 20); i++) {
    rec.output(Buffer.from(`output ${i}\r\n`), i * 100)
    if (i === 3) rec.input(Buffer.from('ls\r'), i * 100 + 50)
    const lines = rec.drain().join('\n') + '\n'
    text += lines
    sink.write(lines)
  }
  if (spec.open === true) {
    await sink.flush()
    return { startSeq: start.seq, cast: null, text }
  }
  const cast = await sink.finish()
  await store.append({
    kind: 'session',
    user,
    authMethod: 'ssh',
    action: 'session.end',
    project: 'shop',
    resource: container,
    decision: null,
    reason: 'the command exited with status 3',
    fields: { session, startSeq: start.seq, exitCode: 3, signal: null, endedBy: 'exit', durationMs: 65_000, bytesIn: 3, bytesOut: 200, bytesErr: 0, cast }
  })
  await sink.release()
  return { startSeq: start.seq, cast, text }
}

async function castText (store: { readCast: (id: string) => AsyncIterable<string> }, session: string): Promise<string> {
  let text = ''
  for await (const chunk of store.readCast(session)) text += chunk
  return text
}

async function records (store: AuditStore): Promise<AuditRecord[]> {
  const all: AuditRecord[] = []
  for await (const record of store.read()) all.push(record)
  return all
}

describe('listSessions', () => {
  it('pairs starts with their ends, newest first, and tells open from interrupted', async () => {
    const store = await openStore()
    await store.append({ kind: 'system', action: 'portcullis.start' })
    const first = await recordSession(store, { n: 1, command: ['ls', '-l'] })
    await recordSession(store, { n: 2, open: true })
    await recordSession(store, { n: 3, user: 'bob', container: 'db-1', containerId: 'cd'.repeat(32) })
    await store.append({ kind: 'decision', user: 'carol', action: 'container.start', decision: 'allow' })

    const sessions = await listSessions(store, { openSessions: await openSessionIds(store) })
    expect(sessions.map((s) => s.session)).toEqual([id(3), id(2), id(1)])
    expect(sessions[2]).toEqual({
      session: id(1),
      state: 'ended',
      user: 'alice',
      project: 'shop',
      container: 'web-1',
      containerId: 'ab'.repeat(32),
      command: ['ls', '-l'],
      tty: true,
      client: '10.0.0.1:5555',
      startedAt: expect.any(String),
      startSeq: first.startSeq,
      endedAt: expect.any(String),
      endSeq: expect.any(Number),
      exitCode: 3,
      signal: null,
      endedBy: 'exit',
      endReason: 'the command exited with status 3',
      durationMs: 65_000,
      bytesIn: 3,
      bytesOut: 200,
      bytesErr: 0,
      cast: first.cast
    })
    expect(sessions[1]).toMatchObject({ session: id(2), state: 'open', command: null })
    expect(sessions[1]).not.toHaveProperty('endedBy')
    // Without the live markers (a stopped store), an unended session is interrupted.
    expect((await listSessions(store))[1]!.state).toBe('interrupted')
  })

  it('filters by user, container name or ID prefix, and session, and honours the limit', async () => {
    const store = await openStore()
    for (let n = 1; n <= 6; n++) await recordSession(store, { n, user: n % 2 === 0 ? 'bob' : 'alice', container: `c${n % 3}`, containerId: String(n % 3).repeat(64), lines: 2 })
    const ids = async (options: Parameters<typeof listSessions>[1]): Promise<string[]> => (await listSessions(store, options)).map((s) => s.session)
    expect(await ids({ limit: 2 })).toEqual([id(6), id(5)])
    expect(await ids({ limit: 0 })).toEqual([])
    expect(await ids({ user: 'bob' })).toEqual([id(6), id(4), id(2)])
    expect(await ids({ container: 'c1' })).toEqual([id(4), id(1)])
    expect(await ids({ container: '111111111111' })).toEqual([id(4), id(1)])
    expect(await ids({ container: '1111' })).toEqual([]) // too short to be an ID prefix
    expect(await ids({ user: 'alice', container: 'c2' })).toEqual([id(5)])
    expect(await ids({ session: id(3) })).toEqual([id(3)])
    expect((await findSession(store, id(4)))?.user).toBe('bob')
    expect(await findSession(store, id(99))).toBeNull()
    expect(await findSession(store, 'nope')).toBeNull()
  })
})

describe('recoverInterruptedSessions', () => {
  it('records the end of a session the daemon died in, with the recording summed from the chunks', async () => {
    const dir = freshDir()
    let store = await openStore(dir)
    await recordSession(store, { n: 1 })
    const { startSeq, text } = await recordSession(store, { n: 2, open: true, lines: 30 })
    await store.close() // the daemon "died": no session.end, marker left

    store = await openStore(dir)
    expect(await store.openSessionMarkers()).toEqual([{ session: id(2), startSeq }])
    expect(await recoverInterruptedSessions(store, logger)).toEqual([id(2)])
    expect(await store.openSessionMarkers()).toEqual([])

    const end = (await records(store)).at(-1)!
    expect(end).toMatchObject({
      kind: 'session',
      user: 'alice',
      authMethod: 'ssh',
      action: 'session.end',
      project: 'shop',
      resource: 'web-1',
      decision: null,
      reason: INTERRUPTED_REASON,
      fields: { session: id(2), startSeq, exitCode: null, signal: null, endedBy: 'interrupted', durationMs: 2900, bytesIn: 3 }
    })
    expect((end.fields!.cast as CastSummary).bytes).toBe(Buffer.byteLength(text))
    expect((await findSession(store, id(2)))).toMatchObject({ state: 'ended', endedBy: 'interrupted', exitCode: null })
    await store.close()
    expect(await verifyDir(dir)).toMatchObject({ ok: true, sessions: 2 })
  })

  it('only removes the marker when the end was recorded but the marker outlived it', async () => {
    const store = await openStore()
    const { startSeq } = await recordSession(store, { n: 1 })
    await store.append({ kind: 'system', action: 'later' })
    const before = store.head()
    // A crash between session.end and release leaves the marker of an ended session.
    const sink = store.castSink(id(1), startSeq)
    sink.write('{"version":2,"width":1,"height":1}\n') // rewrites chunk 0, so this test only checks the marker
    await sink.flush()
    expect(await recoverInterruptedSessions(store, logger)).toEqual([])
    expect(store.head()).toEqual(before)
    expect(await store.openSessionMarkers()).toEqual([])
  })

  it('does nothing without markers', async () => {
    const store = await openStore()
    await recordSession(store, { n: 1 })
    const head = store.head()
    expect(await recoverInterruptedSessions(store, logger)).toEqual([])
    expect(store.head()).toEqual(head)
  })
})

describe('verify and recordings', () => {
  async function storeWithSessions (): Promise<string> {
    const dir = freshDir()
    const store = await openStore(dir)
    await recordSession(store, { n: 1 })
    await recordSession(store, { n: 2 })
    await store.close()
    return dir
  }


  const endSeqOf = async (dir: string, session: string): Promise<number> => {
    const archive = await openSessionArchive(dir)
    try {
      return (await findSession(archive, session))!.endSeq!
    } finally {
      await archive.close()
    }
  }

  it('checks every ended recording', async () => {
    const dir = await storeWithSessions()
    expect(await verifyDir(dir)).toEqual({ ok: true, records: 4, sessions: 2, head: expect.any(Object) })
  })

  it('names the session and its session.end when a chunk was edited', async () => {
    const dir = await storeWithSessions()
    await tamper(dir, async (db) => {
      const key = `c!${id(1)}!00000001`
      await db.put(key, (await db.get(key))!.replace('output', 'OUTPUT'))
    })
    const report = await verifyDir(dir)
    expect(report).toMatchObject({ ok: false, records: 1, firstBad: { seq: await endSeqOf(dir, id(1)), problem: 'cast-mismatch', session: id(1) } })
    expect(report.firstBad!.detail).toContain(id(1))
  })

  it('names a deleted chunk, a cut tail, and an added chunk', async () => {
    const dir = await storeWithSessions()
    await tamper(dir, async (db) => { await db.del(`c!${id(2)}!00000001`) })
    expect((await verifyDir(dir)).firstBad).toMatchObject({ seq: await endSeqOf(dir, id(2)), problem: 'cast-missing', session: id(2) })

    const cut = await storeWithSessions()
    await tamper(cut, async (db) => {
      const keys: string[] = []
      for await (const key of db.keys({ gte: `c!${id(1)}!`, lt: `c!${id(1)}"` })) keys.push(key)
      await db.del(keys.at(-1)!)
    })
    expect((await verifyDir(cut)).firstBad).toMatchObject({ problem: 'cast-missing', session: id(1) })

    const added = await storeWithSessions()
    await tamper(added, async (db) => {
      const keys: string[] = []
      for await (const key of db.keys({ gte: `c!${id(1)}!`, lt: `c!${id(1)}"` })) keys.push(key)
      await db.put(`c!${id(1)}!${keys.length.toString(16).padStart(8, '0')}`, '[99, "o", "forged"]\n')
    })
    expect((await verifyDir(added)).firstBad).toMatchObject({ problem: 'cast-mismatch', session: id(1) })
  })
})

describe('offline reading', () => {
  it('lists sessions and reads recordings from a store directory, and refuses one a daemon owns', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    const { text } = await recordSession(store, { n: 1 })
    await expect(openSessionArchive(dir)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_LOCKED' })
    await store.close()
    const archive = await openSessionArchive(dir)
    try {
      expect((await listSessions(archive)).map((s) => s.session)).toEqual([id(1)])
      expect(await castText(archive, id(1))).toBe(text)
    } finally {
      await archive.close()
    }
    await expect(openSessionArchive(join(root, 'nothing-here'))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_NOT_FOUND' })
  })
})

describe('replay timing', () => {
  function fakeClock (): ReplayClock & { sleeps: number[] } {
    let now = 1000
    const sleeps: number[] = []
    return { sleeps, now: () => now, sleep: async (ms) => { sleeps.push(ms); now += ms } }
  }

  it('scales by speed and caps every pause at the idle limit', () => {
    const timeline = new ReplayTimeline(2, 1.5)
    expect([0.5, 1, 10, 10.25, 11].map((t) => timeline.at(t))).toEqual([250, 500, 1250, 1375, 1750])
    const plain = new ReplayTimeline(1)
    expect([0, 100, 100.001].map((t) => plain.at(t))).toEqual([0, 100_000, 100_001])
  })

  async function play (text: string, options: { speed?: number, idleLimit?: number } = {}): Promise<{ written: string[], clock: ReturnType<typeof fakeClock>, result: Awaited<ReturnType<typeof playCast>> }> {
    const clock = fakeClock()
    const written: string[] = []
    const result = await playCast(readCastStream((async function * () { yield text })()), (data) => { written.push(data) }, { speed: options.speed ?? 1, clock, ...(options.idleLimit !== undefined ? { idleLimit: options.idleLimit } : {}) })
    return { written, clock, result }
  }

  const cast = [
    '{"version":2,"width":80,"height":24,"idle_time_limit":2}',
    '[0.5, "o", "a"]',
    '[0.5, "o", "b"]',
    '[1.0, "i", "typed"]',
    '[1.5, "m", "marker"]',
    '[30.0, "o", "c"]',
    '[30.0, "r", "100x30"]',
    '[31.0, "o", "d"]'
  ].join('\n') + '\n'

  it('plays output only, waiting between events, with the header\'s idle_time_limit when no flag is given', async () => {
    const { written, clock, result } = await play(cast)
    expect(written).toEqual(['a', 'b', 'c', 'd'])
    // 0.5s, then 1.0 → 1.5 → (28.5s capped to 2s) = 3.5s for c, then 1s for d
    expect(clock.sleeps).toEqual([500, 3000, 1000])
    expect(result).toMatchObject({ outputEvents: 4, recordedSeconds: 31, playedMs: 4500 })
  })

  it('lets --idle-limit and --speed override', async () => {
    expect((await play(cast, { idleLimit: 10 })).clock.sleeps).toEqual([500, 11_000, 1000])
    expect((await play(cast, { speed: 2 })).clock.sleeps).toEqual([250, 1500, 500])
  })

  it('does not sleep for events already due (a slow terminal catches up)', async () => {
    const clock = fakeClock()
    const written: string[] = []
    await playCast(readCastStream((async function * () { yield cast })()), async (data) => {
      written.push(data)
      await clock.sleep(5000) // writing took longer than the whole recording
    }, { speed: 1, clock })
    expect(written).toEqual(['a', 'b', 'c', 'd'])
    expect(clock.sleeps.filter((ms) => ms !== 5000)).toEqual([500])
  })
})

describe('session table', () => {
  it('shows one readable row per session', () => {
    const base: SessionSummary = { session: id(1), state: 'ended', user: 'alice', project: 'shop', container: 'web-1', containerId: null, command: null, tty: true, client: null, startedAt: '2026-11-23T15:00:00.750Z', startSeq: 2, durationMs: 65_000, exitCode: 0, endedBy: 'exit' }
    const table = formatSessionTable([base, { ...base, session: id(2), state: 'open', command: ['tail', '-f', '/var/log/syslog'], durationMs: undefined, exitCode: undefined, endedBy: undefined } as SessionSummary])
    const lines = table.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^ID\s+START \(UTC\)\s+USER\s+PROJECT\s+CONTAINER\s+COMMAND\s+DURATION\s+EXIT\s+ENDED BY$/)
    expect(lines[1]).toMatch(new RegExp(`^${id(1)}\\s+2026-11-23 15:00:00\\s+alice\\s+shop\\s+web-1\\s+shell\\s+1m05s\\s+0\\s+exit$`))
    expect(lines[2]).toMatch(/tail -f \/var\/log\/syslog\s+-\s+-\s+open$/)
    expect([850, 12_000, 3_599_000, 7_380_000].map(formatElapsed)).toEqual(['850ms', '12s', '59m59s', '2h03m'])
  })
})

describe('admin routes', () => {
  const servers: http.Server[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map(async (server) => await new Promise((resolve) => server.close(resolve))))
  })

  async function serve (store: AuditStore): Promise<string> {
    const socket = `${freshDir()}.sock`
    const app = createAdminApp({ audit: store, policy: {} as PolicySource, logger, startedAt: new Date(), version: 'test' })
    servers.push(await listenAdmin(app, socket))
    return socket
  }

  async function body (res: http.IncomingMessage): Promise<string> {
    let text = ''
    for await (const chunk of res) text += String(chunk)
    return text
  }

  it('lists sessions, shows one, and streams its recording exactly as stored', async () => {
    const store = await openStore()
    const { text } = await recordSession(store, { n: 1, lines: 500 })
    await recordSession(store, { n: 2, user: 'bob', open: true })
    const socket = await serve(store)

    const list = await adminJson<SessionSummary[]>(socket, 'GET', '/v1/audit/sessions?limit=10')
    expect(list.body.map((s) => [s.session, s.state])).toEqual([[id(2), 'open'], [id(1), 'ended']])
    expect((await adminJson<SessionSummary[]>(socket, 'GET', '/v1/audit/sessions?user=alice')).body.map((s) => s.session)).toEqual([id(1)])
    expect((await adminJson<SessionSummary[]>(socket, 'GET', '/v1/audit/sessions?limit=1')).body).toHaveLength(1)

    const one = await adminJson<SessionSummary>(socket, 'GET', `/v1/audit/sessions/${id(1)}`)
    expect(one.body).toMatchObject({ session: id(1), user: 'alice', endedBy: 'exit' })

    const res = await adminRequest(socket, 'GET', `/v1/audit/sessions/${id(1)}/cast`)
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/x-asciicast')
    expect(await body(res)).toBe(text)
  })

  it('answers 400 for a malformed ID and 404 for an unknown session or a missing recording', async () => {
    const store = await openStore()
    // A session.start whose recording never got its first chunk.
    await store.append({ kind: 'session', action: 'session.start', user: 'alice', resource: 'web-1', fields: { session: id(7) } })
    const socket = await serve(store)
    const bad = await adminJson<{ code: string }>(socket, 'GET', '/v1/audit/sessions/nope', [400])
    expect(bad.body.code).toBe('PORTCULLIS_SESSION_ID_INVALID')
    expect((await adminJson<{ code: string }>(socket, 'GET', '/v1/audit/sessions/s-XYZ/cast', [400])).body.code).toBe('PORTCULLIS_SESSION_ID_INVALID')
    const missing = await adminJson<{ code: string, error: string }>(socket, 'GET', `/v1/audit/sessions/${id(9)}`, [404])
    expect(missing.body).toMatchObject({ code: 'PORTCULLIS_SESSION_NOT_FOUND', error: expect.stringContaining('portcullis audit sessions') })
    expect((await adminJson<{ code: string }>(socket, 'GET', `/v1/audit/sessions/${id(9)}/cast`, [404])).body.code).toBe('PORTCULLIS_SESSION_NOT_FOUND')
    expect((await adminJson<{ code: string }>(socket, 'GET', `/v1/audit/sessions/${id(7)}/cast`, [404])).body.code).toBe('PORTCULLIS_SESSION_NO_RECORDING')
  })
})
