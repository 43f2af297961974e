// One suite of the chain rules, run against every source that holds a chain (the way abstract-level runs one
// suite against every backend): each source is a way to hold the same sample chain and damage it; the table of
// damages and what verify must name for each is written once. A new source (PostgreSQL) adds an adapter here.

import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeBundle, castPath } from '../../src/audit/bundle.js'
import { bundleSourceOf } from '../../src/audit/bundle-store.js'
import { verifyBundle } from '../../src/audit/bundle-verify.js'
import type { ChainEntry } from '../../src/audit/chain-verifier.js'
import { parseCheckpoint } from '../../src/audit/checkpoint-format.js'
import { CHECKPOINT_RANGE, RECORD_RANGE, castRange, recordKey, seqFromKey } from '../../src/audit/keys.js'
import type { AuditSigningKey } from '../../src/audit/signing-key.js'
import type { AuditStore } from '../../src/audit/store.js'
import { verifyDir } from '../../src/audit/verify.js'
import { tamper } from '../helpers/tamper.js'

/** What a source's verify names: the verdict and its first bad record, in the words every source shares. */
interface ChainVerdict {
  ok: boolean
  problem?: string
  seq?: number
  session?: string
}

/** The sample chain held by one source, open to damage. */
export interface HeldChain {
  /** The records as the source holds them, in order, each with the place it is held at. */
  entries: () => Promise<ChainEntry[]>
  /** Holds these entries instead of the records (each at its `seq`, in this order). */
  replace: (entries: ChainEntry[]) => Promise<void>
  /** Re-dates the checkpoint on the last record without signing it again. */
  forgeCheckpoint: () => Promise<void>
  /** Changes a byte of a session's recording. */
  editRecording: (session: string) => Promise<void>
  verify: () => Promise<ChainVerdict>
}

export interface ChainSource {
  name: string
  /** Takes the sample chain from `store` (open, signed with `key` at its last record); `dir` is free to use. */
  hold: (store: AuditStore, key: AuditSigningKey, dir: string) => Promise<HeldChain>
}

/** The store itself: records, checkpoints and recording chunks in its LevelDB. */
const storeSource: ChainSource = {
  name: 'store',
  hold: async (store, key) => {
    const dir = store.dir
    await store.close()
    return {
      entries: async () => {
        const entries: ChainEntry[] = []
        await tamper(dir, async (db) => {
          for await (const [k, text] of db.iterator(RECORD_RANGE)) entries.push({ seq: seqFromKey(k)!, text })
        })
        return entries
      },
      replace: async (entries) => await tamper(dir, async (db) => {
        await db.clear(RECORD_RANGE)
        await db.batch(entries.map(({ seq, text }) => ({ type: 'put' as const, key: recordKey(seq), value: text })))
      }),
      forgeCheckpoint: async () => await tamper(dir, async (db) => {
        for await (const [k, text] of db.iterator({ ...CHECKPOINT_RANGE, reverse: true, limit: 1 })) {
          await db.put(k, JSON.stringify({ ...parseCheckpoint(text)!, time: '2020-01-01T00:00:00.000Z' }))
        }
      }),
      editRecording: async (session) => await tamper(dir, async (db) => {
        for await (const [k, chunk] of db.iterator({ ...castRange(session), limit: 1 })) await db.put(k, chunk.replace('"', "'"))
      }),
      verify: async () => {
        const report = await verifyDir(dir, { publicKeys: [key] })
        return { ok: report.ok, ...report.firstBad }
      }
    }
  }
}

/** An evidence bundle of the whole chain: records.jsonl, checkpoints.jsonl, sessions/<id>.cast. */
const bundleSource: ChainSource = {
  name: 'bundle',
  hold: async (store, key, dir) => {
    await writeBundle(bundleSourceOf(store, key), dir, { generator: 'chain suite', host: 'testhost' })
    await store.close()
    const records = join(dir, 'records.jsonl')
    const checkpoints = join(dir, 'checkpoints.jsonl')
    return {
      entries: async () => readFileSync(records, 'utf8').split('\n').filter((line) => line !== '').map((text, i) => ({ seq: i + 1, text })),
      replace: async (entries) => writeFileSync(records, entries.map((entry) => entry.text + '\n').join('')),
      forgeCheckpoint: async () => {
        const lines = readFileSync(checkpoints, 'utf8').trim().split('\n')
        lines[lines.length - 1] = JSON.stringify({ ...parseCheckpoint(lines[lines.length - 1]!)!, time: '2020-01-01T00:00:00.000Z' })
        writeFileSync(checkpoints, lines.join('\n') + '\n')
      },
      editRecording: async (session) => {
        const path = join(dir, castPath(session))
        writeFileSync(path, readFileSync(path, 'utf8').replace('"', "'"))
      },
      verify: async () => {
        const report = await verifyBundle(dir)
        return { ok: report.ok, ...(report.firstBad !== undefined ? { problem: report.firstBad.problem, seq: report.firstBad.seq, session: report.firstBad.session } : {}) }
      }
    }
  }
}

export const CHAIN_SOURCES: readonly ChainSource[] = [storeSource, bundleSource]
