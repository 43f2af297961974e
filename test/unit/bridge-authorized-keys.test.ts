import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import ssh2 from 'ssh2'
import type { ParsedKey } from 'ssh2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuthorizedKeyError, KeyRing, parseAuthorizedKey } from '../../src/ssh/authorized-keys.js'

interface KeyPair { pub: string, priv: ParsedKey }

const dir = mkdtempSync(join(tmpdir(), 'portcullis-keys-'))
const keys: Record<string, KeyPair> = {}

function keygen (name: string, ...args: string[]): KeyPair {
  const file = join(dir, name)
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', `${name}@test`, '-f', file, ...args])
  const priv = ssh2.utils.parseKey(readFileSync(file))
  if (priv instanceof Error) throw priv
  return { pub: readFileSync(`${file}.pub`, 'utf8').trim(), priv }
}

function wire (pub: string): { algo: string, data: Buffer } {
  const [algo = '', base64 = ''] = pub.split(' ')
  return { algo, data: Buffer.from(base64, 'base64') }
}

function sign (key: ParsedKey, data: Buffer, hash?: string): Buffer {
  const signature = key.sign(data, hash)
  if (signature instanceof Error) throw signature
  return signature
}

beforeAll(() => {
  keys.ed25519 = keygen('ed25519', '-t', 'ed25519')
  keys.ecdsa256 = keygen('ecdsa256', '-t', 'ecdsa', '-b', '256')
  keys.ecdsa384 = keygen('ecdsa384', '-t', 'ecdsa', '-b', '384')
  keys.ecdsa521 = keygen('ecdsa521', '-t', 'ecdsa', '-b', '521')
  keys.rsa = keygen('rsa', '-t', 'rsa', '-b', '2048')
  keys.other = keygen('other', '-t', 'ed25519')
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

function problemOf (line: string): { problem: string, message: string } {
  try {
    parseAuthorizedKey(line)
  } catch (err) {
    expect(err).toBeInstanceOf(AuthorizedKeyError)
    return { problem: (err as AuthorizedKeyError).problem, message: (err as Error).message }
  }
  throw new Error(`expected "${line}" to be refused`)
}

describe('parseAuthorizedKey', () => {
  it.each([
    ['ed25519', 'ssh-ed25519'],
    ['ecdsa256', 'ecdsa-sha2-nistp256'],
    ['ecdsa384', 'ecdsa-sha2-nistp384'],
    ['ecdsa521', 'ecdsa-sha2-nistp521'],
    ['rsa', 'ssh-rsa']
  ])('reads an ssh-keygen %s .pub line', (name, type) => {
    const key = parseAuthorizedKey(keys[name]!.pub)
    expect(key.type).toBe(type)
    expect(key.comment).toBe(`${name}@test`)
    expect(key.options).toEqual([])
    expect(key.publicSSH.equals(wire(keys[name]!.pub).data)).toBe(true)
  })

  it('reads a line without a comment, and a comment with spaces', () => {
    const [type, base64] = keys.ed25519!.pub.split(' ')
    expect(parseAuthorizedKey(`${type} ${base64}`).comment).toBe('')
    expect(parseAuthorizedKey(`  ${type}\t${base64}   alice on her laptop  `).comment).toBe('alice on her laptop')
  })

  it('keeps the options before the key, and what they mean', () => {
    const line = `from="10.0.0.0/8,192.168.1.1",no-pty,NO-Agent-Forwarding,command="echo \\"hi there\\"",expiry-time="20300101Z" ${keys.rsa!.pub}`
    const key = parseAuthorizedKey(line)
    expect(key.type).toBe('ssh-rsa')
    expect(key.comment).toBe('rsa@test')
    expect(key.options).toEqual([
      { name: 'from', value: '10.0.0.0/8,192.168.1.1' },
      { name: 'no-pty' },
      { name: 'no-agent-forwarding' },
      { name: 'command', value: 'echo "hi there"' },
      { name: 'expiry-time', value: '20300101Z' }
    ])
    expect(key.restrictions).toMatchObject({ command: 'echo "hi there"', pty: false, expiresAt: Date.UTC(2030, 0, 1) })
    expect(key.restrictions.from?.text).toBe('10.0.0.0/8,192.168.1.1')
  })

  it('refuses a line with an option the bridge would not carry out, instead of ignoring it', () => {
    const refused = problemOf(`no-pty,environment="A=b c" ${keys.ed25519!.pub}`)
    expect(refused.problem).toBe('unsupported-option')
    expect(refused.message).toMatch(/environment is not supported/)
    expect(problemOf(`from="*.example.com" ${keys.ed25519!.pub}`).message).toMatch(/does not look up host names/)
  })

  it('refuses a private key pasted by mistake without echoing any of it', () => {
    const privateKey = readFileSync(join(dir, 'ed25519'), 'utf8')
    const body = privateKey.split('\n')[1]!
    for (const pasted of [privateKey, privateKey.replace(/\n/g, ' '), body, '-----BEGIN RSA PRIVATE KEY----- MIIEow...']) {
      const refused = problemOf(pasted)
      expect(refused.problem).toBe('private-key')
      expect(refused.message).toMatch(/PRIVATE key: never put it in the policy.*make a new key pair/)
      expect(refused.message).not.toContain(body.slice(0, 12))
    }
  })

  it('refuses PEM and RFC 4716 public keys with the command that converts them, and two keys in one entry', () => {
    expect(problemOf('-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----').message).toMatch(/ssh-keygen -i -m PKCS8/)
    expect(problemOf('---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----').message).toMatch(/RFC 4716/)
    expect(problemOf(`${keys.ed25519!.pub}\n${keys.other!.pub}`).message).toMatch(/more than one line/)
  })

  it('refuses DSA, security keys and certificates with the reason', () => {
    const dsa = problemOf('ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4Ed dsa@old')
    expect(dsa.problem).toBe('refused-type')
    expect(dsa.message).toMatch(/DSA.*ssh-keygen -t ed25519/)
    expect(problemOf('sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t').message).toMatch(/security-key/)
    expect(problemOf('no-pty ssh-ed25519-cert-v01@openssh.com AAAA').message).toMatch(/certificates are not supported/)
  })

  it('refuses unknown types, naming the supported ones', () => {
    const blob = Buffer.alloc(4 + 8)
    blob.writeUInt32BE(8, 0)
    blob.write('ssh-fake', 4)
    const unknown = problemOf(`ssh-fake ${blob.toString('base64')} x`)
    expect(unknown.problem).toBe('unknown-type')
    expect(unknown.message).toContain('ssh-ed25519, ecdsa-sha2-nistp256')
    expect(problemOf('no-pty ssh-foo AAAA').problem).toBe('unknown-type')
  })

  it('refuses damaged key data', () => {
    const [type = '', base64 = ''] = keys.ed25519!.pub.split(' ')
    expect(problemOf(`${type} ${base64.slice(0, 20)}`).problem).toBe('bad-key-data')
    expect(problemOf(`${type} ${base64.slice(0, -4)}!!!!`).problem).toBe('bad-key-data')
    // Trailing bytes after a valid key.
    const longer = Buffer.concat([Buffer.from(base64, 'base64'), Buffer.from([0, 0, 0])]).toString('base64')
    expect(problemOf(`${type} ${longer}`).problem).toBe('bad-key-data')
    // The line says nistp256 but holds a nistp384 key: a blob type mismatch.
    const p384 = keys.ecdsa384!.pub.split(' ')[1]
    expect(problemOf(`ecdsa-sha2-nistp256 ${p384}`).problem).toBe('bad-key-data')
    // An ed25519 key under the rsa name.
    expect(problemOf(`ssh-rsa ${base64}`).message).toMatch(/not valid base64 of a ssh-rsa key/)
  })

  it('refuses empty lines, comments, bad options and a missing key', () => {
    expect(problemOf('').problem).toBe('empty')
    expect(problemOf('   # ssh-ed25519 AAAA').problem).toBe('empty')
    expect(problemOf(`from="10.0.0.1 ${keys.ed25519!.pub}`).problem).toBe('bad-options')
    expect(problemOf(`from=10.0.0.1 ${keys.ed25519!.pub}`).message).toMatch(/must be in double quotes/)
    expect(problemOf(`no-pty,,no-X11 ${keys.ed25519!.pub}`).problem).toBe('bad-options')
    expect(problemOf(`no-pty, ${keys.ed25519!.pub}`).problem).toBe('bad-options')
    expect(problemOf('no-pty').problem).toBe('missing-key')
    expect(problemOf('no-pty ssh-ed25519').problem).toBe('missing-key')
    expect(problemOf('ssh-ed25519').problem).toBe('missing-key')
  })
})

describe('KeyRing', () => {
  function ring (): KeyRing {
    return new KeyRing({
      alice: { sshKeys: [keys.ed25519!.pub, 'ssh-dss AAAA old', `no-pty ${keys.ecdsa256!.pub}`, keys.rsa!.pub, 'garbage'] },
      bob: { sshKeys: [keys.other!.pub, keys.ecdsa384!.pub, keys.ecdsa521!.pub] },
      carol: {},
      dave: undefined
    })
  }

  it('keeps the good keys and reports the bad lines instead of throwing', () => {
    const r = ring()
    expect(r.keysOf('alice').map((k) => k.type)).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa'])
    expect(r.keysOf('carol')).toEqual([])
    expect(r.keysOf('nobody')).toEqual([])
    expect(r.invalid).toEqual([
      { user: 'alice', index: 1, message: expect.stringMatching(/DSA/) },
      { user: 'alice', index: 4, message: expect.stringMatching(/garbage/) }
    ])
  })

  it('matches a key by type and blob, for its own user only', () => {
    const r = ring()
    const { algo, data } = wire(keys.ecdsa256!.pub)
    expect(r.match('alice', algo, data)?.options).toEqual([{ name: 'no-pty' }])
    expect(r.match('bob', algo, data)).toBeNull()
    expect(r.match('alice', 'ssh-ed25519', data)).toBeNull()
    expect(r.match('alice', algo, data.subarray(1))).toBeNull()
    expect(r.match('nobody', algo, data)).toBeNull()
  })

  const blob = Buffer.from('session id + userauth request')

  it.each([['ed25519', 'alice'], ['ecdsa256', 'alice'], ['ecdsa384', 'bob'], ['ecdsa521', 'bob'], ['other', 'bob']])(
    'verifies a %s signature and refuses the wrong data or user',
    (name, user) => {
      const r = ring()
      const key = wire(keys[name]!.pub)
      const signature = sign(keys[name]!.priv, blob)
      expect(r.verify(user, { key, signature, blob })).toBe(true)
      expect(r.verify(user, { key, signature, blob: Buffer.from('another session') })).toBe(false)
      expect(r.verify(user === 'alice' ? 'bob' : 'alice', { key, signature, blob })).toBe(false)
      // A matching key is not enough: no signature (ssh2's key query) or a garbage one fails.
      expect(r.verify(user, { key })).toBe(false)
      expect(r.verify(user, { key, signature: Buffer.alloc(64, 1), blob })).toBe(false)
    }
  )

  it('authenticate: a proven key whose options refuse the login comes back refused, with the option', () => {
    const restricted = new KeyRing({ alice: { sshKeys: [`from="10.9.9.9",command="/bin/false" ${keys.ed25519!.pub}`, `expiry-time="20200101Z" ${keys.ecdsa256!.pub}`] } })
    const attempt = (name: string) => ({ key: wire(keys[name]!.pub), signature: sign(keys[name]!.priv, blob), blob })
    expect(restricted.authenticate('alice', attempt('ed25519'), '127.0.0.1', Date.now())).toMatchObject({
      outcome: 'refused', refusal: { option: 'from', value: 'from="10.9.9.9"', detail: 'the key may not log in from 127.0.0.1' }
    })
    expect(restricted.authenticate('alice', attempt('ed25519'), '10.9.9.9', Date.now())).toMatchObject({ outcome: 'accepted', key: { restrictions: { command: '/bin/false' } } })
    expect(restricted.authenticate('alice', attempt('ecdsa256'), '127.0.0.1', Date.now())).toMatchObject({ outcome: 'refused', refusal: { option: 'expiry-time' } })
    // Without a valid signature nothing is said about the key's options: a public key is public.
    expect(restricted.authenticate('alice', { key: wire(keys.ed25519!.pub), signature: Buffer.alloc(64, 1), blob }, '127.0.0.1', Date.now())).toEqual({ outcome: 'unproven' })
    expect(restricted.authenticate('bob', attempt('ed25519'), '10.9.9.9', Date.now())).toEqual({ outcome: 'unproven' })
  })

  it('authenticate: with the same key on several lines, the first line whose options allow the login holds, as in sshd', () => {
    const r = new KeyRing({ alice: { sshKeys: [`from="10.0.0.0/8",command="echo inside" ${keys.ed25519!.pub}`, `command="echo elsewhere" ${keys.ed25519!.pub}`] } })
    const attempt = { key: wire(keys.ed25519!.pub), signature: sign(keys.ed25519!.priv, blob), blob }
    expect(r.authenticate('alice', attempt, '10.1.1.1', Date.now())).toMatchObject({ outcome: 'accepted', key: { restrictions: { command: 'echo inside' } } })
    expect(r.authenticate('alice', attempt, '127.0.0.1', Date.now())).toMatchObject({ outcome: 'accepted', key: { restrictions: { command: 'echo elsewhere' } } })
  })

  it('refuses a signature made by another key presented with a listed public key', () => {
    const r = ring()
    const signature = sign(keys.other!.priv, blob)
    expect(r.verify('alice', { key: wire(keys.ed25519!.pub), signature, blob })).toBe(false)
  })

  it('verifies rsa-sha2-256/512 signatures and refuses SHA-1 ones', () => {
    const r = ring()
    const key = wire(keys.rsa!.pub)
    expect(r.verify('alice', { key, blob, signature: sign(keys.rsa!.priv, blob, 'sha256'), hashAlgo: 'sha256' })).toBe(true)
    expect(r.verify('alice', { key, blob, signature: sign(keys.rsa!.priv, blob, 'sha512'), hashAlgo: 'sha512' })).toBe(true)
    // The hash must be the one the signature was made with.
    expect(r.verify('alice', { key, blob, signature: sign(keys.rsa!.priv, blob, 'sha256'), hashAlgo: 'sha512' })).toBe(false)
    // Plain ssh-rsa (SHA-1): refused even though the signature is valid.
    const sha1 = sign(keys.rsa!.priv, blob, 'sha1')
    expect(keys.rsa!.priv.verify(blob, sha1, 'sha1')).toBe(true)
    expect(r.verify('alice', { key, blob, signature: sha1 })).toBe(false)
    expect(r.verify('alice', { key, blob, signature: sha1, hashAlgo: 'sha1' })).toBe(false)
    expect(r.verify('bob', { key, blob, signature: sign(keys.rsa!.priv, blob, 'sha256'), hashAlgo: 'sha256' })).toBe(false)
  })
})

// The shape KeyRing.verify expects is what ssh2's server hands over: prove it with ssh2's own client and server
// on the loopback interface, which also covers the SSH-to-DER signature conversion for ECDSA.
describe('KeyRing with a real ssh2 server', () => {
  async function login (user: string, keyName: string, r: KeyRing): Promise<boolean> {
    const hostKey = readFileSync(join(dir, 'other'))
    const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
      client.on('authentication', (ctx) => {
        if (ctx.method !== 'publickey') return ctx.reject(['publickey'])
        if (ctx.signature === undefined) return r.match(ctx.username, ctx.key.algo, ctx.key.data) !== null ? ctx.accept() : ctx.reject()
        return r.verify(ctx.username, ctx) ? ctx.accept() : ctx.reject()
      })
      client.on('error', () => {})
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    try {
      return await new Promise<boolean>((resolve) => {
        const conn = new ssh2.Client()
        conn.on('ready', () => { conn.end(); resolve(true) })
        conn.on('error', () => resolve(false))
        conn.connect({ host: '127.0.0.1', port, username: user, privateKey: readFileSync(join(dir, keyName)), readyTimeout: 5000 })
      })
    } finally {
      server.close()
    }
  }

  it.each([['ed25519', 'alice'], ['ecdsa256', 'alice'], ['rsa', 'alice'], ['ecdsa521', 'bob']])('logs in with %s', async (name, user) => {
    const r = new KeyRing({ alice: { sshKeys: [keys.ed25519!.pub, keys.ecdsa256!.pub, keys.rsa!.pub] }, bob: { sshKeys: [keys.ecdsa521!.pub] } })
    expect(await login(user, name, r)).toBe(true)
  })

  it('refuses a key listed for another user', async () => {
    const r = new KeyRing({ alice: { sshKeys: [keys.ed25519!.pub] }, bob: { sshKeys: [keys.ecdsa521!.pub] } })
    expect(await login('bob', 'ed25519', r)).toBe(false)
  })
})
