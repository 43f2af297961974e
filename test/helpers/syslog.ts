// A real syslog daemon for tests: Debian's rsyslogd in the foreground (-n) with its own config, pid file and work
// directory in a temp dir, listening on a loopback TCP port and a unix stream socket (imptcp, octet-counted
// framing on), writing what it parses to two files: the RFC 5424 form (RSYSLOG_SyslogProtocol23Format) and one
// JSON line per message with the fields rsyslog's own parser found. Stopped by its pid. With `relp`, it also takes
// RELP on a loopback port (imrelp, Debian's rsyslog-relp) and its main queue is direct: a message is written to the
// files before imrelp acknowledges it, so a SIGKILL (crash()) loses nothing it acknowledged.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { signalAndWait } from './process.js'
import { onProcessEnd } from './safety-net.js'
import { waitUntil } from './wait.js'

const RSYSLOGD = '/usr/sbin/rsyslogd'

/** One message as rsyslog parsed it. */
export interface ReceivedSyslog {
  pri: string
  hostname: string
  app: string
  procid: string
  msgid: string
  /** The STRUCTURED-DATA part as rsyslog kept it. */
  sd: string
  msg: string
}

export interface Rsyslog {
  /** `tcp:127.0.0.1:PORT` */
  tcpAddress: string
  /** `unix:/…/syslog.sock` */
  unixAddress: string
  /** `relp:127.0.0.1:PORT` (startRsyslog({ relp: true }) only). */
  relpAddress: string
  /** Every message received so far, parsed. */
  received: () => ReceivedSyslog[]
  /** The RFC 5424 lines rsyslog wrote. */
  rfc5424Lines: () => string[]
  /** Stops rsyslogd and keeps what it wrote: the address refuses connections until resume(). */
  pause: () => Promise<void>
  /** Starts it again on the same port and socket, appending to the same files. */
  resume: () => Promise<void>
  /** Kills rsyslogd with SIGKILL (what it holds in memory is lost); resume() starts it again. */
  crash: () => Promise<void>
  /** Stops rsyslogd with SIGSTOP: its connections stay open and nothing is read or answered (until crash()). */
  freeze: () => void
  stop: () => Promise<void>
}

async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export async function startRsyslog (options: { relp?: boolean } = {}): Promise<Rsyslog> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rsyslog-'))
  const work = path.join(dir, 'work')
  await mkdir(work)
  const port = await freePort()
  const relpPort = options.relp === true ? await freePort() : null
  const socketPath = path.join(dir, 'syslog.sock')
  const jsonFile = path.join(dir, 'messages.jsonl')
  const rfcFile = path.join(dir, 'messages.log')
  const pidFile = path.join(dir, 'rsyslogd.pid')
  const conf = path.join(dir, 'rsyslog.conf')
  await writeFile(conf, `
global(workDirectory="${work}" maxMessageSize="64k")
module(load="imptcp")
${relpPort === null ? '' : 'module(load="imrelp")\nmain_queue(queue.type="Direct")'}
template(name="fields" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
ruleset(name="received") {
  action(type="omfile" file="${jsonFile}" template="fields")
  action(type="omfile" file="${rfcFile}" template="RSYSLOG_SyslogProtocol23Format")
}
input(type="imptcp" address="127.0.0.1" port="${port}" ruleset="received" supportOctetCountedFraming="on")
input(type="imptcp" path="${socketPath}" unlink="on" ruleset="received" supportOctetCountedFraming="on")
${relpPort === null ? '' : `input(type="imrelp" address="127.0.0.1" port="${relpPort}" ruleset="received")`}
`)
  let child: ChildProcess
  let stderr = ''
  let cancelSafetyNet = (): void => {}
  const launch = async (): Promise<void> => {
    const started: ChildProcess = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', pidFile], { stdio: ['ignore', 'ignore', 'pipe'] })
    child = started
    stderr = ''
    started.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    cancelSafetyNet = onProcessEnd(() => started.kill('SIGKILL'))
    await waitUntil('rsyslogd listening on its port and socket', async () => {
      if (started.exitCode !== null) throw new Error(`rsyslogd exited ${started.exitCode}: ${stderr}`)
      return existsSync(socketPath) && await canConnect(port) && (relpPort === null || await canConnect(relpPort))
    }, { detail: () => stderr })
  }
  const halt = async (): Promise<void> => {
    if (!await signalAndWait(child, 'SIGTERM', 5000)) await signalAndWait(child, 'SIGKILL', 5000)
    cancelSafetyNet()
  }
  await launch()
  const lines = (file: string): string[] => existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []
  return {
    tcpAddress: `tcp:127.0.0.1:${port}`,
    unixAddress: `unix:${socketPath}`,
    relpAddress: relpPort === null ? '' : `relp:127.0.0.1:${relpPort}`,
    received: () => lines(jsonFile).map((line) => JSON.parse(line) as ReceivedSyslog),
    rfc5424Lines: () => lines(rfcFile),
    pause: halt,
    resume: launch,
    freeze: () => { child.kill('SIGSTOP') },
    crash: async () => {
      await signalAndWait(child, 'SIGKILL', 5000)
      cancelSafetyNet()
    },
    stop: async () => {
      await halt()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

async function canConnect (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}
