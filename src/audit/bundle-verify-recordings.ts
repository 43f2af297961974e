// A bundle's recordings, each against what its session.end vouches for.

import { createHash } from 'node:crypto'
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { BUNDLE_FILES, castPath, chunksPath, recordingFilePath } from './bundle.js'
import { readBundleChunks, readBundleText } from './bundle-files.js'
import { reportedEntry, type BundleIssue, type BundleProblem } from './bundle-verify-issues.js'
import { CastDigester, type CastSummary } from './cast-digest.js'
import { messageOf } from './errors.js'
import { isSessionId } from './keys.js'
import { renderRecordingBytes, type RecordingSummary } from './recordings.js'

/** Recomputes a recording's digest from the bundled file cut at the bundled chunk borders. */
export async function checkCast (dir: string, session: string, end: { seq: number, cast: CastSummary }, problem: (issue: BundleIssue) => void): Promise<boolean> {
  const file = castPath(session)
  const fail = (kind: BundleProblem, detail: string): false => {
    problem({ problem: kind, file, seq: end.seq, session, detail: `session ${session}: ${detail}` })
    return false
  }
  if (end.cast.chunks === 0) {
    // An empty recording: the bundle holds nothing of it (writeCast writes no file then), so a .cast here was added.
    const present = await lstat(join(dir, file)).then(() => true, () => false)
    return present ? fail('cast-mismatch', `its session.end (record ${end.seq}) vouches for an empty recording, but the bundle holds ${file}: it was added`) : true
  }
  let lengths: number[]
  try {
    const text = await readBundleText(dir, chunksPath(session))
    lengths = text.split('\n').filter((line) => line !== '').map(Number)
  } catch (err) {
    if (reportedEntry(err, problem)) return false
    return fail('cast-missing', `its session.end (record ${end.seq}) vouches for a recording of ${end.cast.bytes} bytes, but the bundle does not hold it (or its ${chunksPath(session)})`)
  }
  if (lengths.some((length) => !Number.isSafeInteger(length) || length < 0)) return fail('cast-mismatch', `${chunksPath(session)} is malformed`)
  const digester = new CastDigester()
  let pending: Buffer = Buffer.alloc(0)
  let index = 0
  try {
    for await (const piece of readBundleChunks(dir, file)) {
      pending = pending.length === 0 ? piece : Buffer.concat([pending, piece])
      while (index < lengths.length && pending.length >= lengths[index]!) {
        digester.add(pending.subarray(0, lengths[index]!).toString('utf8'))
        pending = pending.subarray(lengths[index]!)
        index++
      }
    }
  } catch (err) {
    if (reportedEntry(err, problem)) return false
    return fail('cast-missing', `its session.end (record ${end.seq}) vouches for a recording, but ${file} is not in the bundle`)
  }
  const actual = digester.summary()
  if (index < lengths.length || pending.length > 0 || actual.digest !== end.cast.digest || actual.chunks !== end.cast.chunks || actual.bytes !== end.cast.bytes) {
    return fail('cast-mismatch', `the recording does not match the digest its session.end (record ${end.seq}) holds: it was edited, cut or extended`)
  }
  return true
}

/** Hashes a bundled recording file against the summary its session.end holds, then checks that the bundled
 * .cast is its rendering (what a reviewer plays is what the chain vouches for). */
export async function checkRecording (dir: string, session: string, end: { seq: number, recording: RecordingSummary }, problem: (issue: BundleIssue) => void): Promise<boolean> {
  const file = recordingFilePath(session)
  const fail = (kind: BundleProblem, at: string, detail: string): false => {
    problem({ problem: kind, file: at, seq: end.seq, session, detail: `session ${session}: ${detail}` })
    return false
  }
  const hash = createHash('sha256')
  let bytes = 0
  try {
    for await (const piece of readBundleChunks(dir, file)) {
      hash.update(piece)
      bytes += piece.length
    }
  } catch (err) {
    if (reportedEntry(err, problem)) return false
    return fail('cast-missing', file, `its session.end (record ${end.seq}) vouches for a recording file of ${end.recording.bytes} bytes, but the bundle does not hold it`)
  }
  if (bytes !== end.recording.bytes || hash.digest('hex') !== end.recording.sha256) {
    return fail('cast-mismatch', file, `the recording file (${bytes} bytes) does not match the sha256 its session.end (record ${end.seq}, ${end.recording.bytes} bytes) holds: it was edited, cut or extended`)
  }
  const rendered = createHash('sha256')
  const bundled = createHash('sha256')
  try {
    for await (const text of renderRecordingBytes(readBundleChunks(dir, file), file)) rendered.update(text)
    for await (const piece of readBundleChunks(dir, castPath(session))) bundled.update(piece)
  } catch (err) {
    if (reportedEntry(err, problem)) return false
    return fail('cast-missing', castPath(session), `${castPath(session)} is missing or ${file} cannot be rendered (${messageOf(err)})`)
  }
  if (rendered.digest('hex') !== bundled.digest('hex')) {
    return fail('cast-mismatch', castPath(session), `${castPath(session)} is not what ${file} renders to: it was edited`)
  }
  return true
}

/** Sessions with a recording file in the bundle. */
export async function castsIn (dir: string): Promise<string[]> {
  try {
    if (!(await lstat(join(dir, BUNDLE_FILES.sessions))).isDirectory()) return []
    return (await readdir(join(dir, BUNDLE_FILES.sessions))).filter((name) => name.endsWith('.cast')).map((name) => name.slice(0, -5)).filter(isSessionId).sort()
  } catch {
    return []
  }
}
