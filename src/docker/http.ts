// The one place portcullis speaks HTTP to the Docker daemon: a JSON call, and an upgraded (hijacked) connection for
// exec start. Its two users differ only in who they say they are: DockerClient (docker/client.ts) marks its
// look-ups with the internal secret; ExecClient (exec-client.ts, made by DockerClient.execAs) carries a bridge session's grant. Every
// path is under one pinned API version.

import http from 'node:http'
import type { Duplex } from 'node:stream'
import type { DockerEndpoint } from './client.js'

/** The Engine API version every call of portcullis's names: dockerd 20.10's, whose request and response shapes the
 * allowlist and the look-ups were written against. A call without it would get whatever the daemon defaults to. */
export const DOCKER_API_PATH = '/v1.41'

export interface DockerAnswer {
  status: number
  /** The body parsed as JSON, or its text when it is not JSON. */
  body: unknown
}

export interface DockerCall {
  method: string
  /** Without the version: `/containers/x/json`. */
  path: string
  headers: Record<string, string>
  /** Sent as JSON. */
  body?: unknown
  timeoutMs: number
  agent?: http.Agent
}

/** One call, its whole answer read. Rejects only when no answer came (the socket failed, or the time ran out). */
export function callDocker (endpoint: DockerEndpoint, call: DockerCall): Promise<DockerAnswer> {
  const payload = call.body === undefined ? undefined : JSON.stringify(call.body)
  return new Promise((resolve, reject) => {
    const req = http.request({
      ...endpoint,
      ...(call.agent !== undefined ? { agent: call.agent } : {}),
      path: DOCKER_API_PATH + call.path,
      method: call.method,
      timeout: call.timeoutMs,
      headers: {
        ...call.headers,
        Accept: 'application/json',
        ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {})
      }
    }, (res) => {
      readAnswer(res).then(resolve, reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${call.timeoutMs} ms`)))
    req.on('error', reject)
    req.end(payload)
  })
}

/** A streaming GET (the events feed): the response once its status is 200; the caller owns it. */
export function streamDocker (endpoint: DockerEndpoint, path: string, headers: Record<string, string>): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...endpoint, path: DOCKER_API_PATH + path, method: 'GET', headers }, (res) => {
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

/** A POST the daemon answers by upgrading the connection (exec start): the raw stream from its first byte, or,
 * when it answers without upgrading (it, or the plugin through it, refused), that answer. */
export function upgradeDocker (endpoint: DockerEndpoint, path: string, headers: Record<string, string>, body: unknown): Promise<{ socket: Duplex } | { refused: DockerAnswer }> {
  const payload = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = http.request({
      ...endpoint,
      path: DOCKER_API_PATH + path,
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), Connection: 'Upgrade', Upgrade: 'tcp' }
    })
    req.on('upgrade', (_res, socket, head) => {
      socket.setNoDelay(true)
      // Bytes that arrived with the response head are put back in front.
      if (head.length > 0) socket.unshift(head)
      resolve({ socket })
    })
    req.on('response', (res) => { readAnswer(res).then((refused) => resolve({ refused }), reject) })
    req.on('error', reject)
    req.end(payload)
  })
}

function readAnswer (res: http.IncomingMessage): Promise<DockerAnswer> {
  return new Promise((resolve, reject) => {
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
}
