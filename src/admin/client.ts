// The CLI side of the audit routes: the admin socket (root on the host), or the elevation API's /v1/audit with an
// auditor's token (`--url URL --token-file FILE`). The routes and answers are the same; only the door differs.

import http from 'node:http'
import https from 'node:https'
import { errorFromAnswer, PortcullisError } from '../errors.js'

/** The admin socket's path, or the API's base URL and the bearer token to send. */
export type AdminEndpoint = string | { url: string, token: string }

export function adminRequest (endpoint: AdminEndpoint, method: string, path: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    let req: http.ClientRequest
    if (typeof endpoint === 'string') {
      req = http.request({ socketPath: endpoint, method, path }, resolve)
      req.on('error', (err) => reject(new PortcullisError('PORTCULLIS_ADMIN_UNREACHABLE', endpoint, err.message)))
    } else {
      const base = new URL(endpoint.url)
      const url = new URL(base.pathname.replace(/\/$/, '') + path, base)
      const transport = url.protocol === 'https:' ? https : http
      req = transport.request(url, { method, headers: { authorization: `Bearer ${endpoint.token}` } }, resolve)
      req.on('error', (err) => reject(new PortcullisError('PORTCULLIS_ELEVATION_UNREACHABLE', endpoint.url, err.message)))
    }
    req.end()
  })
}

export async function adminJson<T> (endpoint: AdminEndpoint, method: string, path: string, acceptStatuses: number[] = [200]): Promise<{ status: number, body: T }> {
  const res = await adminRequest(endpoint, method, path)
  const chunks: Buffer[] = []
  for await (const chunk of res) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  const status = res.statusCode ?? 0
  if (!acceptStatuses.includes(status)) throw errorFromAnswer(status, text)
  return { status, body: JSON.parse(text) as T }
}

/** Reads an answer the caller did not expect and throws the error it stands for (see errorFromAnswer). */
export async function answerError (res: http.IncomingMessage): Promise<PortcullisError> {
  const parts: Buffer[] = []
  for await (const part of res) parts.push(part as Buffer)
  return errorFromAnswer(res.statusCode ?? 0, Buffer.concat(parts).toString('utf8'))
}
