import { createHash, generateKeyPairSync, verify } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import type http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { adminJson } from '../../src/admin/client.js'
import { createAdminApp, listenAdmin } from '../../src/admin/server.js'
import { chainHash, withHash } from '../../src/audit/chain.js'
import { checkpointMessage, checkpointSignatureProblem, createCheckpoint, encodeCheckpoint, parseCheckpoint, type Checkpoint } from '../../src/audit/checkpoint-format.js'
import { readCheckpoints, signCheckpoint } from '../../src/audit/checkpoints.js'
import { CHECKPOINT_RANGE, HEAD_KEY, checkpointKey, encodeHead, recordKey } from '../../src/audit/keys.js'
import type { AuditRecord } from '../../src/audit/record.js'
import { AUDIT_PRIVATE_KEY_FILE, AUDIT_PUBLIC_KEY_FILE, auditKeyId, ensureAuditKey, parseAuditPublicKey, readAuditPublicKey, type AuditSigningKey } from '../../src/audit/signing-key.js'
import { AuditStore, auditDatabase } from '../../src/audit/store.js'
import { AuditUpkeep, checkpointDue } from '../../src/audit/upkeep.js'
import { verifyDir } from '../../src/audit/verify.js'
import { formatVerifyReport } from '../../src/cli/audit-checkpoints.js'
import { PolicySource } from '../../src/policy/source.js'
import { ManualClock } from '../fakes/clock.js'
import { tamper } from '../helpers/tamper.js'
import { waitUntil } from '../helpers/wait.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-checkpoints-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let count = 0
const fresh = (name: string): string => join(root, `${name}-${++count}`)

const { key } = ensureAuditKey(fresh('keys'))
const publicKeys = [key]

/** Another key, as an attacker holding write access to the store (but not the daemon's key) would make. */
function attackerKey (): AuditSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { keyId: auditKeyId(publicKey), publicKey, privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string, path: '' }
}

async function fill (store: AuditStore, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    await store.append({ kind: 'decision', user: `user${i % 3}`, action: 'container.start', project: 'web', resource: `c${i}`, decision: 'allow', reason: `call ${i}` })
  }
}

/** A closed store of `records` records with a checkpoint signed at each of `at`. */
async function storeWithCheckpoints (records: number, at: number[]): Promise<string> {
  const dir = fresh('store')
  const store = await AuditStore.open(dir)
  let filled = 0
  for (const seq of at) {
    await fill(store, filled + 1, seq)
    filled = seq
    await signCheckpoint(store, key)
  }
  await fill(store, filled + 1, records)
  await store.close()
  return dir
}


/** Edits record `from` and re-seals it and every record after it, head included: what someone who can write the
 * store, and knows how the chain is built, does to change history without breaking the chain. */
async function rewriteFrom (db: Level<string, string>, from: number): Promise<void> {
  let prevHash = (JSON.parse((await db.get(recordKey(from - 1)))!) as AuditRecord).hash
  let seq = from
  for (let raw = await db.get(recordKey(seq)); raw !== undefined; raw = await db.get(recordKey(++seq))) {
    const { hash: _old, ...body } = JSON.parse(raw) as AuditRecord
    if (seq === from) body.reason = 'nothing to see here'
    body.prevHash = prevHash
    const bodyText = JSON.stringify(body)
    prevHash = chainHash(prevHash, bodyText)
    await db.put(recordKey(seq), withHash(bodyText, prevHash))
  }
  await db.put(HEAD_KEY, encodeHead({ seq: seq - 1, hash: prevHash }))
}

async function storedCheckpoint (db: Level<string, string>, seq: number): Promise<Checkpoint> {
  return parseCheckpoint((await db.get(checkpointKey(seq)))!)!
}

