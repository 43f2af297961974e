// A .tar.gz bundle unpacked to be verified: what cannot be unpacked is a verdict about the bundle (a link entry,
// a damaged or crafted archive), and only a file that cannot be read at all is an error.

import { createReadStream } from 'node:fs'
import { basename } from 'node:path'
import { createGunzip } from 'node:zlib'
import type { BundleIssue } from './bundle-verify-issues.js'
import { AuditError, messageOf } from './errors.js'
import { TarFormatError, TarLinkError, extractTar } from './tar.js'

/** Extracts the archive at `real` (given as `path`) into `dir`: null when it was unpacked, else the problem that
 * is the bundle's verdict. Throws PORTCULLIS_AUDIT_BUNDLE_UNREADABLE when the file cannot be read. */
export async function extractBundleArchive (path: string, real: string, dir: string): Promise<BundleIssue | null> {
  try {
    await extractTar(createReadStream(real).pipe(createGunzip()), dir, { stripTopDirectory: true })
  } catch (err) {
    if (err instanceof TarLinkError) return { problem: 'link', file: basename(path), detail: err.message }
    // A damaged archive is a verdict about the bundle; a file that cannot be read at all is not.
    const damage = err instanceof TarFormatError ? err.message : (err as { code?: string }).code?.startsWith('Z_') === true ? `it is not gzip-compressed, or is damaged (${messageOf(err)})` : null
    if (damage === null) throw new AuditError('PORTCULLIS_AUDIT_BUNDLE_UNREADABLE', [path, messageOf(err)], { cause: err })
    return { problem: 'archive-damaged', file: basename(path), detail: damage }
  }
  return null
}
