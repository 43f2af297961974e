// What the audit commands read (and, for bundles, mark) the trail through: the running daemon's admin socket, or a
// store directory no daemon owns (--data DIR). The choice is made once, here; each command is written once against
// AuditAccess, and both sides answer with the same coded errors.

import type { Writable } from 'node:stream'
import type { BundleSummary } from '../admin/audit-bundle-routes.js'
import type { BundleOptions } from '../audit/bundle.js'
import type { ExportFormat } from '../audit/export.js'
import { isSessionId } from '../audit/keys.js'
import type { AuditFilter } from '../audit/query.js'
import type { ListSessionsOptions, SessionSummary } from '../audit/sessions.js'
import type { AuditPublicKey } from '../audit/signing-key.js'
import type { VerifyReport } from '../audit/verify.js'
import { PortcullisError } from '../errors.js'
import { LocalAudit } from './audit-local.js'
import { RemoteAudit } from './audit-remote.js'
import { auditEndpoint, type EndpointFlags } from './audit-options.js'
import { DEFAULTS } from './defaults.js'

export interface BundleRequest {
  range: Pick<BundleOptions, 'since' | 'until' | 'fromSeq' | 'toSeq'>
  /** The bundle's top directory inside an archive. */
  name: string
  /** A new (or empty) directory, or a .tar.gz file when `archive`. */
  out: string
  archive: boolean
}

export interface AuditAccess {
  /** Writes the matching records to `out` as JSON lines or CSV, in constant memory; resolves with how many. */
  exportRecords: (filter: AuditFilter, format: ExportFormat, out: Writable, onProgress?: (records: number) => void) => Promise<number>
  /** The stored hash of record `seq`; null when there is no such record. */
  recordHash: (seq: number) => Promise<string | null>
  /** Checks the chain and its checkpoints. `publicKeys` are for a store read directly: the running daemon checks
   * with its own key. */
  verify: (publicKeys: AuditPublicKey[] | undefined) => Promise<VerifyReport>
  sessions: (options: ListSessionsOptions) => Promise<SessionSummary[]>
  /** Throws PORTCULLIS_SESSION_NOT_FOUND. */
  session: (id: string) => Promise<SessionSummary>
  /** The recording as stored; throws PORTCULLIS_SESSION_NOT_FOUND or PORTCULLIS_SESSION_NO_RECORDING before
   * yielding anything. */
  cast: (id: string) => Promise<AsyncIterable<string | Buffer>>
  /** Writes an evidence bundle signed by a checkpoint, and notes in the store that the bundle holds its records. */
  bundle: (request: BundleRequest) => Promise<BundleSummary>
  close: () => Promise<void>
}

export interface AuditAccessFlags extends EndpointFlags {
  'admin-socket': string
  /** A store directory no daemon owns: read it directly. */
  data?: string | undefined
  /** With `data`: the keys directory (audit_ed25519.key signs a bundle's checkpoint). */
  keys?: string | undefined
}

/** The daemon's admin socket, or with --data the store itself. Opens nothing until a method is called. */
export function openAuditAccess (flags: AuditAccessFlags): AuditAccess {
  return flags.data !== undefined ? new LocalAudit(flags.data, flags.keys ?? DEFAULTS.keys) : new RemoteAudit(auditEndpoint(flags))
}

/** Opens the access, runs `use`, and closes it whatever happened. */
export async function withAuditAccess<T> (flags: AuditAccessFlags, use: (access: AuditAccess) => Promise<T>): Promise<T> {
  const access = openAuditAccess(flags)
  try {
    return await use(access)
  } finally {
    await access.close()
  }
}

export function requireSessionId (value: string): string {
  if (!isSessionId(value)) throw new PortcullisError('PORTCULLIS_SESSION_ID_INVALID', JSON.stringify(value))
  return value
}
