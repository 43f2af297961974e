// Stored record texts as UTF-8 bytes, a line each, for whatever hands a batch of them on (the fleet shipper's INSERT,
// the SIEM's sealed files). Written straight into one buffer: joining them into one string first is slow once that
// string passes V8's regular-object size (128 KiB, about 200 records), 3-4 µs a record against 0.4-0.9 µs here
// (BENCHMARKS.md, "Shipping the audit to a fleet database"), and it is on serve's main thread.

/** The texts as UTF-8, separated by '\n', and ended by one too when `terminated`. */
export function textLines (rows: ReadonlyArray<{ text: string }>, terminated: boolean): Buffer {
  let size = terminated ? rows.length : Math.max(0, rows.length - 1)
  for (const row of rows) size += Buffer.byteLength(row.text)
  const lines = Buffer.allocUnsafe(size)
  let at = 0
  for (let i = 0; i < rows.length; i++) {
    if (i > 0) lines[at++] = 0x0a
    at += lines.write(rows[i]!.text, at, 'utf8')
  }
  if (terminated && rows.length > 0) lines[at] = 0x0a
  return lines
}
