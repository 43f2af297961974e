// The syslog outputs build each record's message from cached parts: it must be, byte for byte, the message the
// general RFC 5424 formatter gives for the same record, whatever the record holds.
import { describe, expect, it } from 'vitest'
import { sealRecord } from '../../src/audit/chain.js'
import type { StoredRecord } from '../../src/audit/query.js'
import type { AuditInput } from '../../src/audit/record.js'
import { RecordFrames, recordSeverity } from '../../src/siem/record-frames.js'
import { formatSyslog, frameOctetCounted } from '../../src/siem/syslog-format.js'

function stored (input: AuditInput, seq: number, time = '2026-12-06T10:11:12.345Z'): StoredRecord {
  return sealRecord(input, seq, time, 'a'.repeat(64))
}

/** What the general formatter makes of a record. */
function expected (row: StoredRecord, hostname: string, procId: number): string {
  const { record } = row
  return formatSyslog({
    facility: 'local3',
    severity: recordSeverity(record),
    time: new Date(record.time),
    hostname,
    procId,
    msgId: record.kind,
    data: { seq: record.seq, hash: record.hash, prevHash: record.prevHash, kind: record.kind, decision: record.decision ?? undefined },
    message: row.text
  })
}

const rows: StoredRecord[] = [
  stored({ kind: 'decision', user: 'alice', action: 'container.exec', decision: 'allow', reason: 'ok' }, 1),
  stored({ kind: 'decision', user: 'bob', action: 'container.create', decision: 'deny', reason: 'no "privileged" ] \\ here' }, 2),
  stored({ kind: 'system', action: 'alert.disk-low', reason: 'low', fields: { severity: 'crit' } }, 3),
  stored({ kind: 'session', user: '漢字 ü', action: 'session.start', reason: 'a line\nbreak and 😀' }, 4),
  stored({ kind: 'decision', decision: 'allow', reason: 'time written another way' }, 5, '2026-12-06T10:11:12Z'),
  stored({ kind: 'decision', decision: 'allow', reason: 'a day that does not exist' }, 6, '2026-02-30T10:11:12.345Z')
]

describe('RecordFrames', () => {
  const frames = new RecordFrames('local3', 'host-1.example', 4242)

  it('builds each record\'s message exactly as the general formatter does', () => {
    for (const row of rows.slice(0, 5)) expect(frames.message(row)).toBe(expected(row, 'host-1.example', 4242))
  })

  it('passes a time in the stored form through as written, as the store wrote it', () => {
    expect(frames.message(rows[5]!)).toContain(' 2026-02-30T10:11:12.345Z ')
  })

  it('cleans a hostname as the formatter does', () => {
    const odd = new RecordFrames('local3', 'host with spaces', 1)
    expect(odd.message(rows[0]!)).toBe(expected(rows[0]!, 'host with spaces', 1))
  })

  it('frames a batch as the octet-counted frames of its messages, one after another', () => {
    const batch = rows.slice(0, 5)
    expect(frames.frames(batch).equals(Buffer.concat(batch.map((row) => frameOctetCounted(expected(row, 'host-1.example', 4242)))))).toBe(true)
    expect(frames.frames([])).toHaveLength(0)
  })
})
