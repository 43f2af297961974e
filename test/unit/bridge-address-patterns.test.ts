// from="pattern-list" as sshd reads it with UseDNS no (OpenSSH match.c and addrmatch.c).
import { describe, expect, it } from 'vitest'
import { addressAllowed, clientAddress, parseAddressPatterns, wildcardMatch } from '../../src/ssh/address-patterns.js'

const allows = (list: string, address: string): boolean => addressAllowed(parseAddressPatterns(list), address)
const problem = (list: string): string => {
  try {
    parseAddressPatterns(list)
  } catch (err) {
    return (err as Error).message
  }
  throw new Error(`expected from="${list}" to be refused`)
}

describe('from= pattern lists', () => {
  it('a literal address matches only itself', () => {
    expect(allows('10.9.9.9', '10.9.9.9')).toBe(true)
    expect(allows('10.9.9.9', '127.0.0.1')).toBe(false)
    expect(allows('::1', '::1')).toBe(true)
    expect(allows('0:0::1', '::1')).toBe(true)
  })

  it('a CIDR range matches the addresses inside it, IPv4 and IPv6, and never the other family', () => {
    expect(allows('10.0.0.0/8', '10.200.3.4')).toBe(true)
    expect(allows('10.0.0.0/8', '11.0.0.1')).toBe(false)
    expect(allows('127.0.0.0/8', '127.0.0.1')).toBe(true)
    expect(allows('fd00::/8', 'fd12:3456::1')).toBe(true)
    expect(allows('fd00::/8', 'fe80::1')).toBe(false)
    expect(allows('0.0.0.0/0', '::1')).toBe(false)
    expect(allows('::/0', '10.0.0.1')).toBe(false)
    expect(allows('0.0.0.0/0', '203.0.113.9')).toBe(true)
  })

  it('* and ? wildcards match the address text', () => {
    expect(allows('127.0.0.*', '127.0.0.1')).toBe(true)
    expect(allows('10.1.?.1', '10.1.7.1')).toBe(true)
    expect(allows('10.1.?.1', '10.1.17.1')).toBe(false)
    expect(allows('*', '192.0.2.1')).toBe(true)
    expect(allows('FE80::*', 'fe80::1')).toBe(true)
  })

  it('a negated entry that matches refuses, even when another entry matches (before or after it)', () => {
    expect(allows('!127.0.0.1,127.0.0.0/8', '127.0.0.1')).toBe(false)
    expect(allows('127.0.0.0/8,!127.0.0.1', '127.0.0.1')).toBe(false)
    expect(allows('*,!10.0.0.0/8', '10.1.1.1')).toBe(false)
    expect(allows('*,!10.0.0.0/8', '192.0.2.1')).toBe(true)
    expect(allows('!10.*,127.*', '127.0.0.1')).toBe(true)
  })

  it('a list of negations alone allows nothing: some entry must match', () => {
    expect(allows('!10.0.0.0/8', '127.0.0.1')).toBe(false)
  })

  it('an IPv4 client on a dual-stack socket is matched as its IPv4 address', () => {
    expect(clientAddress('::ffff:127.0.0.1')).toBe('127.0.0.1')
    expect(allows('127.0.0.1', '::ffff:127.0.0.1')).toBe(true)
    expect(allows('!127.0.0.1,*', '::FFFF:127.0.0.1')).toBe(false)
  })

  it('a link-local client with a zone ID (fe80::1%eth0, as Node reports it) is matched by its address: a negated range still refuses it', () => {
    expect(allows('!fe80::/10,*', 'fe80::1%eth0')).toBe(false)
    expect(allows('fe80::/10', 'fe80::1%eth0')).toBe(true)
    expect(allows('fe80::1', 'fe80::1%2')).toBe(true)
    expect(allows('!fe80::1,*', 'fe80::1%eth0')).toBe(false)
    expect(allows('fd00::/8', 'fe80::1%eth0')).toBe(false)
  })

  it('refuses IPv4-mapped IPv6 entries, which never match (IPv4 clients are compared as IPv4), naming the IPv4 form', () => {
    expect(problem('!::ffff:10.9.9.9,*')).toContain('write 10.9.9.9')
    expect(problem('::FFFF:a09:909')).toContain('write 10.9.9.9')
    expect(problem('0:0:0:0:0:ffff:10.9.0.0/112')).toContain('write 10.9.0.0/16')
    expect(allows('!10.9.9.9,*', '::ffff:10.9.9.9')).toBe(false)
    // Other IPv6 ranges that merely contain the mapped block are plain IPv6 ranges, as in sshd.
    expect(allows('::/0', '2001:db8::1')).toBe(true)
  })

  it('refuses host names: portcullis resolves none, so they could never match', () => {
    expect(problem('*.example.com')).toMatch(/not an address, a CIDR range or an address wildcard.*does not look up host names/)
    expect(problem('10.0.0.0/8,!bastion')).toMatch(/"bastion"/)
    expect(problem('localhost')).toMatch(/"localhost"/)
  })

  it('refuses what sshd would reject at login time, so no key is silently unusable', () => {
    expect(problem('10.0.0.1/8')).toMatch(/host bits set/)
    expect(problem('10.0.0.0/33')).toMatch(/bad prefix length/)
    expect(problem('10.0.0.0,')).toMatch(/empty entry/)
    expect(problem('!')).toMatch(/empty entry/)
    expect(problem('10.0.0.0/x')).toMatch(/bad prefix length/)
  })
})

describe('OpenSSH match_pattern', () => {
  it.each([
    ['abc', 'abc', true], ['abc', 'a*', true], ['abc', '*c', true], ['abc', 'a?c', true], ['abc', '?', false],
    ['', '*', true], ['', '', true], ['a', '', false], ['aaa', '*a*a*a*', true], ['aa', '*a*a*a*', false]
  ])('%j against %j is %s', (text, pattern, expected) => {
    expect(wildcardMatch(text, pattern)).toBe(expected)
  })

  it('takes linear time on patterns that make backtracking matchers explode', () => {
    expect(wildcardMatch('a'.repeat(5000), '*a'.repeat(100) + 'b')).toBe(false)
  })
})