describe('the signing key', () => {
  it('is made once, private 0600, and its ID is the first 16 hex of sha256 over the SPKI DER', () => {
    const dir = fresh('keys')
    const made = ensureAuditKey(dir)
    expect(made.created).toBe(true)
    expect(statSync(join(dir, AUDIT_PRIVATE_KEY_FILE)).mode & 0o777).toBe(0o600)
    const pem = readFileSync(join(dir, AUDIT_PUBLIC_KEY_FILE), 'utf8')
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----/)
    const der = parseAuditPublicKey(pem).publicKey.export({ type: 'spki', format: 'der' })
    expect(made.key.keyId).toBe(createHash('sha256').update(der).digest('hex').slice(0, 16))
    const again = ensureAuditKey(dir)
    expect(again.created).toBe(false)
    expect(again.key.keyId).toBe(made.key.keyId)
    expect(readAuditPublicKey(join(dir, AUDIT_PUBLIC_KEY_FILE)).keyId).toBe(made.key.keyId)
  })

  it('refuses a key file that is not an Ed25519 key', () => {
    const path = join(fresh('keys'), 'not-a-key.pub')
    rmSync(path, { force: true })
    expect(() => readAuditPublicKey(path)).toThrow(expect.objectContaining({ code: 'PORTCULLIS_AUDIT_KEY_MISSING' }))
  })
})

describe('a checkpoint', () => {
  it('is an Ed25519 signature over the documented message, checkable with node:crypto alone', () => {
    const checkpoint = createCheckpoint(key, { seq: 7, hash: 'ab'.repeat(32) }, new Date('2026-01-02T03:04:05.678Z'))
    expect(Object.keys(checkpoint)).toEqual(['seq', 'hash', 'time', 'keyId', 'signature'])
    const message = Buffer.from(`portcullis-checkpoint-v1\n7\n${'ab'.repeat(32)}\n2026-01-02T03:04:05.678Z`, 'utf8')
    expect(checkpointMessage(7, 'ab'.repeat(32), '2026-01-02T03:04:05.678Z')).toEqual(message)
    expect(verify(null, message, key.publicKey, Buffer.from(checkpoint.signature, 'base64'))).toBe(true)
    expect(checkpointSignatureProblem(checkpoint, publicKeys)).toBeNull()
    expect(parseCheckpoint(encodeCheckpoint(checkpoint))).toEqual(checkpoint)
  })

  it('fails when a field changes, when another key signed it, or when it claims our key ID', () => {
    const checkpoint = createCheckpoint(key, { seq: 7, hash: 'ab'.repeat(32) })
    expect(checkpointSignatureProblem({ ...checkpoint, hash: 'cd'.repeat(32) }, publicKeys)).toMatch(/does not match/)
    expect(checkpointSignatureProblem({ ...checkpoint, seq: 8 }, publicKeys)).toMatch(/does not match/)
    const other = attackerKey()
    expect(checkpointSignatureProblem(createCheckpoint(other, { seq: 7, hash: 'ab'.repeat(32) }), publicKeys)).toMatch(/not the audit key/)
    const impostor = { ...createCheckpoint(other, { seq: 7, hash: 'ab'.repeat(32) }), keyId: key.keyId }
    expect(checkpointSignatureProblem(impostor, publicKeys)).toMatch(/does not match/)
    expect(checkpointSignatureProblem({ ...checkpoint, signature: 'AAAA' }, publicKeys)).toMatch(/malformed/)
  })
})

