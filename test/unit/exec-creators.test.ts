import { describe, expect, it } from 'vitest'
import { createdExecId, ExecCreators, withExecCreator } from '../../src/authz/exec-creators.js'
import { isCreator } from '../../src/core/exec-rules.js'

const id = (n: number): string => n.toString(16).padStart(64, '0')
const alice = { user: 'alice', method: 'jwt' as const }

describe('the exec creator registry', () => {
  it('remembers who created an exec, and a bridge session with it', () => {
    const creators = new ExecCreators()
    creators.remember(id(1), alice)
    creators.remember(id(2), { user: 'alice', method: 'bridge', session: 's-1' })
    expect(creators.creatorOf(id(1))).toEqual({ user: 'alice' })
    expect(creators.creatorOf(id(2))).toEqual({ user: 'alice', session: 's-1' })
    expect(creators.creatorOf(id(3))).toBeNull()
  })

  it('keeps the first creator of an ID and ignores what is not a full exec ID', () => {
    const creators = new ExecCreators()
    creators.remember(id(1), alice)
    creators.remember(id(1), { user: 'mallory', method: 'jwt' })
    creators.remember('abc', alice)
    expect(creators.creatorOf(id(1))).toEqual({ user: 'alice' })
    expect(creators.size).toBe(1)
  })

  it('a caller that makes too many forgets its own oldest execs, not other users\'', () => {
    const creators = new ExecCreators({ maxPerUser: 3, maxEntries: 100 })
    creators.remember(id(100), { user: 'bob', method: 'jwt' })
    for (let i = 1; i <= 10; i++) creators.remember(id(i), { user: 'mallory', method: 'jwt' })
    expect(creators.creatorOf(id(100))).toEqual({ user: 'bob' })
    expect(creators.creatorOf(id(1))).toBeNull()
    expect(creators.creatorOf(id(10))).toEqual({ user: 'mallory' })
    expect(creators.size).toBe(4)
  })

  it('is bounded in all, oldest first', () => {
    const creators = new ExecCreators({ maxPerUser: 100, maxEntries: 5 })
    for (let i = 1; i <= 8; i++) creators.remember(id(i), { user: `u${i}`, method: 'jwt' })
    expect(creators.size).toBe(5)
    expect(creators.creatorOf(id(3))).toBeNull()
    expect(creators.creatorOf(id(4))).toEqual({ user: 'u4' })
  })

  it('reads the exec ID from a 201 answer only', () => {
    const body = Buffer.from(JSON.stringify({ Id: id(7) })).toString('base64')
    expect(createdExecId(201, body)).toBe(id(7))
    expect(createdExecId(200, body)).toBeNull()
    expect(createdExecId(201, Buffer.from('{"Id":"short"}').toString('base64'))).toBeNull()
    expect(createdExecId(201, 'not base64 json')).toBeNull()
    expect(createdExecId(201, null)).toBeNull()
  })

  it('fills the creator into a copy of the resolved exec', () => {
    const creators = new ExecCreators()
    creators.remember(id(1), alice)
    const target = { ref: { kind: 'exec' as const, ref: id(1) }, exists: true, id: id(1), project: 'p', exec: { cmd: ['ls'], tty: false, stdin: false, privileged: false, user: '' } }
    const out = withExecCreator({ target, references: [] }, creators)
    expect(out.target?.exec?.creator).toEqual({ user: 'alice' })
    expect(target.exec).not.toHaveProperty('creator')
  })

  it('the creator is the same user in the same bridge session (or none on both sides)', () => {
    expect(isCreator({ user: 'alice' }, { user: 'alice' })).toBe(true)
    expect(isCreator({ user: 'alice' }, { user: 'bob' })).toBe(false)
    expect(isCreator({ user: 'alice', session: 's-1' }, { user: 'alice' })).toBe(false)
    expect(isCreator({ user: 'alice', session: 's-1' }, { user: 'alice', session: 's-2' })).toBe(false)
    expect(isCreator({ user: 'alice', session: 's-1' }, { user: 'alice', session: 's-1' })).toBe(true)
    expect(isCreator(null, { user: 'alice' })).toBe(false)
    expect(isCreator({ user: null }, { user: null })).toBe(false)
  })
})
