// The Docker Engine API client for portcullis's own look-ups: keep-alive over the daemon socket, every call marked
// with the internal secret so the plugin recognises (and only lets through) its own reads. HTTP itself is in http.ts.

import http from 'node:http'
import { PortcullisError } from '../errors.js'
import { INTERNAL_HEADER } from '../identity/resolve.js'
import type { DockerApi, ExecApi } from './api.js'
import type { DaemonHealth } from './daemon-health.js'
import { ExecClient } from './exec-client.js'
import { callDocker, streamDocker, type DockerAnswer } from './http.js'

export interface DockerEndpoint {
  socketPath?: string
  host?: string
  port?: number
}

/** Reads --docker-host / DOCKER_HOST; a value portcullis cannot use is the operator's to fix, with a code. */
export function parseDockerHost (dockerHost: string): DockerEndpoint {
  let url: URL
  try {
    url = new URL(dockerHost)
  } catch {
    throw new PortcullisError('PORTCULLIS_DOCKER_HOST_INVALID', JSON.stringify(dockerHost), 'it is not a URL')
  }
  if (url.protocol === 'unix:') {
    if (url.host !== '' || url.pathname === '' || url.pathname === '/') {
      throw new PortcullisError('PORTCULLIS_DOCKER_HOST_INVALID', JSON.stringify(dockerHost), 'a unix URL names an absolute socket path after three slashes')
    }
    return { socketPath: socketPathOf(url.pathname) }
  }
  if (url.protocol === 'tcp:' || url.protocol === 'http:') {
    if (url.hostname === '') throw new PortcullisError('PORTCULLIS_DOCKER_HOST_INVALID', JSON.stringify(dockerHost), 'it names no host')
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 2375) }
  }
  throw new PortcullisError('PORTCULLIS_DOCKER_HOST_INVALID', JSON.stringify(dockerHost), `the scheme ${url.protocol} is not supported (portcullis speaks plain HTTP to the daemon)`)
}

function socketPathOf (pathname: string): string {
  try {
    return decodeURIComponent(pathname)
  } catch {
    return pathname
  }
}

export class DockerClient implements DockerApi {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
  private health: DaemonHealth | null = null

  constructor (readonly endpoint: DockerEndpoint, private readonly internalSecret: string, private readonly timeoutMs = 10_000) {}

  /** From now on, whether the daemon answers is reported to `health` (logged once per change, not per call). */
  reportTo (health: DaemonHealth): void {
    this.health = health
  }

  /** GET a JSON document (`path` without the version: `/containers/x/json`); 404 comes back as a status, not an
   * error. */
  getJson (path: string): Promise<DockerAnswer> {
    const health = this.health
    if (health === null) return this.fetchJson(path)
    return this.fetchJson(path).then((res) => {
      if (res.status >= 500) health.failed(`status ${res.status}`)
      else health.answered()
      return res
    }, (err: unknown) => {
      health.failed((err as Error).message)
      throw err
    })
  }

  private fetchJson (path: string): Promise<DockerAnswer> {
    return callDocker(this.endpoint, { method: 'GET', path, headers: { [INTERNAL_HEADER]: this.internalSecret }, timeoutMs: this.timeoutMs, agent: this.agent })
  }

  /** Open a streaming GET (the events feed); the caller owns the response. */
  stream (path: string): Promise<http.IncomingMessage> {
    return streamDocker(this.endpoint, path, { [INTERNAL_HEADER]: this.internalSecret })
  }

  execAs (headers: Record<string, string>): ExecApi {
    return new ExecClient(this.endpoint, headers)
  }

  close (): void {
    this.agent.destroy()
  }
}
