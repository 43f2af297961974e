// The check `portcullis serve` runs before it accepts a call: the chain from the newest signed checkpoint that
// still matches its record (or from the first record) to the head, any table LevelDB cannot read on the way, and
// any part of a write-ahead log LevelDB dropped when it opened the store. A store found damaged is refused
// unless the operator accepts it (`serve --accept-damaged-audit`); either way the result goes into the chain.

import { parseCheckpoint, checkpointSignatureProblem } from './checkpoint-format.js'
import { AuditError, messageOf } from './errors.js'
import { HEAD_FILE, readHeadFile, tailCutProblem } from './head-file.js'
import { CHECKPOINT_RANGE, recordKey, seqFromCheckpointKey } from './keys.js'
import { parseRecord } from './record.js'
import type { AuditPublicKey } from './signing-key.js'
import { droppedAtOpen, isExhaustion, isStorageFailure, storageError, unreadableDetail } from './storage-errors.js'
import { auditDatabase, type AuditStore } from './store.js'

/** What the start verification found. `damage` is empty when the store checked out. */
export interface StartVerification {
  ok: boolean
  /** The records checked: from the one after the anchoring checkpoint to the head. */
  from: number
  to: number
  /** Records found good before the first bad one (all of them when ok). */
  records: number
  /** The checkpoint the check started from; absent when it started at the first record. */
  checkpoint?: { seq: number, time: string }
  /** The first bad record, when the chain is broken there. */
  firstBad?: { seq: number, problem: string, detail: string }
  /** Each piece of damage, as a sentence naming the record or the file. */
  damage: string[]
  /** The head HEAD.json recorded at the last start, stop or checkpoint, when the store no longer holds it. */
  tailCut?: { seq: number, hash: string, event: string, time: string }
}

/** Verifies `store` from its newest good checkpoint (signed by one of `keys` when given) to its head. Never throws
 * for damage: it is reported. */
export async function verifyAtStart (store: AuditStore, keys?: readonly AuditPublicKey[]): Promise<StartVerification> {
  const restored = store.journalReplay.restored.map(({ fromSeq, toSeq }) => fromSeq === toSeq ? `${fromSeq}` : `${fromSeq}-${toSeq}`).join(', ')
  // The journal puts back every audit record a dropped log held; recordings and other entries it cannot.
  const lost = restored === '' ? 'the records in it are gone' : `the journal put back audit records ${restored}, but recordings, ownership and grant entries in it are gone`
  const damage = droppedAtOpen(store.dir).map((line) => `LevelDB dropped part of a write-ahead log when it opened the store (${line}): ${lost}`)
  // LevelDB reports a dropped log only in the open that dropped it: a start refused for it must not let the next
  // one pass. Until an operator accepts it, the refusal is the newest record, and its findings still stand.
  damage.push(...await stillRefused(store))
  const head = store.head()
  const cut = await headFileProblem(store)
  if (cut !== null) damage.push(cut.problem)
  let anchor: { seq: number, time: string } | undefined
  try {
    anchor = await newestGoodCheckpoint(store, keys)
  } catch (err) {
    if (isExhaustion(err)) throw storageError(err, store.dir)
    if (!isStorageFailure(err) && !(err instanceof AuditError)) throw err
    damage.push(`the checkpoints cannot be read: ${messageOf(err)}`)
  }
  const from = (anchor?.seq ?? 0) + 1
  const result: StartVerification = { ok: false, from, to: head.seq, records: 0, ...(anchor !== undefined ? { checkpoint: anchor } : {}), damage, ...(cut?.recorded !== undefined ? { tailCut: cut.recorded } : {}) }
  try {
    const report = await store.verify({ fromSeq: from, ...(keys !== undefined ? { publicKeys: keys } : {}) })
    result.records = report.records
    if (report.firstBad !== undefined) {
      const { seq, problem, detail } = report.firstBad
      const unreadable = problem === 'gap' ? await unreadableDetail(auditDatabase(store), recordKey(seq)) : null
      result.firstBad = unreadable !== null ? { seq, problem: 'unreadable', detail: unreadable } : { seq, problem, detail }
      damage.push(`record ${seq}: ${result.firstBad.problem}: ${result.firstBad.detail}`)
    }
  } catch (err) {
    // A full disk or no descriptor left is the host's state, not the store's: it must not be recorded as damage,
    // which would refuse every later start too (see stillRefused).
    if (isExhaustion(err)) throw storageError(err, store.dir)
    if (!(err instanceof AuditError) && !isStorageFailure(err)) throw err
    const seq = /at record (\d+)/.exec(messageOf(err))?.[1]
    result.firstBad = { seq: seq !== undefined ? Number(seq) : from, problem: 'unreadable', detail: messageOf(err) }
    damage.push(`record ${result.firstBad.seq}: unreadable: ${messageOf(err)}`)
  }
  result.ok = damage.length === 0
  return result
}

