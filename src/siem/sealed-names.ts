// The names in a sealed-file output directory: the one open file, and the sealed files named by the first and last
// seq they hold, zero-padded so that sorting the names sorts the files in seq order (and an agent that reads them in
// name order reads the chain in order).

/** The file records are appended to until it is sealed; agents must not read it (it does not end in .jsonl). */
export const OPEN_FILE = 'portcullis-open.tmp'

const SEQ_DIGITS = 20
const SEALED_PATTERN = /^portcullis-(\d{20})-(\d{20})\.jsonl$/

export interface SealedName {
  name: string
  firstSeq: number
  lastSeq: number
}

export function sealedName (firstSeq: number, lastSeq: number): string {
  return `portcullis-${String(firstSeq).padStart(SEQ_DIGITS, '0')}-${String(lastSeq).padStart(SEQ_DIGITS, '0')}.jsonl`
}

/** The seqs a sealed file's name carries, or null for any other name. */
function parseSealedName (name: string): SealedName | null {
  const match = SEALED_PATTERN.exec(name)
  if (match === null) return null
  const firstSeq = Number(match[1])
  const lastSeq = Number(match[2])
  if (!Number.isSafeInteger(firstSeq) || !Number.isSafeInteger(lastSeq) || firstSeq < 1 || lastSeq < firstSeq) return null
  return { name, firstSeq, lastSeq }
}

/** The sealed files among `names`, in seq order. */
export function sealedFiles (names: readonly string[]): SealedName[] {
  return names.flatMap((name) => parseSealedName(name) ?? []).sort((a, b) => a.firstSeq - b.firstSeq || a.lastSeq - b.lastSeq)
}
