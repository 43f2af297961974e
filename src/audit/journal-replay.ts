// Putting back into LevelDB what it lost of the journal's records. LevelDB's log is written without sync, so a
// host that crashes (power, kernel) can lose its end, or, when the page cache wrote it out of order, a stretch in
// the middle. The journal was written durably before every answer: each of its records that LevelDB lacks is
// restored, with its index entries, in one synced batch. Records before the retention base were removed on purpose
// and stay removed.

import { recordHashMatches } from './chain.js'
import type { AuditDb } from './level.js'
import { addIndexEntries } from './indexes.js'
import { BASE_KEY, HEAD_KEY, decodeHead, encodeHead, recordKey, seqFromKey } from './keys.js'
import { parseRecord, type AuditHead, type AuditRecord } from './record.js'

export interface JournalReplay {
  /** The head after the replay: later than before when LevelDB had lost the newest records. */
  head: AuditHead
  /** The seqs restored, as ranges. */
  restored: Array<{ fromSeq: number, toSeq: number }>
  /** Journal records that could not be restored, and why (for the start record; the start verification judges the chain). */
  problems: string[]
}

interface Entry {
  record: AuditRecord
  text: string
}

/** Restores into `db` the records of `texts` (the journal's, oldest first) that it lacks. */
export async function replayJournal (db: AuditDb, texts: readonly string[], head: AuditHead): Promise<JournalReplay> {
  const problems: string[] = []
  // A seq written twice (a batch that failed, then the store reopened and went on from its head): the later wins.
  const bySeq = new Map<number, Entry>()
  for (const text of texts) {
    const record = parseRecord(text)
    if (record === null) {
      problems.push('a journal entry is not an audit record')
      continue
    }
    bySeq.set(record.seq, { record, text })
  }
  const replay: JournalReplay = { head, restored: [], problems }
  if (bySeq.size === 0) return replay

  const rawBase = await db.get(BASE_KEY) as string | undefined
  const baseSeq = rawBase === undefined ? 0 : (decodeHead(rawBase)?.seq ?? 0)
  const missing: Entry[] = []
  const seqs = [...bySeq.keys()].filter((seq) => seq > baseSeq).sort((a, b) => a - b)

  // Up to the head: the seqs LevelDB has no record for.
  const upToHead = seqs.filter((seq) => seq <= head.seq)
  if (upToHead.length > 0) {
    const present = new Set<number>()
    for await (const key of db.keys({ gte: recordKey(upToHead[0]!), lte: recordKey(head.seq) })) {
      const seq = seqFromKey(key)
      if (seq !== null) present.add(seq)
    }
    for (const seq of upToHead) {
      if (present.has(seq)) continue
      const entry = bySeq.get(seq)!
      if (recordHashMatches(entry.text, entry.record.prevHash)) missing.push(entry)
      else problems.push(`journal record ${seq} does not match its own hash`)
    }
  }

  // After the head: the chain goes on from it for as long as the journal has the next record.
  let next = head
  for (let seq = head.seq + 1; bySeq.has(seq); seq++) {
    const entry = bySeq.get(seq)!
    if (entry.record.prevHash !== next.hash || !recordHashMatches(entry.text, entry.record.prevHash)) break
    missing.push(entry)
    next = { seq, hash: entry.record.hash }
  }
  const beyond = seqs.filter((seq) => seq > next.seq)
  if (beyond.length > 0) problems.push(`journal records ${beyond[0]} to ${beyond.at(-1)} were not restored: they do not continue the chain from record ${next.seq}`)
  if (missing.length === 0) return replay

  const batch = db.batch()
  for (const { record, text } of missing) {
    batch.put(recordKey(record.seq), text)
    addIndexEntries(batch, record)
  }
  if (next.seq > head.seq) batch.put(HEAD_KEY, encodeHead(next))
  await batch.write({ sync: true })
  replay.head = next
  replay.restored = toRanges(missing.map((entry) => entry.record.seq))
  return replay
}

function toRanges (seqs: number[]): Array<{ fromSeq: number, toSeq: number }> {
  const ranges: Array<{ fromSeq: number, toSeq: number }> = []
  for (const seq of [...seqs].sort((a, b) => a - b)) {
    const last = ranges.at(-1)
    if (last !== undefined && seq === last.toSeq + 1) last.toSeq = seq
    else ranges.push({ fromSeq: seq, toSeq: seq })
  }
  return ranges
}
