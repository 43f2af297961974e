// Files commands write with --out: never overwritten unless --force says so, and once written, a line on stderr
// saying what is in them (the file, its records, its bytes, the seq range) so a script's log shows what it made.
import { createWriteStream, type WriteStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { once } from 'node:events'
import { CSV_COLUMNS } from '../audit/csv.js'
import { visible } from '../audit/terminal-text.js'
import { PortcullisError } from '../errors.js'

export const FORCE_OPTION = { force: { type: 'boolean', default: false } } as const
export const FORCE_HELP = { '--force': 'with --out: overwrite the file if it exists (without it, an existing file is refused)' }

/** Opens `path` for writing: created new, or with `force` truncated. PORTCULLIS_OUTPUT_EXISTS when it exists. */
export async function openOutFile (path: string, force: boolean, mode = 0o666): Promise<WriteStream> {
  const out = createWriteStream(path, { flags: force ? 'w' : 'wx', mode })
  try {
    await once(out, 'open')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new PortcullisError('PORTCULLIS_OUTPUT_EXISTS', path)
    throw new PortcullisError('PORTCULLIS_OUTPUT', path, (err as Error).message)
  }
  return out
}

/** `wrote FILE: N records, B bytes, seq A..Z` for a JSON-lines or CSV export of one store (`seqs`: false for a
 * fleet export, whose records come host by host, so its first and last seq are no range). */
export async function describeExport (path: string, records: number, format: string, seqs = true): Promise<string> {
  const bytes = (await stat(path)).size
  const range = records > 0 && seqs ? await seqRange(path, format, bytes) : null
  return `wrote ${visible(path)}: ${records} record(s), ${bytes} bytes${range !== null ? `, seq ${range[0]}..${range[1]}` : ''}\n`
}

const EDGE = 64 * 1024

/** The seq of the first and last record in the file, from its first and last lines. */
async function seqRange (path: string, format: string, bytes: number): Promise<[string, string] | null> {
  const file = await open(path, 'r')
  try {
    const read = async (position: number): Promise<string> => {
      const buffer = Buffer.alloc(Math.min(EDGE, bytes))
      const { bytesRead } = await file.read(buffer, 0, buffer.length, position)
      return buffer.subarray(0, bytesRead).toString('utf8')
    }
    const headLines = (await read(0)).split('\n')
    const tailLines = (await read(Math.max(0, bytes - EDGE))).split('\n').filter((line) => line !== '')
    const first = format === 'csv' ? headLines[1] : headLines[0]
    const last = tailLines.at(-1)
    if (first === undefined || last === undefined) return null
    const seqOf = (line: string): string | null => {
      if (format === 'csv') return line.split(',')[CSV_COLUMNS.indexOf('seq')] ?? null
      const match = /"seq":(\d+)/.exec(line)
      return match?.[1] ?? null
    }
    const a = seqOf(first)
    const z = seqOf(last)
    return a !== null && z !== null ? [a, z] : null
  } finally {
    await file.close()
  }
}
