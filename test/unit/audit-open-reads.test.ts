// An auditor's reads through the API are limited in number (one bundle at a time, a few reads at once, whatever
// tokens they use; a few bundles for all auditors together), and a read whose reader may no longer read is ended.
import { EventEmitter } from 'node:events'
import type { Response } from 'express'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { OpenAuditReads, type EndedBy } from '../../src/admin/open-audit-reads.js'

/** Enough of a Response for the registry: destroy() closes it. */
class FakeResponse extends EventEmitter {
  destroyed = false
  destroy (): void {
    if (this.destroyed) return
    this.destroyed = true
    this.emit('close')
  }
}

const res = (): FakeResponse => new FakeResponse()
const asRes = (fake: FakeResponse): Response => fake as unknown as Response
const always = (): EndedBy | null => null

function admitOk (reads: OpenAuditReads, user: string, route: string, fake = res(), tokenId = `t-${user}`): { fake: FakeResponse, release: () => void } {
  const admitted = reads.admit({ user, tokenId }, route, asRes(fake))
  if (!admitted.ok) throw new Error(`expected ${user}'s ${route} to be admitted: ${admitted.error.message}`)
  return { fake, release: admitted.release }
}

describe('open audit reads', () => {
  it('one bundle at a time per auditor, with any token; refused with PORTCULLIS_AUDIT_READS_BUSY and a Retry-After', () => {
    const reads = new OpenAuditReads(always)
    admitOk(reads, 'dana', 'bundle', res(), 'token-1')
    const second = reads.admit({ user: 'dana', tokenId: 'token-2' }, 'bundle', asRes(res()))
    expect(second.ok).toBe(false)
    if (second.ok) return
    expect(second.error).toMatchObject({ code: 'PORTCULLIS_AUDIT_READS_BUSY', status: 429 })
    expect(second.error.retryAfterSeconds).toBeGreaterThan(0)
    expect(second.detail).toMatch(/dana already has a bundle in the making/)
    // Another auditor's bundle is theirs to make.
    admitOk(reads, 'erin', 'bundle')
  })

  it('at most two bundles for all auditors together', () => {
    const reads = new OpenAuditReads(always)
    admitOk(reads, 'dana', 'bundle')
    admitOk(reads, 'erin', 'bundle')
    const third = reads.admit({ user: 'fay', tokenId: null }, 'bundle', asRes(res()))
    expect(third.ok === false && third.detail).toMatch(/2 bundles are in the making for auditors/)
  })

  it('a bundle holds its place until both its handler returned and its response closed', () => {
    const reads = new OpenAuditReads(always)
    const first = admitOk(reads, 'dana', 'bundle')
    // The client left; the bundle is still being built.
    first.fake.destroy()
    expect(reads.admit({ user: 'dana', tokenId: null }, 'bundle', asRes(res())).ok).toBe(false)
    first.release()
    expect(reads.size).toBe(0)
    admitOk(reads, 'dana', 'bundle')
  })

  it('a follow holds its place after its handler returned, until its response closes', () => {
    const reads = new OpenAuditReads(always, { perAuditor: 2 })
    const a = admitOk(reads, 'dana', 'tail')
    a.release()
    admitOk(reads, 'dana', 'tail')
    expect(reads.admit({ user: 'dana', tokenId: null }, 'export', asRes(res())).ok).toBe(false)
    a.fake.destroy()
    admitOk(reads, 'dana', 'export')
  })

  it('a response already closed when admitted holds no place once released', () => {
    const reads = new OpenAuditReads(always)
    const gone = res()
    gone.destroy()
    admitOk(reads, 'dana', 'bundle', gone).release()
    expect(reads.size).toBe(0)
  })

  it('recheck ends every read of a reader who may no longer read, whatever the token, and says why', () => {
    const removed = new Set<string>()
    const reads = new OpenAuditReads((read) => removed.has(read.user) ? 'auditor-removed' : null)
    const one = reads.admit({ user: 'dana', tokenId: 'token-1' }, 'tail', asRes(res()))
    const two = reads.admit({ user: 'dana', tokenId: 'token-2' }, 'export', asRes(res()))
    const other = admitOk(reads, 'erin', 'tail')
    expect(reads.recheck()).toBe(0)
    removed.add('dana')
    expect(reads.recheck()).toBe(2)
    for (const admitted of [one, two]) {
      if (!admitted.ok) throw new Error('not admitted')
      expect(admitted.read.endedBy).toBe('auditor-removed')
    }
    expect(other.fake.destroyed).toBe(false)
    expect(reads.recheck()).toBe(0)
  })

  it('recheckOne ends a read admitted just before a reload took its reader out', () => {
    let auditor = true
    const reads = new OpenAuditReads(() => auditor ? null : 'auditor-removed')
    const fake = res()
    const admitted = reads.admit({ user: 'dana', tokenId: null }, 'tail', asRes(fake))
    if (!admitted.ok) throw new Error('not admitted')
    auditor = false
    expect(reads.recheckOne(admitted.read)).toBe(true)
    expect(fake.destroyed).toBe(true)
    expect(admitted.read.endedBy).toBe('auditor-removed')
  })

  it('a read is ended when its token expires', async () => {
    const reads = new OpenAuditReads(always)
    const fake = res()
    const admitted = reads.admit({ user: 'dana', tokenId: null, expiresAt: Date.now() }, 'tail', asRes(fake))
    await new Promise((resolve) => fake.once('close', resolve))
    expect(admitted.ok && admitted.read.endedBy).toBe('token-expired')
  })

  describe('a token that lives longer than one timer can wait (about 24.8 days)', () => {
    afterEach(() => { vi.useRealTimers() })

    it('its read goes on past the timer\'s longest wait, and ends when the token expires', () => {
      vi.useFakeTimers({ now: 0 })
      const reads = new OpenAuditReads(always)
      const fake = res()
      const day = 24 * 60 * 60 * 1000
      const admitted = reads.admit({ user: 'dana', tokenId: null, expiresAt: 60 * day }, 'tail', asRes(fake))
      vi.advanceTimersByTime(30 * day)
      expect(fake.destroyed).toBe(false)
      vi.advanceTimersByTime(30 * day)
      expect(fake.destroyed).toBe(true)
      expect(admitted.ok && admitted.read.endedBy).toBe('token-expired')
    })
  })
})
