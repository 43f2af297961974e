// The Docker calls one bridge session makes, each carrying the session's grant so the plugin judges and records
// them as the SSH user. Exec start is a hijacked connection: after `101 UPGRADED` the socket is the raw stream.

import { messageOf } from '../audit/errors.js'
import type { ExecApi, ExecCreateBody, ExecState, ExecStream } from './api.js'
import type { DockerEndpoint } from './client.js'
import { callDocker, DOCKER_API_PATH, upgradeDocker, type DockerAnswer } from './http.js'
import { PortcullisError } from '../errors.js'

export class ExecClient implements ExecApi {
  constructor (private readonly endpoint: DockerEndpoint, private readonly headers: Record<string, string>, private readonly timeoutMs = 10_000) {}

  async create (container: string, body: ExecCreateBody): Promise<string> {
    const res = await this.request('POST', `/containers/${encodeURIComponent(container)}/exec`, body)
    const id = (res.body as { Id?: unknown } | null)?.Id
    if (res.status !== 201 || typeof id !== 'string') throw refusal(res)
    return id
  }

  /** Starts the exec and hands over the raw stream. */
  async start (execId: string, tty: boolean): Promise<ExecStream> {
    let started: Awaited<ReturnType<typeof upgradeDocker>>
    try {
      started = await upgradeDocker(this.endpoint, `/exec/${encodeURIComponent(execId)}/start`, this.headers, { Detach: false, Tty: tty })
    } catch (err) {
      throw new PortcullisError('PORTCULLIS_EXEC_FAILED', 'start', messageOf(err))
    }
    // No upgrade: the daemon (or the plugin through it) refused; the body says why.
    if ('refused' in started) throw refusal(started.refused)
    return started
  }

  async resize (execId: string, cols: number, rows: number): Promise<void> {
    const res = await this.request('POST', `/exec/${encodeURIComponent(execId)}/resize?h=${rows}&w=${cols}`)
    // 409/500 when the process already ended: a resize that comes too late is not worth failing a session for.
    if (res.status >= 400 && res.status !== 409 && res.status !== 500) throw refusal(res)
  }

  async inspect (execId: string): Promise<ExecState> {
    const res = await this.request('GET', `/exec/${encodeURIComponent(execId)}/json`)
    if (res.status !== 200) throw refusal(res)
    return res.body as ExecState
  }

  private async request (method: string, path: string, body?: unknown): Promise<DockerAnswer> {
    try {
      return await callDocker(this.endpoint, { method, path, headers: this.headers, body, timeoutMs: this.timeoutMs })
    } catch (err) {
      throw new PortcullisError('PORTCULLIS_EXEC_FAILED', `${method} ${DOCKER_API_PATH}${path}`, messageOf(err))
    }
  }
}

/** The daemon's error message ({"message": …}), which carries the plugin's reason when the plugin refused. */
function daemonMessage (body: unknown): string {
  if (body !== null && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    return (body as { message: string }).message
  }
  return typeof body === 'string' && body !== '' ? body.trim() : 'no message'
}

function refusal (res: DockerAnswer): PortcullisError & { status: number, daemonMessage: string } {
  const message = daemonMessage(res.body)
  return Object.assign(new PortcullisError('PORTCULLIS_EXEC_FAILED', `HTTP ${res.status}`, message), { status: res.status, daemonMessage: message })
}