describe('signCheckpoint', () => {
  it('signs the newest record, stores it under k!<seq> and logs it', async () => {
    const lines: string[] = []
    const logger = pino({}, { write: (line: string) => { lines.push(line) } })
    const store = await AuditStore.open(fresh('store'))
    await fill(store, 1, 5)
    const checkpoint = await signCheckpoint(store, key, { logger })
    expect(checkpoint).toMatchObject({ seq: 5, hash: store.head().hash, keyId: key.keyId })
    const logged = JSON.parse(lines[0]!) as { msg: string, checkpoint: Checkpoint }
    expect(logged.msg).toBe('audit checkpoint')
    expect(logged.checkpoint).toEqual(checkpoint)
    await fill(store, 6, 8)
    await signCheckpoint(store, key, { seq: 6 })
    const stored: Checkpoint[] = []
    for await (const c of readCheckpoints(auditDatabase(store))) stored.push(c)
    expect(stored.map((c) => c.seq)).toEqual([5, 6])
    await store.close()
  })

  it('refuses a record that does not exist', async () => {
    const store = await AuditStore.open(fresh('store'))
    await expect(signCheckpoint(store, key)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_NO_RECORD' })
    await fill(store, 1, 3)
    await expect(signCheckpoint(store, key, { seq: 4 })).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_NO_RECORD' })
    await expect(signCheckpoint(store, key, { seq: 0 })).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_NO_RECORD' })
    await store.close()
  })

  it('refuses to sign over a broken chain', async () => {
    const dir = await storeWithCheckpoints(12, [4])
    await tamper(dir, async (db) => {
      await db.put(recordKey(6), (await db.get(recordKey(6)))!.replace('call 6', 'call 9'))
    })
    const store = await AuditStore.open(dir)
    await expect(signCheckpoint(store, key)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_CHAIN_BROKEN', message: expect.stringContaining('broken at record 6') })
    await store.close()
  })
})

describe('verify with checkpoints', () => {
  it('checks every checkpoint and says which one the verdict rests on', async () => {
    const dir = await storeWithCheckpoints(25, [10, 20])
    const report = await verifyDir(dir, { publicKeys })
    expect(report).toMatchObject({ ok: true, records: 25, checkpoints: { checked: 2, signaturesChecked: true, last: { seq: 20, keyId: key.keyId } } })
    const text = formatVerifyReport(report)
    expect(text).toContain('audit chain intact: 25 records')
    expect(text).toMatch(/the verdict rests on checkpoint: record 20, signed at \S+ with key [0-9a-f]{16} \(2 checkpoints checked; the 5 records after it rest on the hash chain alone\)/)
  })

  it('without a key, still compares checkpoints with their records and says signatures were not checked', async () => {
    const dir = await storeWithCheckpoints(12, [10])
    const report = await verifyDir(dir)
    expect(report.checkpoints).toMatchObject({ checked: 1, signaturesChecked: false })
    expect(formatVerifyReport(report)).toContain('checkpoint signatures NOT checked')
  })

  it('names a checkpoint whose signature was tampered with', async () => {
    const dir = await storeWithCheckpoints(12, [5, 10])
    await tamper(dir, async (db) => {
      const checkpoint = await storedCheckpoint(db, 10)
      const signature = Buffer.from(checkpoint.signature, 'base64')
      signature[0] = signature[0]! ^ 1
      await db.put(checkpointKey(10), encodeCheckpoint({ ...checkpoint, signature: signature.toString('base64') }))
    })
    const report = await verifyDir(dir, { publicKeys })
    expect(report.ok).toBe(false)
    expect(report.firstBad).toMatchObject({ seq: 10, problem: 'checkpoint-forged', checkpoint: { seq: 10 } })
    expect(report.checkpoints?.last?.seq).toBe(5)
  })

  it('names a checkpoint made with another key', async () => {
    const dir = await storeWithCheckpoints(12, [10])
    const other = attackerKey()
    await tamper(dir, async (db) => {
      const record = JSON.parse((await db.get(recordKey(12)))!) as AuditRecord
      await db.put(checkpointKey(12), encodeCheckpoint(createCheckpoint(other, record)))
    })
    const report = await verifyDir(dir, { publicKeys })
    expect(report.firstBad).toMatchObject({ seq: 12, problem: 'checkpoint-forged', detail: expect.stringContaining(`names key ${other.keyId}`) })
  })

  it('catches a chain rewritten from record K on, hashes and all, that the chain alone calls intact', async () => {
    const dir = await storeWithCheckpoints(35, [10, 20, 30])
    await tamper(dir, async (db) => { await rewriteFrom(db, 15) })

    const report = await verifyDir(dir, { publicKeys })
    expect(report.ok).toBe(false)
    // The rewrite lies after the last good checkpoint (10) and at or before the first that no longer matches (20).
    expect(report.firstBad).toMatchObject({ seq: 11, problem: 'checkpoint-mismatch', checkpoint: { seq: 20 } })
    expect(report.firstBad!.detail).toContain('records 11 to 20')
    expect(report.checkpoints?.last?.seq).toBe(10)
    expect(formatVerifyReport(report)).toMatch(/BROKEN at seq 11: checkpoint-mismatch[\s\S]*the checkpoint in question: record 20[\s\S]*the last good checkpoint: record 10/)

    // The daemon will not sign the rewritten head either.
    const store = await AuditStore.open(dir)
    await expect(signCheckpoint(store, key)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_CHAIN_BROKEN' })
    await store.close()

    // Without its checkpoints, the rewritten chain verifies: the hash chain alone cannot tell.
    await tamper(dir, async (db) => { await db.clear(CHECKPOINT_RANGE) })
    expect(await verifyDir(dir, { publicKeys })).toMatchObject({ ok: true, records: 35 })
  })

  it('catches a rewrite whose checkpoints were re-signed with another key', async () => {
    const dir = await storeWithCheckpoints(25, [10, 20])
    const other = attackerKey()
    await tamper(dir, async (db) => {
      await rewriteFrom(db, 15)
      const record = JSON.parse((await db.get(recordKey(20)))!) as AuditRecord
      await db.put(checkpointKey(20), encodeCheckpoint(createCheckpoint(other, record)))
    })
    expect((await verifyDir(dir, { publicKeys })).firstBad).toMatchObject({ seq: 20, problem: 'checkpoint-forged' })
  })

  it('names a deleted record', async () => {
    const dir = await storeWithCheckpoints(12, [10])
    await tamper(dir, async (db) => { await db.del(recordKey(7)) })
    expect((await verifyDir(dir, { publicKeys })).firstBad).toMatchObject({ seq: 7, problem: 'gap' })
  })

  it('catches records cut from the end with the head moved back to match, once a checkpoint signed them', async () => {
    const dir = await storeWithCheckpoints(12, [12])
    await tamper(dir, async (db) => {
      const record11 = JSON.parse((await db.get(recordKey(11)))!) as AuditRecord
      await db.del(recordKey(12))
      await db.put(HEAD_KEY, encodeHead(record11))
    })
    const report = await verifyDir(dir, { publicKeys })
    expect(report.firstBad).toMatchObject({ seq: 12, problem: 'checkpoint-mismatch', checkpoint: { seq: 12 } })
    expect(report.firstBad!.detail).toContain('the chain ends at record 11')
  })
})

describe('the checkpoint cadence', () => {
  const quiet = { now: 1_000_000, lastAt: 1_000_000 - 60_000, intervalMs: 300_000, recordLimit: 10_000 }

  it('signs once the interval passed, when records came in', () => {
    expect(checkpointDue({ ...quiet, now: quiet.lastAt + 300_000, newRecords: 1 })).toBe(true)
    expect(checkpointDue({ ...quiet, now: quiet.lastAt + 299_999, newRecords: 1 })).toBe(false)
  })

  it('signs sooner once enough records came in (a busy host)', () => {
    expect(checkpointDue({ ...quiet, newRecords: 10_000 })).toBe(true)
    expect(checkpointDue({ ...quiet, newRecords: 9_999 })).toBe(false)
    expect(checkpointDue({ ...quiet, now: quiet.lastAt, newRecords: 20_000 })).toBe(true)
  })

  it('signs nothing when no record came in, however long ago the last one was', () => {
    expect(checkpointDue({ ...quiet, now: quiet.lastAt + 3_600_000, newRecords: 0 })).toBe(false)
  })
})

describe('the daemon', () => {
  it('signs well before the interval once checkpointRecords records came in', async () => {
    const store = await AuditStore.open(fresh('store'))
    const upkeep = new AuditUpkeep({ store, key, settings: () => ({ checkpointIntervalMs: 3_600_000, checkpointRecords: 50, retentionMs: null, verifyIntervalMs: 3_600_000 }), logger: pino({ enabled: false }) })
    upkeep.start()
    try {
      await fill(store, 1, 49)
      // "Nothing is signed before checkpointRecords" has no event: give the daemon 1.5 s in which it must not sign.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      const signed = async (): Promise<number[]> => {
        const seqs: number[] = []
        for await (const c of readCheckpoints(auditDatabase(store))) seqs.push(c.seq)
        return seqs
      }
      expect(await signed()).toEqual([])
      await fill(store, 50, 60)
      await waitUntil('a checkpoint signed after the 50th record', async () => (await signed()).length > 0, { timeoutMs: 5000, intervalMs: 100 })
      const seqs = await signed()
      expect(seqs.length).toBeGreaterThan(0)
      expect(seqs[0]).toBeGreaterThanOrEqual(50)
    } finally {
      await upkeep.close()
      await store.close()
    }
  })

  it('signs once checkpointInterval has passed on its clock, with no records more', async () => {
    const store = await AuditStore.open(fresh('store'))
    const clock = new ManualClock()
    const upkeep = new AuditUpkeep({ store, key, clock, settings: () => ({ checkpointIntervalMs: 3_600_000, checkpointRecords: 10_000, retentionMs: null, verifyIntervalMs: 3_600_000 }), logger: pino({ enabled: false }) })
    upkeep.start()
    try {
      await fill(store, 1, 3)
      clock.advance(3_600_000)
      await waitUntil('a checkpoint signed an hour (on its clock) after the start', async () => {
        for await (const c of readCheckpoints(auditDatabase(store))) return c.seq === 3
        return false
      }, { timeoutMs: 5000, intervalMs: 50 })
    } finally {
      await upkeep.close()
      await store.close()
    }
  })

  it('signs when records came in, not otherwise, and once more when it stops', async () => {
    const store = await AuditStore.open(fresh('store'))
    const upkeep = new AuditUpkeep({ store, key, settings: () => ({ checkpointIntervalMs: 60_000, checkpointRecords: 10_000, retentionMs: null, verifyIntervalMs: 3_600_000 }), logger: pino({ enabled: false }) })
    await fill(store, 1, 3)
    expect((await upkeep.checkpoint())?.seq).toBe(3)
    expect(await upkeep.checkpoint()).toBeNull()
    await fill(store, 4, 4)
    await upkeep.close()
    const stored: number[] = []
    for await (const c of readCheckpoints(auditDatabase(store))) stored.push(c.seq)
    expect(stored).toEqual([3, 4])
    await store.close()
  })

  it('signs and verifies through the admin socket', async () => {
    const store = await AuditStore.open(fresh('store'))
    await fill(store, 1, 4)
    const policyFile = join(fresh('policy'), 'policy.json')
    mkdirSync(join(policyFile, '..'))
    writeFileSync(policyFile, JSON.stringify({ version: 1, roles: { viewer: { allow: ['container.list'] } }, projects: {} }))
    const policy = new PolicySource(policyFile)
    const app = createAdminApp({ audit: store, policy, logger: pino({ enabled: false }), auditKey: key, startedAt: new Date(), version: 'test' })
    const socket = join(fresh('admin'), 'admin.sock')
    const server: http.Server = await listenAdmin(app, socket)
    try {
      const signed = await adminJson<Checkpoint>(socket, 'POST', '/v1/audit/checkpoint?seq=2')
      expect(signed.body).toMatchObject({ seq: 2, keyId: key.keyId })
      expect(checkpointSignatureProblem(signed.body, publicKeys)).toBeNull()
      expect((await adminJson<{ code: string }>(socket, 'POST', '/v1/audit/checkpoint?seq=99', [404])).body.code).toBe('PORTCULLIS_AUDIT_NO_RECORD')
      const report = await adminJson<{ ok: boolean, checkpoints: { checked: number } }>(socket, 'GET', '/v1/audit/verify')
      expect(report.body).toMatchObject({ ok: true, checkpoints: { checked: 1, signaturesChecked: true } })
      const expiry = await adminJson<{ cutoff: null, removed: null }>(socket, 'POST', '/v1/audit/expire?dryRun=true')
      expect(expiry.body).toMatchObject({ cutoff: null, removed: null, retention: null })
    } finally {
      await new Promise((resolve) => server.close(resolve))
      await store.close()
    }
  })
})
