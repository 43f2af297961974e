// Outside review of session 14 (recording files, own look-ups): each test here showed a hole when written.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import { beforeAll, describe, expect, it } from 'vitest'
import { Authorizer } from '../../src/authz/authorizer.js'
import { writeBundle } from '../../src/audit/bundle.js'
import { bundleSourceOf } from '../../src/audit/bundle-store.js'
import { verifyBundle } from '../../src/audit/bundle-verify.js'
import { CastDigester } from '../../src/audit/cast-digest.js'
import { RECORDING_MAGIC, frameHeader, makeRecordingsDir, readRecordingChunks, recordingPath } from '../../src/audit/recordings.js'
import { ensureAuditKey, type AuditSigningKey } from '../../src/audit/signing-key.js'
import type { AuditStore } from '../../src/audit/store.js'
import { CastRecorder, castHeader } from '../../src/audit/asciicast.js'
import { DockerClient } from '../../src/docker/client.js'
import { FixedResources } from '../fakes/resources.js'
import { FileRecordings } from '../fakes/recordings.js'
import { MemoryAuditLog } from '../fakes/audit-log.js'
import { IdentityResolver, INTERNAL_HEADER } from '../../src/identity/resolve.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { tempStores } from '../helpers/temp-stores.js'

const { root, freshDir, openStore } = tempStores('portcullis-review-s14-')
const id = (n: number): string => 's-' + n.toString(16).padStart(16, '0')

/** A session recorded the old way: asciicast chunks in LevelDB, session.end holding `fields.cast`. */
async function oldFormatSession (store: AuditStore, n: number): Promise<void> {
  const start = await store.append({ kind: 'session', user: 'bob', authMethod: 'ssh', action: 'session.start', resource: 'web-1', decision: 'allow', reason: 'opened', fields: { session: id(n) } })
  const old = new CastRecorder({ width: 80, height: 24, startedAt: new Date(), user: 'bob', container: 'web-1', project: null, sessionId: id(n) })
  const sink = store.castSink(id(n), start.seq, { maxChunkBytes: 64, flushIntervalMs: 0 })
  sink.write(old.header() + '\n')
  old.output(Buffer.from('rm -rf /srv/payments\r\n'), 1)
  sink.write(old.drain().join('\n') + '\n')
  const cast = await sink.finish()
  await store.append({ kind: 'session', user: 'bob', authMethod: 'ssh', action: 'session.end', resource: 'web-1', decision: null, reason: 'exited', fields: { session: id(n), startSeq: start.seq, endedBy: 'exit', cast } })
  await sink.release()
}

/** A frame file with an innocent-looking session in it. */
function forgedRecording (n: number): Buffer {
  const head = Buffer.from(JSON.stringify(castHeader({ width: 80, height: 24, startedAt: new Date(), command: 'bash', user: 'bob', container: 'web-1', project: null, sessionId: id(n) })))
  const text = Buffer.from('ls\r\n')
  return Buffer.concat([RECORDING_MAGIC, frameHeader('h', 0, head.length), head, frameHeader('o', 1000, text.length), text])
}

describe('review: a frame file planted beside a recording stored in LevelDB chunks', () => {
  let key: AuditSigningKey
  beforeAll(() => { key = ensureAuditKey(join(root, 'keys')).key })

  it('is not taken into an evidence bundle in place of the chunks session.end vouches for', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    await oldFormatSession(store, 2)
    makeRecordingsDir(dir)
    writeFileSync(recordingPath(dir, id(2)), forgedRecording(2))
    const bundle = freshDir()
    // Either the bundle is refused, or it carries what session.end vouches for (the chunks), not the planted file.
    const made = await writeBundle(bundleSourceOf(store, key), bundle, { generator: 'test' }).then(() => true, (err: { code?: string, message?: string }) => { expect(['PORTCULLIS_AUDIT_CHAIN_BROKEN', 'PORTCULLIS_AUDIT_RECORDING_INVALID']).toContain(err.code); expect(err.message).toContain(id(2)); return false })
    if (made) {
      expect(readdirSync(join(bundle, 'sessions'))).not.toContain(`${id(2)}.rec`)
      expect(readFileSync(join(bundle, 'sessions', `${id(2)}.cast`), 'utf8')).toContain('rm -rf /srv/payments')
    }
  })

  it('is not played in place of the chunks (replay and export read through readCast)', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    await oldFormatSession(store, 3)
    makeRecordingsDir(dir)
    writeFileSync(recordingPath(dir, id(3)), forgedRecording(3))
    let text = ''
    const read = (async () => { for await (const piece of store.readCast(id(3))) text += piece })()
    await read.catch((err: { code?: string }) => { expect(err.code).toBe('PORTCULLIS_AUDIT_RECORDING_INVALID') })
    expect(text === '' || text.includes('rm -rf /srv/payments')).toBe(true)
  })
})

