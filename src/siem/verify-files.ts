// Checks a sealed-file output directory (sealed-files.ts) against the chain: the files, in name order, hold every
// seq from the first to the last once and in order, each line is its record as the chain holds it (its hash covers
// its text and links to the line before, checked by the chain's own verifier), each name says the seqs it holds, and
// the last record of each file has the hash the store has for that seq (while the store still holds it), which
// anchors the lines before it.

import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ChainVerifier, isChainFault, type ChainFault } from '../audit/chain-verifier.js'
import { parseRecord } from '../audit/record.js'
import { OPEN_FILE, sealedFiles } from './sealed-names.js'

interface FilesProblem {
  file: string
  /** 1-based line in the file, when the problem is one line's. */
  line?: number
  detail: string
}

export interface FilesVerifyReport {
  ok: boolean
  dir: string
  files: number
  records: number
  firstSeq: number | null
  lastSeq: number | null
  /** Files whose last record was compared with the store (the others' records are no longer in it). */
  anchored: number
  /** The open file, not yet sealed (not checked: an agent does not read it). */
  openFile: boolean
  /** At most MAX_PROBLEMS, in file order. */
  problems: FilesProblem[]
}

const MAX_PROBLEMS = 50

/** `recordHash`: the store's hash for a seq, or null when it does not hold that record. */
export async function verifySealedFiles (dir: string, recordHash: (seq: number) => Promise<string | null>): Promise<FilesVerifyReport> {
  const names = await readdir(dir)
  const files = sealedFiles(names)
  const report: FilesVerifyReport = { ok: true, dir, files: files.length, records: 0, firstSeq: files[0]?.firstSeq ?? null, lastSeq: files.at(-1)?.lastSeq ?? null, anchored: 0, openFile: names.includes(OPEN_FILE), problems: [] }
  const problem = (found: FilesProblem): void => {
    report.ok = false
    if (report.problems.length < MAX_PROBLEMS) report.problems.push(found)
  }
  let verifier: ChainVerifier | null = null
  let previous: (typeof files)[number] | null = null
  for (const file of files) {
    if (previous !== null && file.firstSeq !== previous.lastSeq + 1) {
      problem({
        file: file.name,
        detail: file.firstSeq > previous.lastSeq + 1
          ? `records ${previous.lastSeq + 1} to ${file.firstSeq - 1} are in no file (after ${previous.name}): a file was removed, or a forced expiry removed them before they were written (then an output.gap record says so)`
          : `it starts at record ${file.firstSeq}, which ${previous.name} already holds: records are in two files`
      })
      verifier = null
    }
    previous = file
    const lines = (await readFile(join(dir, file.name), 'utf8')).split('\n')
    if (lines.at(-1) === '') lines.pop()
    else problem({ file: file.name, detail: 'its last line is not whole (no line break at its end)' })
    let last: { seq: number, hash: string } | null = null
    for (const [index, text] of lines.entries()) {
      verifier ??= new ChainVerifier({ seq: file.firstSeq, prevHash: parseRecord(text)?.prevHash ?? '' })
      const checked = verifier.next({ seq: verifier.expected, text })
      if (isChainFault(checked)) {
        problem({ file: file.name, line: index + 1, detail: describeFault(checked, verifier.expected) })
        // Go on after it, from what the line says, to find more.
        const record = parseRecord(text)
        verifier = record === null ? null : new ChainVerifier({ seq: record.seq + 1, prevHash: record.hash })
        continue
      }
      report.records++
      last = { seq: checked.seq, hash: checked.hash }
    }
    if (last === null || last.seq !== file.lastSeq) problem({ file: file.name, detail: `its name says its last record is ${file.lastSeq}, it ends with ${last === null ? 'no record' : `record ${last.seq}`}` })
    if (last !== null) {
      const stored = await recordHash(last.seq)
      if (stored !== null) {
        report.anchored++
        if (stored !== last.hash) problem({ file: file.name, detail: `its record ${last.seq} is not the store's (hash ${last.hash.slice(0, 12)}…, the store's ${stored.slice(0, 12)}…)` })
      }
    }
  }
  return report
}

function describeFault (fault: ChainFault, expected: number): string {
  if ('record' in fault && fault.record.seq !== expected && fault.fault !== 'edited') return `it holds record ${fault.record.seq}, record ${expected} was expected here (out of order, or a record is missing)`
  switch (fault.fault) {
    case 'missing': return `record ${expected} was expected here`
    case 'unparseable': return `not an audit record (record ${expected} was expected)`
    case 'unsealed': return `record ${fault.record.seq} does not end with its hash`
    case 'edited': return `record ${fault.record.seq} was changed: its content does not match its hash`
    case 'unlinked': return `record ${fault.record.seq} does not link to the line before it`
    case 'misplaced': return `it holds record ${fault.record.seq}, record ${expected} was expected here (out of order, or a record is missing)`
  }
}