/** The refusal for a start on a damaged store, naming the first bad record (or the first damage found). */
export function startDamagedError (dir: string, found: StartVerification): AuditError {
  const first = found.firstBad !== undefined
    ? `the chain is broken at record ${found.firstBad.seq} (${found.firstBad.problem}: ${found.firstBad.detail})`
    : found.damage[0] ?? 'unknown damage'
  const more = found.damage.length > 1 ? `; ${found.damage.length - 1} more finding(s) in the log` : ''
  return new AuditError('PORTCULLIS_AUDIT_START_DAMAGED', [dir, first + more])
}

/** Whether the store still holds the head HEAD.json recorded: a store whose tail was cut verifies on its own. */
async function headFileProblem (store: AuditStore): Promise<{ problem: string, recorded?: StartVerification['tailCut'] } | null> {
  const recorded = readHeadFile(store.dir)
  if (recorded === null) return null
  if ('unreadable' in recorded) return { problem: `${HEAD_FILE} cannot be read (${recorded.unreadable}): whether records at the end of the store were cut off cannot be told` }
  let problem: string | null
  try {
    problem = await tailCutProblem(recorded, store.head(), async (seq) => {
      const raw = await auditDatabase(store).get(recordKey(seq))
      return raw === undefined ? null : parseRecord(raw)?.hash ?? null
    })
  } catch (err) {
    if (isExhaustion(err)) throw storageError(err, store.dir)
    if (!isStorageFailure(err)) throw err
    problem = `record ${recorded.seq}, named by ${HEAD_FILE}, cannot be read: ${messageOf(err)}`
  }
  return problem === null ? null : { problem, recorded: { seq: recorded.seq, hash: recorded.hash, event: recorded.event, time: recorded.time } }
}

/** The findings of the previous start when it was refused and nothing was recorded since. */
async function stillRefused (store: AuditStore): Promise<string[]> {
  let last
  try {
    last = (await store.tail(1))[0]
  } catch {
    return [] // the walk below reports an unreadable record
  }
  if (last?.action !== 'audit.start-verify' || last.code !== 'PORTCULLIS_AUDIT_START_DAMAGED') return []
  const found = last.fields?.damage
  const lines = Array.isArray(found) ? found.filter((line): line is string => typeof line === 'string') : []
  return lines.map((line) => line.startsWith('found by the start refused') ? line : `found by the start refused at ${last.time} (record ${last.seq}): ${line}`)
}

async function newestGoodCheckpoint (store: AuditStore, keys: readonly AuditPublicKey[] | undefined): Promise<{ seq: number, time: string } | undefined> {
  const head = store.head().seq
  for await (const [key, value] of auditDatabase(store).iterator({ ...CHECKPOINT_RANGE, reverse: true })) {
    const checkpoint = parseCheckpoint(value)
    const seq = seqFromCheckpointKey(key)
    if (checkpoint === null || checkpoint.seq !== seq || seq > head) continue
    if (keys !== undefined && checkpointSignatureProblem(checkpoint, keys) !== null) continue
    const raw = await auditDatabase(store).get(recordKey(seq))
    if (raw !== undefined && parseRecord(raw)?.hash === checkpoint.hash) return { seq, time: checkpoint.time }
  }
  return undefined
}
