// What verify-bundle reports: the problems it names, and the one way each check reports them.

import { BundleEntryError } from './bundle-files.js'

export type BundleProblem =
  | 'archive-damaged' // the .tar.gz cannot be unpacked: cut short, corrupted, crafted, or not one
  | 'link' // a symbolic or hard link (in a directory or as a tar entry): never followed
  | 'not-regular' // a FIFO, socket or device where a file belongs: never read
  | 'manifest-invalid' // manifest.json missing or not a bundle manifest
  | 'file-missing' // a file the manifest lists (or every bundle has) is not there
  | 'file-mismatch' // a file's bytes differ from the manifest's sha256
  | 'file-unlisted' // a file the manifest does not list was added
  | 'unparseable' // a line of records.jsonl or checkpoints.jsonl is not a record or checkpoint
  | 'hash-mismatch' // a record's content does not match its own hash: it was edited
  | 'prev-hash-mismatch' // a record does not link to the one before it
  | 'gap' // a record is missing, or out of place
  | 'range-mismatch' // the records do not start or end where the manifest says
  | 'key-invalid' // audit_ed25519.pub is not an Ed25519 public key
  | 'key-mismatch' // the bundled key is not the one the reviewer expects
  | 'checkpoint-forged' // a checkpoint's signature does not hold for the bundled key
  | 'checkpoint-mismatch' // a checkpoint signs a hash its record does not have, or a record not in the bundle
  | 'checkpoint-missing' // no checkpoint signs the last record
  | 'cast-missing' // a recording a session.end vouches for is not in the bundle
  | 'cast-mismatch' // a recording differs from the digest its session.end holds, or a .cast is not the rendering of its .rec

export interface BundleIssue {
  problem: BundleProblem
  /** The file it was found in, as a path inside the bundle. */
  file: string
  seq?: number
  session?: string
  detail: string
}

/** A problem opening a bundle file that is a verdict of its own (a link, a FIFO): reported, and true. */
export function reportedEntry (err: unknown, problem: (issue: BundleIssue) => void): boolean {
  if (!(err instanceof BundleEntryError) || err.problem === 'missing') return false
  problem({ problem: err.problem, file: err.file, detail: err.message })
  return true
}
