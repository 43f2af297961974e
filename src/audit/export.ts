// Writing query results out as JSON lines or CSV, in constant memory: rows are gathered into chunks of about
// 64 KiB and each chunk waits for the destination to take the previous one (backpressure).

import type { Writable } from 'node:stream'
import { CSV_HEADER, csvCell, csvRow } from './csv.js'
import type { StoredRecord } from './query.js'

export type ExportFormat = 'jsonl' | 'csv'

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  jsonl: 'application/x-ndjson',
  csv: 'text/csv; charset=utf-8; header=present'
}

export function isExportFormat (value: unknown): value is ExportFormat {
  return value === 'jsonl' || value === 'csv'
}

const CHUNK_CHARS = 64 * 1024

export interface WriteExportOptions<Row extends StoredRecord = StoredRecord> {
  /** Called after each chunk is handed to `out`, with the number of records written so far. */
  onProgress?: (records: number) => void
  /** Across the hosts of a fleet: each row names its host, as `host` and `hostName` CSV columns before the record's,
   * or a JSON line `{"host":…,"hostName":…,"record":…}` that holds the stored text unchanged. */
  hostOf?: (row: Row) => { host: string, name: string }
}

/**
 * Writes `records` to `out`: JSON lines as stored (each line verifies against its own hash), or CSV with a
 * header row. Does not end `out`. Stops early, without error, when `out` is closed or destroyed (a client went
 * away); rejects when `out` fails. Resolves with the number of records written.
 */
export async function writeExport<Row extends StoredRecord> (records: AsyncIterable<Row>, format: ExportFormat, out: Writable, options: WriteExportOptions<Row> = {}): Promise<number> {
  const hostOf = options.hostOf
  let chunk = format === 'csv' ? (hostOf !== undefined ? 'host,hostName,' : '') + CSV_HEADER : ''
  let written = 0
  let pending = 0
  const flush = async (): Promise<boolean> => {
    if (out.destroyed) return false
    const more = out.write(chunk)
    chunk = ''
    written += pending
    pending = 0
    options.onProgress?.(written)
    return more || await drained(out)
  }
  for await (const row of records) {
    if (hostOf === undefined) chunk += format === 'csv' ? csvRow(row.record) : row.text + '\n'
    else {
      const { host, name } = hostOf(row)
      chunk += format === 'csv'
        ? csvCell(host) + ',' + csvCell(name) + ',' + csvRow(row.record)
        : `{"host":${JSON.stringify(host)},"hostName":${JSON.stringify(name)},"record":${row.text}}\n`
    }
    pending++
    if (chunk.length >= CHUNK_CHARS && !await flush()) return written
  }
  if (chunk !== '' || pending > 0) await flush()
  return written
}

/** Resolves true once `out` takes more, false when it closed first; rejects when it fails. */
export function drained (out: Writable): Promise<boolean> {
  if (out.destroyed) return Promise.resolve(false)
  return new Promise((resolve, reject) => {
    const done = (result: boolean, err?: Error): void => {
      out.off('drain', onDrain)
      out.off('close', onClose)
      out.off('error', onError)
      if (err !== undefined) reject(err)
      else resolve(result)
    }
    const onDrain = (): void => { done(true) }
    const onClose = (): void => { done(false) }
    const onError = (err: Error): void => { done(false, err) }
    out.on('drain', onDrain)
    out.on('close', onClose)
    out.on('error', onError)
  })
}
