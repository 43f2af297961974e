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
  firstBad?: { seq: number, problem: 'checkpoint-forged' | 'checkpoint-mismatch', detail: string, checkpoint: { seq: number, time: string } }
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

/**
 * Compares each copy, oldest first, with the record it signs. `hashOf` answers the record's stored hash, or null
 * when the store has no such record; records up to `expiredUpTo` were expired and are skipped.
 */
export async function checkCheckpointCopies (
  copies: readonly Checkpoint[],
  hashOf: (seq: number) => Promise<string | null>,
  options: { keys?: readonly AuditPublicKey[], expiredUpTo?: number } = {}
): Promise<CheckpointCopiesReport> {
  const report: CheckpointCopiesReport = { found: copies.length, checked: 0, expired: 0, signaturesChecked: options.keys !== undefined }
  for (const copy of copies) {
    const at = { seq: copy.seq, time: copy.time }
    if (options.keys !== undefined) {
      const forged = checkpointSignatureProblem(copy, options.keys)
      if (forged !== null) {
        report.firstBad = { seq: copy.seq, problem: 'checkpoint-forged', detail: `the logged checkpoint for record ${copy.seq}, dated ${copy.time}, is forged: ${forged}`, checkpoint: at }
        return report
      }
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
  return report
}
