// The chain rules, once, against every source that holds a chain: each damage in the table is done to the same
// sample chain held by each source, and each source's verify must name it at the same record.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CastRecorder } from '../../src/audit/asciicast.js'
import { bodyTextOf, chainHash, withHash } from '../../src/audit/chain.js'
import type { ChainEntry } from '../../src/audit/chain-verifier.js'
import { signCheckpoint } from '../../src/audit/checkpoints.js'
import { parseRecord } from '../../src/audit/record.js'
import { ensureAuditKey, type AuditSigningKey } from '../../src/audit/signing-key.js'
import { AuditStore } from '../../src/audit/store.js'
import { CHAIN_SOURCES, type HeldChain } from '../suites/chain-sources.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-chain-sources-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let dirCount = 0
const fresh = (name: string): string => join(root, `${name}-${++dirCount}`)
const SESSION = 's-00000000000000c1'

let key: AuditSigningKey
beforeAll(() => { key = ensureAuditKey(join(root, 'keys')).key })

/** Nine records: decisions, and a recorded session whose session.end (record 8) vouches for its recording. */
async function sampleChain (): Promise<AuditStore> {
  const store = await AuditStore.open(fresh('store'))
  await store.append({ kind: 'system', action: 'portcullis.start', reason: 'started' })
  for (const user of ['alice', 'bob', 'carol', 'dave']) {
    await store.append({ kind: 'decision', user, authMethod: 'tls', action: 'container.start', project: 'web', role: 'developer', decision: 'deny', reason: `${user} is no developer in web` })
  }
  const start = await store.append({ kind: 'session', user: 'alice', authMethod: 'ssh', action: 'session.start', project: 'web', resource: 'web-1', decision: 'allow', reason: 'shell', fields: { session: SESSION } })
  const rec = new CastRecorder({ width: 80, height: 24, startedAt: new Date(), user: 'alice', container: 'web-1', project: 'web', sessionId: SESSION })
  const sink = store.castSink(SESSION, start.seq, { maxChunkBytes: 120, flushIntervalMs: 0 })
  sink.write(rec.header() + '\n')
  for (let i = 0; i < 4; i++) {
    rec.output(Buffer.from(`line ${i}\r\n`), i * 100)
    sink.write(rec.drain().join('\n') + '\n')
    await sink.flush()
  }
  await store.append({ kind: 'decision', user: 'alice', authMethod: 'bridge', action: 'container.exec', project: 'web', decision: 'allow', reason: 'bridge exec', fields: { session: SESSION } })
  const cast = await sink.finish()
  await store.append({ kind: 'session', user: 'alice', authMethod: 'ssh', action: 'session.end', project: 'web', resource: 'web-1', decision: null, reason: 'exit 0', fields: { session: SESSION, startSeq: start.seq, cast } })
  await sink.release()
  await store.append({ kind: 'decision', user: 'erin', authMethod: 'tls', action: 'image.list', decision: 'allow', reason: 'ok' })
  await signCheckpoint(store, key)
  return store
}

/** Record `seq`'s text with its content changed and sealed again onto the hash it links to. */
function rewritten (entry: ChainEntry): string {
  const record = parseRecord(entry.text)!
  const body = bodyTextOf(entry.text)!.replace('"deny"', '"allow"')
  return withHash(body, chainHash(record.prevHash, body))
}

interface Damage {
  name: string
  damage: (chain: HeldChain) => Promise<void>
  /** What every source names: the record, and the problems that may name it (sources word some damage apart). */
  seq: number
  problems: string[]
  session?: string
}

const editEntries = (change: (entries: ChainEntry[]) => ChainEntry[]) => async (chain: HeldChain): Promise<void> => await chain.replace(change(await chain.entries()))

const DAMAGES: Damage[] = [
  {
    name: 'a flipped byte in a record',
    damage: editEntries((entries) => entries.map((e) => e.seq === 3 ? { ...e, text: e.text.replace('"deny"', '"DENY"') } : e)),
    seq: 3,
    problems: ['hash-mismatch']
  },
  {
    name: 'a record rewritten and sealed again: the next one no longer links to it',
    damage: editEntries((entries) => entries.map((e) => e.seq === 3 ? { ...e, text: rewritten(e) } : e)),
    seq: 4,
    problems: ['prev-hash-mismatch']
  },
  {
    name: 'a removed record',
    damage: editEntries((entries) => entries.filter((e) => e.seq !== 4)),
    seq: 4,
    problems: ['gap']
  },
  {
    name: 'a reordered pair',
    damage: editEntries((entries) => entries.map((e) => e.seq === 3 ? { seq: 3, text: entries[3]!.text } : e.seq === 4 ? { seq: 4, text: entries[2]!.text } : e)),
    seq: 3,
    problems: ['gap', 'prev-hash-mismatch']
  },
  {
    name: 'an inserted copy of a record',
    damage: editEntries((entries) => [...entries.slice(0, 3), { seq: 4, text: entries[2]!.text }, ...entries.slice(3).map((e) => ({ ...e, seq: e.seq + 1 }))]),
    seq: 4,
    problems: ['gap', 'prev-hash-mismatch']
  },
  {
    name: 'a text that is no record',
    damage: editEntries((entries) => entries.map((e) => e.seq === 5 ? { ...e, text: '{"not":"a record"}' } : e)),
    seq: 5,
    problems: ['unparseable']
  },
  {
    name: 'a checkpoint whose signature does not hold',
    damage: async (chain) => await chain.forgeCheckpoint(),
    seq: 9,
    problems: ['checkpoint-forged']
  },
  {
    name: 'a recording that no longer matches the digest its session.end holds',
    damage: async (chain) => await chain.editRecording(SESSION),
    seq: 8,
    problems: ['cast-mismatch'],
    session: SESSION
  }
]

for (const source of CHAIN_SOURCES) {
  describe(`the chain rules, held by the ${source.name}`, () => {
    it('an intact chain verifies', async () => {
      const chain = await source.hold(await sampleChain(), key, fresh(source.name))
      expect(await chain.verify()).toEqual({ ok: true })
    })

    for (const damage of DAMAGES) {
      it(`${damage.name} is named at record ${damage.seq}`, async () => {
        const chain = await source.hold(await sampleChain(), key, fresh(source.name))
        await damage.damage(chain)
        const verdict = await chain.verify()
        expect(verdict).toMatchObject({ ok: false, seq: damage.seq, ...(damage.session !== undefined ? { session: damage.session } : {}) })
        expect(damage.problems).toContain(verdict.problem)
      })
    }
  })
}
