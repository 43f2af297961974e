// The CLI side of the admin socket.

import http from 'node:http'
import { errorFromAnswer, PortcullisError } from '../errors.js'

export function adminRequest (socketPath: string, method: string, path: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path }, resolve)
    req.on('error', (err) => reject(new PortcullisError('PORTCULLIS_ADMIN_UNREACHABLE', socketPath, err.message)))
    req.end()
  })
}

export async function adminJson<T> (socketPath: string, method: string, path: string, acceptStatuses: number[] = [200]): Promise<{ status: number, body: T }> {
  const res = await adminRequest(socketPath, method, path)
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
