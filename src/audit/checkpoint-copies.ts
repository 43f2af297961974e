// Checkpoints kept outside the store: the daemon logs every one it signs (`msg: 'audit checkpoint'`), so copies
// leave the host with the logs. Someone who can rewrite the store can also delete the checkpoints stored in it;
// the copies still hold, and a record whose hash no longer matches its copy names the rewrite.

import { checkpointSignatureProblem, parseCheckpoint, type Checkpoint } from './checkpoint-format.js'
import type { AuditPublicKey } from './signing-key.js'

export interface CheckpointCopiesReport {
  /** Copies found in the file. */
  found: number
  /** Copies whose record still has the signed hash (and, with keys, whose signature holds). */
  checked: number
  /** Copies for records expired from the store: nothing left to compare them with. */
  expired: number
  /** The newest copy that holds. */
  last?: { seq: number, time: string, keyId: string }
  signaturesChecked: boolean
  /** Heads logged at starts and stops (`msg: 'audit head'`) found in the file: unsigned, checked for a cut tail. */
  heads: number
  firstBad?: { seq: number, problem: 'checkpoint-forged' | 'checkpoint-mismatch' | 'tail-cut', detail: string, checkpoint: { seq: number, time: string } }
}

/** A head the daemon logged at a start, stop or checkpoint (`msg: 'audit head'`). */
export interface LoggedHead {
  seq: number
  hash: string
  time: string
  event: string
}

/**
 * The checkpoints in a log file or a file of checkpoints: each line either a checkpoint (JSON) or a log line
 * carrying one under `checkpoint`. Other lines are skipped; one seq seen twice is kept once.
 */
export function readCheckpointCopies (text: string): Checkpoint[] {
  const bySeq = new Map<number, Checkpoint>()
  for (const line of text.split('\n')) {
    if (!line.includes('"signature"')) continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      continue
    }
    const inner = value !== null && typeof value === 'object' && 'checkpoint' in value ? (value as { checkpoint: unknown }).checkpoint : value
    const checkpoint = parseCheckpoint(JSON.stringify(inner))
    if (checkpoint !== null && !bySeq.has(checkpoint.seq)) bySeq.set(checkpoint.seq, checkpoint)
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq)
}

/** The heads logged in a log file (`{"head":{"seq":…,"hash":…},"event":…,"msg":"audit head"}`), in seq order. */
export function readLoggedHeads (text: string): LoggedHead[] {
  const heads: LoggedHead[] = []
  for (const line of text.split('\n')) {
    if (!line.includes('"audit head"')) continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      continue
    }
    const { head, event, time, msg } = value as { head?: { seq?: unknown, hash?: unknown }, event?: unknown, time?: unknown, msg?: unknown }
    if (msg !== 'audit head' || !Number.isSafeInteger(head?.seq) || typeof head?.hash !== 'string') continue
    const at = typeof time === 'number' ? new Date(time).toISOString() : typeof time === 'string' ? time : 'an unknown time'
    heads.push({ seq: head.seq as number, hash: head.hash, time: at, event: typeof event === 'string' ? event : 'unknown' })
  }
  return heads.sort((a, b) => a.seq - b.seq)
}

/** The finding for logged checkpoints or heads past the store's head `headSeq`: its last records are gone. */
function tailCut (headSeq: number, newest: { seq: number, time: string }, what: string): NonNullable<CheckpointCopiesReport['firstBad']> {
  return {
    seq: headSeq + 1,
    problem: 'tail-cut',
    detail: `records ${headSeq + 1}..${newest.seq} (known at the ${what} logged at ${newest.time}) are gone: the store ends at record ${headSeq}; its tail was cut (a write-ahead log truncated or deleted, or the directory restored from an older copy)`,
    checkpoint: { seq: newest.seq, time: newest.time }
  }
}

/**
 * Compares each copy, oldest first, with the record it signs. `hashOf` answers the record's stored hash, or null
 * when the store has no such record; records up to `expiredUpTo` were expired and are skipped. A copy, or a logged
 * head (`heads`), past the store's head `headSeq` means the store lost its last records: a cut tail.
 */
export async function checkCheckpointCopies (
  copies: readonly Checkpoint[],
  hashOf: (seq: number) => Promise<string | null>,
  options: { keys?: readonly AuditPublicKey[], expiredUpTo?: number, headSeq?: number, heads?: readonly LoggedHead[] } = {}
): Promise<CheckpointCopiesReport> {
  const heads = options.heads ?? []
  const report: CheckpointCopiesReport = { found: copies.length, checked: 0, expired: 0, signaturesChecked: options.keys !== undefined, heads: heads.length }
  for (const copy of copies) {
    const at = { seq: copy.seq, time: copy.time }
    if (options.keys !== undefined) {
      const forged = checkpointSignatureProblem(copy, options.keys)
      if (forged !== null) {
        report.firstBad = { seq: copy.seq, problem: 'checkpoint-forged', detail: `the logged checkpoint for record ${copy.seq}, dated ${copy.time}, is forged: ${forged}`, checkpoint: at }
        return report
      }
    }
    if (options.headSeq !== undefined && copy.seq > options.headSeq) {
      const beyond = copies.filter((c) => c.seq > options.headSeq!).at(-1)!
      report.firstBad = tailCut(options.headSeq, beyond, 'checkpoint')
      return report
    }
    if (copy.seq <= (options.expiredUpTo ?? 0)) {
      report.expired++
      continue
    }
    const hash = await hashOf(copy.seq)
    if (hash === null) {
      report.firstBad = { seq: copy.seq, problem: 'checkpoint-mismatch', detail: `a checkpoint logged at ${copy.time} vouches for record ${copy.seq}, which the store no longer has: records were removed`, checkpoint: at }
      return report
    }
    if (hash !== copy.hash) {
      const from = (report.last?.seq ?? options.expiredUpTo ?? 0) + 1
      report.firstBad = {
        seq: from,
        problem: 'checkpoint-mismatch',
        detail: `record ${copy.seq} no longer has the hash the checkpoint logged at ${copy.time} holds: the chain was rewritten, hashes and all, somewhere in records ${from} to ${copy.seq}`,
        checkpoint: at
      }
      return report
    }
    report.checked++
    report.last = { seq: copy.seq, time: copy.time, keyId: copy.keyId }
  }
  const newestHead = heads.at(-1)
  if (options.headSeq !== undefined && newestHead !== undefined && newestHead.seq > options.headSeq) {
    report.firstBad = tailCut(options.headSeq, newestHead, `${newestHead.event} whose head was`)
  }
  return report
}
