// Who is on the other end of an admin socket connection, as the kernel reports it, never as the client claims.
// Node has no SO_PEERCRED, so we ask sock_diag through iproute2's `ss -x -p`: the accepted socket's inode (from
// /proc/self/fd) is the PEER inode of the client's socket, whose users:(…) are the processes holding it. Each
// process's uid and gid come from /proc/PID/status, its command line and executable from /proc/PID. Resolved once
// per connection; a peer that cannot be told (ss missing, process gone, not visible to us) is `null`.

import { execFile } from 'node:child_process'
import { readFileSync, readlinkSync } from 'node:fs'
import type { Socket } from 'node:net'

interface PeerProcess {
  pid: number
  /** The kernel's name for it (comm, at most 15 bytes; the process may have set it), from /proc/PID/status. */
  name: string
  /** Real and effective uid and gid, from /proc/PID/status. */
  uid: number
  euid: number
  gid: number
  egid: number
  /** The command line, its arguments joined by spaces, at most MAX_CMDLINE bytes read. */
  cmdline: string
  /** The executable's path, when readable. */
  exe: string | null
}

export interface Peer {
  /** The effective uid of the first process ss lists as holding the client's socket (every holder is in pids). */
  uid: number
  gid: number
  pids: number[]
  processes: PeerProcess[]
}

/** A holder of a unix socket as `ss -p` lists it: users:(("name",pid=N,fd=N),…). */
interface SocketHolder {
  name: string
  pid: number
  fd: number
}

/** One line of `ss -x -p -H`: the socket's inode, its peer's inode, and who holds it. */
export interface UnixSocketLine {
  inode: number
  peerInode: number
  holders: SocketHolder[]
}

const SS_TIMEOUT_MS = 3_000
const MAX_CMDLINE = 4_096
/** ss's output on a host with many thousands of sockets stays well below this. */
const MAX_SS_OUTPUT = 64 * 1024 * 1024

/**
 * Parses `ss -x -p -H` output. A line is `Netid State Recv-Q Send-Q Local Inode Peer PeerInode [users:(…)]`; a
 * process name may hold spaces, parentheses, commas and quotes (ss escapes neither), so holders are read from
 * the right: each ends in `,pid=N,fd=N)`.
 */
export function parseSsUnix (output: string): UnixSocketLine[] {
  const lines: UnixSocketLine[] = []
  for (const line of output.split('\n')) {
    // Local address: `*` or a path; paths may hold spaces, so take the two inodes before `users:` or the end.
    const usersAt = line.indexOf(' users:((')
    const head = usersAt === -1 ? line : line.slice(0, usersAt)
    const match = /\s(\d+)\s+\S+\s+(\d+)\s*(?:<->)?\s*$/.exec(head) ?? /\s(\d+)\s+\S+\s+(\d+)(?:\s|$)/.exec(head)
    if (match === null) continue
    const holders = usersAt === -1 ? [] : parseHolders(line.slice(usersAt + ' users:('.length))
    lines.push({ inode: Number(match[1]), peerInode: Number(match[2]), holders })
  }
  return lines
}

/**
 * `("name",pid=1,fd=2),("other name",pid=3,fd=4))…` → every `pid=N,fd=N)` in it, with the name before it as
 * written. A process chooses its own name (prctl), and ss quotes nothing, so a name can hold a fake
 * `",pid=1,fd=0)`: these are candidates only, each checked against /proc before it counts (holdsSocket).
 */
function parseHolders (text: string): SocketHolder[] {
  const holders: SocketHolder[] = []
  const entry = /pid=(\d+),fd=(\d+)\)/g
  let start = 0
  for (let m = entry.exec(text); m !== null; m = entry.exec(text)) {
    const open = text.lastIndexOf('("', m.index)
    const name = open >= start ? text.slice(open + 2, Math.max(open + 2, m.index - 2)) : ''
    holders.push({ name, pid: Number(m[1]), fd: Number(m[2]) })
    start = m.index + m[0].length
  }
  return holders
}

/** Whether process `pid` holds socket `inode` at descriptor `fd`, as /proc says: what makes a holder real. */
function holdsSocket (holder: SocketHolder, inode: number): boolean {
  try {
    return readlinkSync(`/proc/${holder.pid}/fd/${holder.fd}`) === `socket:[${inode}]`
  } catch {
    return false
  }
}

