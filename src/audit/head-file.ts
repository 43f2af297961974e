// HEAD.json: the newest durable record's seq and hash, kept in the store's directory but outside LevelDB, written
// at every start, stop and checkpoint. LevelDB cannot tell a store whose last records were cut off (its log
// truncated or deleted, the directory restored from an older backup) from one that never had them; this file can:
// a store whose head is behind it lost records.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { AuditHead } from './record.js'

export const HEAD_FILE = 'HEAD.json'
/** Where a write goes before it is renamed over HEAD_FILE. */
export const HEAD_FILE_TEMP = 'HEAD.json.tmp'

/** When the head was written down. */
export type HeadFileEvent = 'start' | 'stop' | 'checkpoint'

export interface HeadFile extends AuditHead {
  event: HeadFileEvent
  /** ISO time of the write. */
  time: string
}

/** What HEAD.json in `dir` says, or null when there is none. A file that is there but unreadable or malformed is
 * `{ unreadable }`: damage to report, not a missing file. */
export function readHeadFile (dir: string): HeadFile | { unreadable: string } | null {
  let text: string
  try {
    text = readFileSync(join(dir, HEAD_FILE), 'utf8')
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return null
    return { unreadable: (err as Error).message }
  }
  const parsed = parseHeadFile(text)
  return parsed ?? { unreadable: `${HEAD_FILE} is not a head (${JSON.stringify(text.slice(0, 80))})` }
}

function parseHeadFile (text: string): HeadFile | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  if (value === null || typeof value !== 'object') return null
  const { seq, hash, event, time } = value as Record<string, unknown>
  if (!Number.isSafeInteger(seq) || (seq as number) < 0 || typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) return null
  if (event !== 'start' && event !== 'stop' && event !== 'checkpoint') return null
  if (typeof time !== 'string') return null
  return { seq: seq as number, hash, event, time }
}

/**
 * Writes `head` to HEAD.json in `dir` so that a crash leaves the old file or the new one, never half of either:
 * a temporary file (0600) written and fsynced, renamed over HEAD.json, and the directory fsynced.
 */
export function writeHeadFile (dir: string, head: AuditHead, event: HeadFileEvent, time = new Date()): HeadFile {
  const written: HeadFile = { seq: head.seq, hash: head.hash, event, time: time.toISOString() }
  const temp = join(dir, HEAD_FILE_TEMP)
  const fd = openSync(temp, 'w', 0o600)
  try {
    writeSync(fd, JSON.stringify(written) + '\n')
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    try { unlinkSync(temp) } catch {}
    throw err
  }
  closeSync(fd)
  renameSync(temp, join(dir, HEAD_FILE))
  const dirFd = openSync(dir, 'r')
  try {
    fsyncSync(dirFd)
  } finally {
    closeSync(dirFd)
  }
  return written
}

/**
 * Writes the head down in both places outside LevelDB: HEAD.json, and a log line (`msg: 'audit head'`) that leaves
 * the host with the logs (`audit verify --checkpoints LOG` reads it). A HEAD.json that cannot be written is logged
 * as an alert, not thrown: the records themselves are safe.
 */
export function noteHead (dir: string, head: AuditHead, event: HeadFileEvent, logger: Logger): void {
  logger.info({ head: { seq: head.seq, hash: head.hash }, event }, 'audit head')
  try {
    writeHeadFile(dir, head, event)
  } catch (err) {
    logger.error({ err, dir, head, alert: 'audit-head-file' }, `could not write ${HEAD_FILE}: a cut tail (records lost from the end of the store) cannot be detected at the next start until it is written`)
  }
}

/** Why the store's head `head` cannot be the one HEAD.json recorded (`recorded`), given `hashAt` (the stored hash
 * of a record, or null when the store has no such record); null when the store still holds it. */
export async function tailCutProblem (recorded: HeadFile, head: AuditHead, hashAt: (seq: number) => Promise<string | null>): Promise<string | null> {
  const known = `known at the last ${recorded.event} at ${recorded.time}`
  if (head.seq < recorded.seq) {
    return `records ${head.seq + 1}..${recorded.seq} (${known}) are gone: the store ends at record ${head.seq}, ${HEAD_FILE} names record ${recorded.seq}; its tail was cut (a write-ahead log truncated or deleted, or the directory restored from an older copy)`
  }
  if (recorded.seq === 0) return null
  const hash = await hashAt(recorded.seq)
  if (hash === recorded.hash) return null
  return `record ${recorded.seq} (${known}) is ${hash === null ? 'gone' : 'not the record it was'}: ${HEAD_FILE} holds hash ${recorded.hash.slice(0, 16)}…, the store ${hash === null ? 'has no such record' : `has ${hash.slice(0, 16)}…`}; records up to it were cut and others written in their place, or the directory was restored from another copy`
}
