// Reading the audit trail the way an operator does: through `portcullis audit tail --json` on the admin socket.

import { expect } from 'vitest'
import type { AuditRecord } from '../../src/audit/record.js'
import type { Portcullis } from './portcullis.js'

/** A record as `audit tail --json` prints it: as stored. */
export type Record = AuditRecord

export async function auditRecords (plugin: Portcullis, lines = 100_000): Promise<Record[]> {
  const result = await plugin.cli(['audit', 'tail', '--all', '-n', String(lines), '--json', '--admin-socket', plugin.adminSocket])
  expect(result.code, result.stderr).toBe(0)
  return result.stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record)
}

/** The decision records after `sinceSeq` matching all the given fields. */
export async function decisions (plugin: Portcullis, match: Partial<Record> & { uriIncludes?: string }, sinceSeq = 0): Promise<Record[]> {
  const { uriIncludes, ...fields } = match
  return (await auditRecords(plugin)).filter((r) => r.kind === 'decision' && r.seq > sinceSeq &&
    Object.entries(fields).every(([k, v]) => Object.getOwnPropertyDescriptor(r, k)?.value === v) &&
    (uriIncludes === undefined || (r.uri ?? '').includes(uriIncludes)))
}

export async function headSeq (plugin: Portcullis): Promise<number> {
  const records = await auditRecords(plugin, 1)
  return records.at(-1)?.seq ?? 0
}
