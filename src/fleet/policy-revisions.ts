// The fleet's policy revisions in PostgreSQL: publishing the next one, reading the newest. Publishers serialize on a
// transaction-scoped advisory lock, so two publishing at once get consecutive revisions; the primary key turns any
// race that slips past it into a retry, never into two policies under one number.

import type pg from 'pg'
import type { SignedPolicy } from '../policy/signed.js'
import { FLEET_SCHEMA } from './schema.js'

/** An arbitrary constant: the advisory lock a publisher holds while it picks and inserts a revision. */
const PUBLISH_LOCK = 0x706f6c69 // "poli"

interface RevisionRow {
  revision: string
  policy: Buffer
  envelope: string
  signature: string
  key_id: string
  publisher: string
  published_at: Date
  rollback: boolean
}

const COLUMNS = 'revision, policy, envelope, signature, key_id, publisher, published_at, rollback'

function fromRow (row: RevisionRow): SignedPolicy {
  return {
    revision: Number(row.revision),
    policy: row.policy,
    envelope: row.envelope,
    signature: row.signature,
    keyId: row.key_id,
    publisher: row.publisher,
    publishedAt: row.published_at.toISOString(),
    rollback: row.rollback
  }
}

/** The newest revision (the highest number), or null when none was published. */
export async function newestPolicyRevision (client: pg.Client): Promise<SignedPolicy | null> {
  const { rows } = await client.query<RevisionRow>(`SELECT ${COLUMNS} FROM ${FLEET_SCHEMA}.policy_revisions ORDER BY revision DESC LIMIT 1`)
  return rows[0] === undefined ? null : fromRow(rows[0])
}

/**
 * Inserts `make(revision)` as the next revision, in one transaction that chose the number. `make` signs: the
 * signature binds the number the row gets.
 */
export async function publishPolicyRevision (client: pg.Client, make: (revision: number) => SignedPolicy): Promise<SignedPolicy> {
  for (let attempt = 1; ; attempt++) {
    await client.query('BEGIN')
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [PUBLISH_LOCK])
      const { rows } = await client.query<{ next: string }>(`SELECT coalesce(max(revision), 0) + 1 AS next FROM ${FLEET_SCHEMA}.policy_revisions`)
      const signed = make(Number(rows[0]!.next))
      await client.query(`INSERT INTO ${FLEET_SCHEMA}.policy_revisions (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [signed.revision, signed.policy, signed.envelope, signed.signature, signed.keyId, signed.publisher, signed.publishedAt, signed.rollback])
      await client.query('COMMIT')
      return signed
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      // 23505: another publisher took the number (one that does not take the lock): pick the next one.
      if ((err as { code?: unknown }).code !== '23505' || attempt >= 5) throw err
    }
  }
}
