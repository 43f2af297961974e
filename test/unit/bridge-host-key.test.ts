// The bridge's host key is made once and must always be readable: ssh2 writes about one ed25519 key in 256
// malformed (mscdex/ssh2#1513), and a host key that cannot be read stops `keys init` and `serve`.
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { ensureHostKey, readHostKey } from '../../src/bridge/host-key.js'
import { removeDirSync } from '../helpers/dockerd.js'

const scratch = mkdtempSync(path.join(os.tmpdir(), 'portcullis-host-key-'))
afterAll(() => removeDirSync(scratch))

it('makes a host key that reads back, every time (1,500 keys: a 1-in-256 fault would show about 6 times)', () => {
  for (let i = 0; i < 1500; i++) {
    const dir = path.join(scratch, String(i))
    const { key, created } = ensureHostKey(dir)
    expect(created).toBe(true)
    expect(readHostKey(dir).fingerprint).toBe(key.fingerprint)
  }
})

it('keeps the key it made: a second call reads it instead of making another', () => {
  const dir = path.join(scratch, 'kept')
  const first = ensureHostKey(dir)
  const second = ensureHostKey(dir)
  expect(second.created).toBe(false)
  expect(second.key.fingerprint).toBe(first.key.fingerprint)
})
