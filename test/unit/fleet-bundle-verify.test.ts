// A fleet bundle's host part holds no recordings by design (the fleet database has none): verify-bundle lists the
// sessions its session.end records vouch for as to be checked on their host, and only inside a fleet bundle. The same
// part on its own is BROKEN (cast-missing), and a part swapped or added under the fleet manifest is named.
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CastRecorder } from '../../src/audit/asciicast.js'
import { writeBundle } from '../../src/audit/bundle.js'
import { bundleSourceOf } from '../../src/audit/bundle-store.js'
import { verifyBundle } from '../../src/audit/bundle-verify.js'
import { verifyAnyBundle, type FleetBundleManifest, type FleetBundleVerifyReport } from '../../src/audit/bundle-verify-fleet.js'
import { ensureAuditKey } from '../../src/audit/signing-key.js'
import { AuditStore } from '../../src/audit/store.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-fleet-bundle-'))
const SESSION = 's-00000000000000b2'
const HOST = 'h-0123456789abcdef'
let fleet: string

/** A fleet bundle of one host whose chain holds a session that ended with a recording. */
async function fleetBundle (dir: string): Promise<void> {
  const { key } = ensureAuditKey(join(root, 'keys'))
  const store = await AuditStore.open(join(root, `store-${Math.random().toString(16).slice(2)}`))
  try {
    await store.append({ kind: 'system', action: 'portcullis.start', reason: 'started' })
    const start = await store.append({ kind: 'session', user: 'alice', authMethod: 'ssh', action: 'session.start', decision: 'allow', reason: 'shell', fields: { session: SESSION } })
    const rec = new CastRecorder({ width: 80, height: 24, startedAt: new Date(), user: 'alice', container: 'c', project: 'p', sessionId: SESSION })
    const sink = store.castSink(SESSION, start.seq, { maxChunkBytes: 120, flushIntervalMs: 0 })
    sink.write(rec.header() + '\n')
    rec.output(Buffer.from('hello\r\n'), 10)
    sink.write(rec.drain().join('\n') + '\n')
    const cast = await sink.finish()
    await store.append({ kind: 'session', user: 'alice', authMethod: 'ssh', action: 'session.end', decision: null, reason: 'exited', fields: { session: SESSION, startSeq: start.seq, cast } })
    await sink.release()
    await writeBundle(bundleSourceOf(store, key), join(dir, 'hosts', HOST), { generator: 'test', host: 'web1', recordingsOnHost: true })
  } finally {
    await store.close()
  }
  const part = readFileSync(join(dir, 'hosts', HOST, 'manifest.json'))
  const manifest: FleetBundleManifest = {
    version: 1,
    kind: 'fleet',
    created: new Date().toISOString(),
    range: { since: '2026-01-01T00:00:00.000Z', until: null },
    recordings: 'on-host',
    hosts: [{ hostId: HOST, name: 'web1', keyId: key.keyId, dir: `hosts/${HOST}`, records: 4, fromSeq: 1, toSeq: 4, manifestSha256: createHash('sha256').update(part).digest('hex'), note: null }],
    files: {},
    generator: 'test'
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest))
}

beforeAll(async () => {
  fleet = join(root, 'fleet')
  await fleetBundle(fleet)
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('a fleet bundle\'s recordings stay on the hosts', () => {
  it('verify-bundle passes and lists the session whose recording is to be checked on its host', async () => {
    const report = await verifyAnyBundle(fleet) as FleetBundleVerifyReport
    expect(report.kind).toBe('fleet')
    expect(report.problems).toEqual([])
    expect(report.ok).toBe(true)
    expect(report.hosts[0]!.report!.onHost).toEqual([SESSION])
    expect(JSON.parse(readFileSync(join(fleet, 'hosts', HOST, 'manifest.json'), 'utf8'))).toMatchObject({ recordings: 'on-host' })
  })

  it('the same part on its own is a bundle missing a recording its chain vouches for', async () => {
    const report = await verifyBundle(join(fleet, 'hosts', HOST))
    expect(report.ok).toBe(false)
    expect(report.firstBad).toMatchObject({ problem: 'cast-missing', session: SESSION })
  })

  it('a part whose manifest was changed, or a part added, is named with its path', async () => {
    const copy = join(root, 'swapped')
    await fleetBundle(copy)
    const partManifest = join(copy, 'hosts', HOST, 'manifest.json')
    writeFileSync(partManifest, readFileSync(partManifest, 'utf8').replace('"on-host"', '"on-hosts"'))
    mkdirSync(join(copy, 'hosts', 'h-ffffffffffffffff'))
    const report = await verifyAnyBundle(copy) as FleetBundleVerifyReport
    expect(report.ok).toBe(false)
    expect(report.problems).toEqual(expect.arrayContaining([
      expect.objectContaining({ problem: 'file-mismatch', host: HOST, file: `hosts/${HOST}/manifest.json` }),
      expect.objectContaining({ problem: 'file-unlisted', file: 'hosts/h-ffffffffffffffff' })
    ]))
  })
})
