// A session's recording copied out byte for byte as stored (`audit export --session ID`), with C1 controls escaped
// when it goes to a terminal.
import { once } from 'node:events'
import { stat } from 'node:fs/promises'
import type { Writable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import { visible } from '../audit/terminal-text.js'
import type { AuditAccess } from './audit-access.js'
import { openOutFile } from './out-file.js'

/** Copies the recording, byte for byte as stored, to --out or stdout. */
export async function exportCast (access: AuditAccess, id: string, outPath: string | undefined, force = false): Promise<void> {
  const cast = await access.cast(id)
  const out: Writable = outPath === undefined ? process.stdout : await openOutFile(outPath, force)
  // On a terminal, the C1 controls JSON leaves as they are (U+0080 to U+009F: 8-bit CSI, OSC, DCS, which some
  // terminals obey in UTF-8 too) are written as \u escapes: the same JSON, but the user's programs cannot reach
  // the auditor's terminal through it. A file (--out, or a pipe) gets the recording exactly as stored.
  const terminal = outPath === undefined && process.stdout.isTTY === true ? new StringDecoder('utf8') : null
  for await (const piece of cast) {
    const text = terminal === null ? piece : escapeC1(typeof piece === 'string' ? piece : terminal.write(piece))
    if (!out.write(text)) await once(out, 'drain')
  }
  if (terminal !== null) out.write(escapeC1(terminal.end()))
  if (outPath !== undefined) {
    await new Promise((resolve) => out.end(resolve))
    process.stderr.write(`wrote ${visible(outPath)}: the recording of session ${id}, ${(await stat(outPath)).size} bytes\n`)
  }
}

/** JSON text with every C1 control written as a \u escape (C1 controls can stand only inside JSON strings). */
function escapeC1 (json: string): string {
  return json.replace(/[\u0080-\u009f]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
}
