// Checkpoint copies from the logs: found among other log lines, and compared with the records they sign.
import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { checkCheckpointCopies, readCheckpointCopies } from '../../src/audit/checkpoint-copies.js'
import { createCheckpoint } from '../../src/audit/checkpoint-format.js'
import { auditKeyId, type AuditSigningKey } from '../../src/audit/signing-key.js'

function key (): AuditSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { keyId: auditKeyId(publicKey), publicKey, privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), path: '/dev/null' }
}

const signer = key()
const hashes = new Map([[1, 'a'.repeat(64)], [2, 'b'.repeat(64)], [3, 'c'.repeat(64)]])
const at = (seq: number, hash = hashes.get(seq)!) => createCheckpoint(signer, { seq, hash }, new Date(`2026-11-23T10:0${seq}:00.000Z`))
const lookup = async (seq: number): Promise<string | null> => hashes.get(seq) ?? null

describe('readCheckpointCopies', () => {
  it('finds checkpoints in pino lines and plain lines, skips the rest, keeps one per seq, oldest first', () => {
    const log = [
      JSON.stringify({ level: 30, msg: 'portcullis is serving' }),
      JSON.stringify({ level: 30, checkpoint: at(2), msg: 'audit checkpoint' }),
      'not json "signature"',
      JSON.stringify(at(1)),
      JSON.stringify({ level: 30, checkpoint: at(2), msg: 'audit checkpoint' })
    ].join('\n')
    expect(readCheckpointCopies(log).map((c) => c.seq)).toEqual([1, 2])
  })
})

describe('checkCheckpointCopies', () => {
  it('holds when every copy matches its record and its signature', async () => {
    const report = await checkCheckpointCopies([at(1), at(3)], lookup, { keys: [signer] })
    expect(report).toMatchObject({ found: 2, checked: 2, signaturesChecked: true, last: { seq: 3 } })
    expect(report.firstBad).toBeUndefined()
  })

  it('names the range a rewrite is in when a record lost its signed hash', async () => {
    const rewritten = async (seq: number): Promise<string | null> => seq === 3 ? 'f'.repeat(64) : await lookup(seq)
    const report = await checkCheckpointCopies([at(1), at(3)], rewritten, { keys: [signer] })
    expect(report.firstBad).toMatchObject({ seq: 2, problem: 'checkpoint-mismatch' })
    expect(report.firstBad!.detail).toMatch(/somewhere in records 2 to 3/)
  })

  it('says records were removed when a signed record is gone', async () => {
    const report = await checkCheckpointCopies([at(3)], async (seq) => seq < 3 ? await lookup(seq) : null)
    expect(report.firstBad).toMatchObject({ seq: 3, problem: 'checkpoint-mismatch' })
    expect(report.signaturesChecked).toBe(false)
  })

  it('refuses a copy signed by another key, and skips copies of expired records', async () => {
    const other = key()
    const forged = createCheckpoint(other, { seq: 2, hash: hashes.get(2)! }, new Date('2026-11-23T10:02:00.000Z'))
    expect((await checkCheckpointCopies([forged], lookup, { keys: [signer] })).firstBad).toMatchObject({ problem: 'checkpoint-forged', seq: 2 })
    expect(await checkCheckpointCopies([at(1), at(2)], lookup, { keys: [signer], expiredUpTo: 1 })).toMatchObject({ expired: 1, checked: 1 })
  })
})
