// An audit trail in memory: records sealed and chained as the store seals them, kept in an array for the test to
// read. `failWith` makes every later append fail the way a store whose write failed refuses records.
import type { AppendOptions, AuditLog } from '../../src/audit/audit-log.js'
import { sealRecord } from '../../src/audit/chain.js'
import { AuditError } from '../../src/audit/errors.js'
import { GENESIS_HASH, type AuditInput, type AuditRecord } from '../../src/audit/record.js'

export class MemoryAuditLog implements AuditLog {
  readonly records: AuditRecord[] = []
  failure: Error | null = null
  closing = false

  async append (input: AuditInput, _options?: AppendOptions): Promise<AuditRecord> {
    if (this.closing) throw new AuditError('PORTCULLIS_AUDIT_CLOSED')
    if (this.failure !== null) throw new AuditError('PORTCULLIS_AUDIT_UNAVAILABLE', ['a test', this.failure.message])
    const { record } = sealRecord(input, this.records.length + 1, new Date().toISOString(), this.records.at(-1)?.hash ?? GENESIS_HASH)
    this.records.push(record)
    return record
  }

  failWith (err: Error): void {
    this.failure = err
  }
}
