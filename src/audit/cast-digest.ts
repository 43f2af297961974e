// The digest of a session's recording kept in chunks: d(i) chained over the chunk texts, so the session.end record
// (and through it the hash chain) covers the recording without the recording passing through the chain's writer.
import crypto from 'node:crypto'

/** d(-1): the digest of a recording with no chunks. */
export const CAST_GENESIS = '0'.repeat(64)

/** d(i) = sha256_hex(d(i-1) + '\n' + chunkText(i)), the text hashed as its UTF-8 bytes. */
export function nextCastDigest (prev: string, chunkText: string | Uint8Array): string {
  return crypto.createHash('sha256').update(prev + '\n').update(chunkText).digest('hex')
}

/** What session.end records about a recording: `fields.cast`. */
export interface CastSummary {
  chunks: number
  /** UTF-8 bytes of all chunk texts. */
  bytes: number
  /** d(chunks - 1); CAST_GENESIS for no chunks. */
  digest: string
}

/** Folds chunks, in order, into their summary. */
export class CastDigester {
  #chunks = 0
  #bytes = 0
  #digest = CAST_GENESIS

  add (chunkText: string): void {
    this.#digest = nextCastDigest(this.#digest, chunkText)
    this.#bytes += Buffer.byteLength(chunkText)
    this.#chunks++
  }

  summary (): CastSummary {
    return { chunks: this.#chunks, bytes: this.#bytes, digest: this.#digest }
  }
}

/** Whether `value` has the shape of a CastSummary (as read back from a record's fields). */
export function isCastSummary (value: unknown): value is CastSummary {
  if (value === null || typeof value !== 'object') return false
  const { chunks, bytes, digest } = value as Record<string, unknown>
  return Number.isSafeInteger(chunks) && (chunks as number) >= 0 && Number.isSafeInteger(bytes) && (bytes as number) >= 0 &&
    typeof digest === 'string' && /^[0-9a-f]{64}$/.test(digest)
}