describe('review: portcullis\'s own look-ups', () => {
  const policy = compilePolicy(JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8')))
  const lookup = { RequestMethod: 'GET', RequestUri: '/v1.41/containers/pay-1/json', RequestHeaders: { [INTERNAL_HEADER]: 'internal-secret' } }

  it('are refused while the store is closing, since their record cannot be written', async () => {
    const store = await openStore()
    const resources = new FixedResources()
    const a = new Authorizer({ current: policy }, new IdentityResolver(null, 'internal-secret'), resources, store, pino({ enabled: false }), { pluginName: 'portcullis' })
    const closing = store.close()
    const answer = await a.authorizeRequest(lookup)
    await closing
    // The store refuses the record (PORTCULLIS_AUDIT_CLOSED): an allow here is a call on no record at all.
    expect(answer.Allow).toBe(false)
  })
})

describe('review: verify-bundle and a session.end that vouches for an empty recording in chunks', () => {
  let key: AuditSigningKey
  beforeAll(() => { key = ensureAuditKey(join(root, 'keys2')).key })

  it('does not count a .cast added to the bundle as a recording checked against its session.end', async () => {
    const store = await openStore()
    const start = await store.append({ kind: 'session', user: 'bob', authMethod: 'ssh', action: 'session.start', resource: 'web-1', decision: 'allow', reason: 'opened', fields: { session: id(4) } })
    // What recoverInterruptedSessions records for an old-format session that died before its first chunk.
    await store.append({ kind: 'session', user: 'bob', authMethod: 'ssh', action: 'session.end', resource: 'web-1', decision: null, reason: 'interrupted', fields: { session: id(4), startSeq: start.seq, endedBy: 'interrupted', cast: new CastDigester().summary() } })
    const bundle = freshDir()
    await writeBundle(bundleSourceOf(store, key), bundle, { generator: 'test' })
    expect(await verifyBundle(bundle)).toMatchObject({ ok: true })
    // Someone adds a recording of the session to the bundle and lists it in the (unsigned) manifest.
    mkdirSync(join(bundle, 'sessions'), { recursive: true })
    const forged = Buffer.from(JSON.stringify({ version: 2, width: 80, height: 24 }) + '\n[0.5,"o","nothing to see here\\r\\n"]\n')
    writeFileSync(join(bundle, 'sessions', `${id(4)}.cast`), forged)
    const manifestFile = join(bundle, 'manifest.json')
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'))
    manifest.files[`sessions/${id(4)}.cast`] = { sha256: createHash('sha256').update(forged).digest('hex'), bytes: forged.length }
    writeFileSync(manifestFile, JSON.stringify(manifest))
    const report = await verifyBundle(bundle)
    // Either it is a problem, or at least not a recording the chain vouches for.
    if (report.ok) {
      expect(report.sessions).toBe(0)
      expect(report.unanchored).toContain(id(4))
    }
  })
})

describe('review: a FIFO in a recording file\'s place', () => {
  it('is refused when read, rather than blocking replay, export, bundles and start-up recovery for ever', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    makeRecordingsDir(dir)
    execFileSync('mkfifo', [recordingPath(dir, id(5))])
    const read = (async () => { for await (const _ of readRecordingChunks(recordingPath(dir, id(5)))) { /* nothing */ } })()
    // A read that blocks never settles: a second without an answer is the failure under test.
    const outcome = await Promise.race([read.then(() => 'read', () => 'refused'), new Promise((resolve) => setTimeout(() => resolve('blocked'), 1000))])
    expect(outcome).toBe('refused')
    await store.close()
  })
})

