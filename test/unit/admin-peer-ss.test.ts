// The admin socket's peer is read from `ss -x -p -H` (src/admin/peer.ts): the parser finds each socket's inode, its
// peer's inode and the processes holding it, whatever the processes call themselves. A process picks its own name
// (prctl), so a name that spells a fake holder must never outrank the kernel: holders are only candidates, each
// checked against /proc before it counts (resolvePeer, tested end to end in test/e2e/audit-access-recorded.test.ts).
import net from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { clientLine, parseSsUnix, resolvePeer } from '../../src/admin/peer.js'

describe('parseSsUnix', () => {
  it('reads the inodes and the holder of an unnamed client socket', () => {
    const lines = parseSsUnix('u_str ESTAB 0      0                 * 4955 * 4956 users:(("node",pid=2082,fd=20))\n')
    expect(lines).toEqual([{ inode: 4955, peerInode: 4956, holders: [{ name: 'node', pid: 2082, fd: 20 }] }])
  })

  it('reads a socket with a path, no holders visible, and the <-> ss prints', () => {
    const lines = parseSsUnix([
      'u_str ESTAB 0      0      /run/portcullis/admin.sock 40074 * 40073 users:(("node",pid=15205,fd=20)) <-> ino:2146476 dev:0/65024',
      'u_str ESTAB 0      0                 * 40073 * 40074 <->                                                         '
    ].join('\n'))
    expect(lines).toEqual([
      { inode: 40074, peerInode: 40073, holders: [{ name: 'node', pid: 15205, fd: 20 }] },
      { inode: 40073, peerInode: 40074, holders: [] }
    ])
  })

  it('keeps names with spaces, parentheses, commas and quotes, and every holder of a shared socket', () => {
    const line = 'u_str ESTAB 0 0 * 7001 * 7002 users:(("my (tool), v2",pid=10,fd=3),("say \\"hi\\"",pid=11,fd=4),("x",pid=12,fd=5))'
    expect(parseSsUnix(line)).toEqual([{
      inode: 7001,
      peerInode: 7002,
      holders: [{ name: 'my (tool), v2', pid: 10, fd: 3 }, { name: 'say \\"hi\\"', pid: 11, fd: 4 }, { name: 'x', pid: 12, fd: 5 }]
    }])
  })

  it('a name that spells a fake holder yields an extra candidate, and the real one is still there', () => {
    // comm `a",pid=1,fd=0)` (14 bytes) tries to pass for pid 1.
    const holders = parseSsUnix('u_str ESTAB 0 0 * 7001 * 7002 users:(("a",pid=1,fd=0)",pid=4242,fd=7))')[0]!.holders
    expect(holders.map((h) => h.pid)).toEqual([1, 4242])
  })

  it('skips headers, blank lines and lines that are not sockets', () => {
    expect(parseSsUnix('Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n\nnonsense\n')).toEqual([])
  })
})

describe('resolvePeer', () => {
  it('names this very process, with its uid and pid, for a connection it makes to itself', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-peer-'))
    const socketPath = path.join(dir, 's.sock')
    const accepted = new Promise<net.Socket>((resolve) => {
      const server = net.createServer((socket) => { server.close(); resolve(socket) })
      server.listen(socketPath, () => net.connect(socketPath))
    })
    try {
      const socket = await accepted
      const peer = await resolvePeer(socket)
      socket.destroy()
      expect(peer).not.toBeNull()
      expect(peer!.uid).toBe(process.geteuid!())
      expect(peer!.pids).toEqual([process.pid])
      expect(peer!.processes[0]!.exe).toBe(process.execPath)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('clientLine', () => {
  const real = [
    'u_str ESTAB 0 0 /run/portcullis/admin.sock 5000 * 5001',
    'u_str ESTAB 0 0 * 5001 * 5000 users:(("portcullis",pid=10,fd=3))'
  ]

  it('is the peer of our own socket\'s line, naming ours back', () => {
    expect(clientLine(parseSsUnix(real.join('\n')), 5000)?.inode).toBe(5001)
  })

  it('refuses when a socket name forges a second line claiming our socket as its peer', () => {
    // An abstract socket named "x\nu_str ESTAB 0 0 * 6666 * 5000 users:((…))" prints as a line of its own.
    const forged = [...real, 'u_str ESTAB 0 0 * 6666 * 5000 users:(("mallory",pid=66,fd=4))']
    expect(clientLine(parseSsUnix(forged.join('\n')), 5000)?.inode).toBe(5001)
    const forgedOwn = [...real, 'u_str ESTAB 0 0 /run/portcullis/admin.sock 5000 * 6666', 'u_str ESTAB 0 0 * 6666 * 5000 users:(("mallory",pid=66,fd=4))']
    expect(clientLine(parseSsUnix(forgedOwn.join('\n')), 5000)).toBeNull()
    const forgedClient = [...real, 'u_str ESTAB 0 0 * 5001 * 5000 users:(("mallory",pid=66,fd=4))']
    expect(clientLine(parseSsUnix(forgedClient.join('\n')), 5000)).toBeNull()
  })

  it('refuses when our socket\'s line is missing or its peer does not name us back', () => {
    expect(clientLine(parseSsUnix(real[1]!), 5000)).toBeNull()
    expect(clientLine(parseSsUnix([real[0], 'u_str ESTAB 0 0 * 5001 * 7777'].join('\n')), 5000)).toBeNull()
  })
})
