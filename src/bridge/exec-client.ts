// The Docker calls one bridge session makes, each carrying the session's grant so the plugin judges and records
// them as the SSH user. Exec start is a hijacked connection: after `101 UPGRADED` the socket is the raw stream.

import http from 'node:http'
import type { Duplex } from 'node:stream'
import { DOCKER_API_PATH, type DockerEndpoint } from '../docker/client.js'
import { PortcullisError } from '../errors.js'

export interface ExecCreateBody {
  Cmd: string[]
  Tty: boolean
  AttachStdin: boolean
  AttachStdout: boolean
  AttachStderr: boolean
  Env?: string[]
  DetachKeys?: string
}

export interface ExecState {
  Running: boolean
  ExitCode: number | null
  Pid: number
  ContainerID: string
}

export interface ExecStream {
  /** The raw stream, from its first byte: bytes that arrived with the response head are put back in front. */
  socket: Duplex
}

const API = DOCKER_API_PATH

export class ExecClient {
  constructor (private readonly endpoint: DockerEndpoint, private readonly headers: Record<string, string>, private readonly timeoutMs = 10_000) {}

  async create (container: string, body: ExecCreateBody): Promise<string> {
    const res = await this.request('POST', `${API}/containers/${encodeURIComponent(container)}/exec`, body)
    const id = (res.body as { Id?: unknown } | null)?.Id
    if (res.status !== 201 || typeof id !== 'string') throw refusal(res)
    return id
  }

  /** Starts the exec and hands over the raw stream. */
  start (execId: string, tty: boolean): Promise<ExecStream> {
    const payload = JSON.stringify({ Detach: false, Tty: tty })
    return new Promise((resolve, reject) => {
      const req = http.request({
        ...this.endpoint,
        path: `${API}/exec/${encodeURIComponent(execId)}/start`,
        method: 'POST',
        headers: {
          ...this.headers,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(payload),
          Connection: 'Upgrade',
          Upgrade: 'tcp'
        }
      })
      req.on('upgrade', (_res, socket, head) => {
        socket.setNoDelay(true)
        if (head.length > 0) socket.unshift(head)
        resolve({ socket })
      })
      // No upgrade: the daemon (or the plugin through it) refused; the body says why.
      req.on('response', (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => reject(refusal({ status: res.statusCode ?? 0, body: parseJson(Buffer.concat(chunks).toString('utf8')) })))
      })
      req.on('error', (err) => reject(new PortcullisError('PORTCULLIS_EXEC_FAILED', 'start', err.message)))
      req.end(payload)
    })
  }

  async resize (execId: string, cols: number, rows: number): Promise<void> {
    const res = await this.request('POST', `${API}/exec/${encodeURIComponent(execId)}/resize?h=${rows}&w=${cols}`)
    // 409/500 when the process already ended: a resize that comes too late is not worth failing a session for.
    if (res.status >= 400 && res.status !== 409 && res.status !== 500) throw refusal(res)
  }

  async inspect (execId: string): Promise<ExecState> {
    const res = await this.request('GET', `${API}/exec/${encodeURIComponent(execId)}/json`)
    if (res.status !== 200) throw refusal(res)
    return res.body as ExecState
  }

  private request (method: string, path: string, body?: unknown): Promise<{ status: number, body: unknown }> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    return new Promise((resolve, reject) => {
      const req = http.request({
        ...this.endpoint,
        path,
        method,
        timeout: this.timeoutMs,
        headers: {
          ...this.headers,
          Accept: 'application/json',
          ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {})
        }
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: parseJson(Buffer.concat(chunks).toString('utf8')) }))
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)))
      req.on('error', (err) => reject(new PortcullisError('PORTCULLIS_EXEC_FAILED', `${method} ${path}`, err.message)))
      req.end(payload)
    })
  }
}

/** The daemon's error message ({"message": …}), which carries the plugin's reason when the plugin refused. */
function daemonMessage (body: unknown): string {
  if (body !== null && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    return (body as { message: string }).message
  }
  return typeof body === 'string' && body !== '' ? body.trim() : 'no message'
}

function refusal (res: { status: number, body: unknown }): PortcullisError & { status: number, daemonMessage: string } {
  const message = daemonMessage(res.body)
  return Object.assign(new PortcullisError('PORTCULLIS_EXEC_FAILED', `HTTP ${res.status}`, message), { status: res.status, daemonMessage: message })
}

function parseJson (text: string): unknown {
  try { return JSON.parse(text) } catch { return text }
}