/** The inode of an accepted socket (`socket:[N]` in /proc/self/fd), or null when it cannot be read. */
function socketInode (socket: Socket): number | null {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  if (typeof fd !== 'number' || fd < 0) return null
  try {
    const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))
    return match === null ? null : Number(match[1])
  } catch {
    return null
  }
}

/** Runs `ss -x -p -H` with a timeout; resolves with its output, or null when it is missing or fails. */
function runSs (): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('ss', ['-x', '-p', '-H'], { timeout: SS_TIMEOUT_MS, maxBuffer: MAX_SS_OUTPUT, encoding: 'utf8' }, (err, stdout) => {
      resolve(err === null ? stdout : null)
    })
  })
}

/** A process as /proc shows it; null when it is gone or not ours to read. */
function readProcess (pid: number): PeerProcess | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const ids = (field: string): number[] => (new RegExp(`^${field}:\\s+(\\d+)\\s+(\\d+)`, 'm').exec(status) ?? []).slice(1).map(Number)
    const [uid, euid] = ids('Uid')
    const [gid, egid] = ids('Gid')
    if (uid === undefined || euid === undefined || gid === undefined || egid === undefined) return null
    const name = (/^Name:\t(.*)$/m.exec(status) ?? [])[1] ?? ''
    return { pid, name, uid, euid, gid, egid, cmdline: readCmdline(pid), exe: readExe(pid) }
  } catch {
    return null
  }
}

function readCmdline (pid: number): string {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`)
    return raw.subarray(0, MAX_CMDLINE).toString('utf8').replace(/\0+$/, '').replaceAll('\0', ' ')
  } catch {
    return ''
  }
}

function readExe (pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`)
  } catch {
    return null
  }
}

/** The peer of an accepted unix socket, from the kernel; null when it cannot be told. */
export async function resolvePeer (socket: Socket): Promise<Peer | null> {
  const inode = socketInode(socket)
  if (inode === null) return null
  const output = await runSs()
  if (output === null) return null
  const client = clientLine(parseSsUnix(output), inode)
  if (client === null) return null
  const processes = client.holders
    .filter((h) => holdsSocket(h, client.inode))
    .map((h) => readProcess(h.pid))
    .filter((p): p is PeerProcess => p !== null)
  const first = processes[0]
  if (first === undefined) return null
  return { uid: first.euid, gid: first.egid, pids: processes.map((p) => p.pid), processes }
}

/**
 * The client's line: the peer of our own socket's line, which must name ours back. A process chooses its abstract
 * socket's name and ss prints it as it is, so a name holding a newline can forge whole lines, with any inodes: more
 * than one line for either socket is a forgery, and the reader is refused (null) rather than named from it.
 */
export function clientLine (lines: readonly UnixSocketLine[], inode: number): UnixSocketLine | null {
  const own = lines.filter((line) => line.inode === inode)
  if (own.length !== 1) return null
  const claimants = lines.filter((line) => line.inode === own[0]!.peerInode)
  if (claimants.length !== 1 || claimants[0]!.peerInode !== inode) return null
  return claimants[0]!
}

/**
 * resolvePeer for each request, not once per connection: a connected socket can be handed to another process
 * (SCM_RIGHTS) between two requests on a kept-alive connection. The admin socket also closes the connection after
 * every answer (src/admin/server.ts).
 */
export async function peerOf (socket: Socket): Promise<Peer | null> {
  return await resolvePeer(socket)
}

/** `uid 0 (pid 123 portcullis)`: one line for a record's reason. */
export function describePeer (peer: Peer): string {
  const first = peer.processes[0]
  return `uid ${peer.uid}${first !== undefined ? ` (pid ${first.pid} ${JSON.stringify(first.name)}${peer.processes.length > 1 ? ` and ${peer.processes.length - 1} more` : ''})` : ''}`
}

/** The peer as a record's fields hold it. */
export function peerFields (peer: Peer): Record<string, unknown> {
  return { uid: peer.uid, gid: peer.gid, pids: peer.pids, processes: peer.processes.map((p) => ({ ...p })) }
}
