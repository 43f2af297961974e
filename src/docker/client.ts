// A minimal Docker Engine API client for portcullis's own look-ups: keep-alive over the daemon socket, every
// call marked with the internal secret so the plugin recognises (and only lets through) its own reads.

import http from 'node:http'
import { INTERNAL_HEADER } from '../identity/resolve.js'

export interface DockerEndpoint {
  socketPath?: string
  host?: string
  port?: number
}

export function parseDockerHost (dockerHost: string): DockerEndpoint {
  const url = new URL(dockerHost)
  if (url.protocol === 'unix:') return { socketPath: url.pathname }
  if (url.protocol === 'tcp:' || url.protocol === 'http:') return { host: url.hostname, port: Number(url.port || 2375) }
  throw new Error(`unsupported docker host ${dockerHost}: use unix:///path/to/docker.sock or tcp://127.0.0.1:2375`)
}

export interface DockerResponse {
  status: number
  body: unknown
}

export class DockerClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 })

  constructor (readonly endpoint: DockerEndpoint, private readonly internalSecret: string, private readonly timeoutMs = 10_000) {}

  /** GET a JSON document; 404 comes back as a status, not an error. */
  getJson (path: string): Promise<DockerResponse> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        ...this.endpoint,
        agent: this.agent,
        path,
        method: 'GET',
        headers: { [INTERNAL_HEADER]: this.internalSecret, Accept: 'application/json' },
        timeout: this.timeoutMs
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let body: unknown = text
          try { body = JSON.parse(text) } catch {}
          resolve({ status: res.statusCode ?? 0, body })
        })
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)))
      req.on('error', reject)
      req.end()
    })
  }

  /** Open a streaming GET (the events feed); the caller owns the response. */
  stream (path: string): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        ...this.endpoint,
        path,
        method: 'GET',
        headers: { [INTERNAL_HEADER]: this.internalSecret }
      }, (res) => {
        if (res.statusCode !== 200) {
          res.resume()
          reject(new Error(`the daemon answered ${res.statusCode ?? '?'} to ${path}`))
          return
        }
        resolve(res)
      })
      req.on('error', reject)
      req.end()
    })
  }

  close (): void {
    this.agent.destroy()
  }
}