describe('review: keystrokes that arrive while a session\'s recording is being finished', () => {
  it('do not throw out of the SSH channel\'s data handler (ssh2 catches it and drops the connection: no exit status reaches the client)', async () => {
    const { createServer } = await import('node:http')
    const { Writable } = await import('node:stream')
    const { RecordedExec } = await import('../../src/bridge/recorded-exec.js')
    const { BridgeGrants } = await import('../../src/identity/bridge-grants.js')
    const socketPath = join(freshDir() + '.sock')
    // A Docker daemon that runs a program printing one line and exiting 0.
    const docker = createServer((req, res) => {
      res.setHeader('Content-Type', 'application/json')
      if (req.method === 'POST' && /\/containers\/[^/]+\/exec$/.test(req.url!)) { res.statusCode = 201; res.end(JSON.stringify({ Id: 'e1' })); return }
      if (req.method === 'GET' && /\/exec\/e1\/json$/.test(req.url!)) { res.end(JSON.stringify({ Running: false, ExitCode: 0, Pid: 0, ContainerID: 'c1' })); return }
      res.statusCode = 200
      res.end('{}')
    })
    docker.on('upgrade', (_req, socket) => {
      socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n')
      socket.write('hello\r\n')
      setTimeout(() => socket.end(), 50) // the fake exec's stream ends a moment after its output, as a short command's does
    })
    await new Promise<void>((resolve) => docker.listen(socketPath, resolve))
    const channel = Object.assign(new Writable({ write (_chunk, _enc, done) { done() } }), { stderr: new Writable({ write (_chunk, _enc, done) { done() } }), exit () {} })
    let thrown: unknown = null
    const audit = new MemoryAuditLog()
    const recordingsDir = freshDir()
    mkdirSync(recordingsDir)
    const recordings = new FileRecordings(recordingsDir)
    const openRecording = recordings.openRecording.bind(recordings)
    recordings.openRecording = async (...args: Parameters<FileRecordings['openRecording']>) => {
      const sink = await openRecording(...args)
      const finish = sink.finish.bind(sink)
      // The user types while portcullis finishes the recording (the process has exited, the channel is still open).
      sink.finish = () => {
        const finished = finish()
        try { channel.emit('data', Buffer.from('typed late\r')) } catch (err) { thrown = err }
        return finished
      }
      return sink
    }
    const session = new RecordedExec({
      sessionId: id(6), user: 'alice', key: 'SHA256:x', client: '192.0.2.1:50000',
      container: { id: 'c1', name: 'web-1', running: true, status: 'running', image: 'x', project: 'shop' },
      role: 'operator', body: { Cmd: ['bash'], Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true },
      command: null, pty: { term: 'xterm', cols: 80, rows: 24 }, env: {}, channel: channel as never, idleTimeoutMs: 60_000, maxSessionMs: 60_000
    }, { audit, recordings, grants: new BridgeGrants(), docker: new DockerClient({ socketPath }, 'not-used-by-execs'), logger: pino({ enabled: false }) })
    try {
      expect(await session.run()).toBe(0)
    } finally {
      await new Promise<void>((resolve) => docker.close(() => resolve()))
    }
    expect(thrown).toBeNull()
    expect(audit.records.map((r) => r.action)).toEqual(['session.start', 'session.end'])
    expect(recordings.released.has(id(6))).toBe(true)
    let cast = ''
    for await (const piece of recordings.readCast(id(6))) cast += piece
    expect(cast).toContain('hello')
  })
})

describe('review: `audit export --session ID` printing to the auditor\'s terminal', () => {
  it('passes no C1 control (U+0080 to U+009F, which JSON leaves as they are) from the recording to the terminal', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    const start = await store.append({ kind: 'session', user: 'mallory', authMethod: 'ssh', action: 'session.start', resource: 'web-1', decision: 'allow', reason: 'opened', fields: { session: id(7) } })
    const sink = await store.openRecording(id(7), start.seq, castHeader({ width: 80, height: 24, startedAt: new Date(), command: 'bash', user: 'mallory', container: 'web-1', project: null, sessionId: id(7) }), { flushIntervalMs: 0 })
    // OSC 52 in its 8-bit form (UTF-8 encoded): sets the clipboard of a terminal that obeys C1 controls.
    sink.output(Buffer.from('ok\u009d52;c;cm0gLXJmIH4K\u009c\r\n', 'utf8'))
    const recording = await sink.finish()
    await store.append({ kind: 'session', user: 'mallory', authMethod: 'ssh', action: 'session.end', resource: 'web-1', decision: null, reason: 'exited', fields: { session: id(7), startSeq: start.seq, endedBy: 'exit', recording } })
    await sink.release()
    await store.close()
    const cli = new URL('../../dist/cli.js', import.meta.url).pathname
    // `script` gives the command a terminal, as an auditor's shell does.
    const printed = execFileSync('script', ['-qec', `node ${cli} audit export --session ${id(7)} --data ${dir}`, '/dev/null'], { encoding: 'utf8' })
    expect(printed).toContain('ok')
    expect(printed).not.toMatch(/[\u0080-\u009f]/)
  })
})

describe('review: the auditor\'s terminal after `audit replay`', () => {
  it('is not left in a character set, insert mode, scroll region or origin mode the recording chose (the replay\'s own summary follows on it)', async () => {
    const { ReplayFilter } = await import('../../src/audit/replay-filter.js')
    const filter = new ReplayFilter()
    // Shift to G1 holding DEC line drawing: every later letter is drawn as a box piece; insert mode; a one-line
    // scroll region at the top with origin mode, so what follows overwrites one line.
    const shown = filter.write('\x1b)0\x0e\x1b[4h\x1b[1;1r\x1b[?6h')
    expect(shown).toContain('\x0e') // the screen-drawing sequences do pass: the recording shows as it was
    const end = filter.finish()
    expect(end).toContain('\x0f') // shift in: G0 again
    expect(end).toContain('\x1b)B')
    expect(end).toContain('\x1b[4l')
    expect(end).toContain('\x1b[r')
    expect(end).toContain('\x1b[?6l')
  })
})
