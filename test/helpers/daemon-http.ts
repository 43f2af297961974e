// One raw HTTP call on a daemon's socket, for the attacks the docker CLI cannot express (odd headers, hand-made
// bodies, parameters it never sends). Resolves with the status and the body as text; never follows the stream.
import http from 'node:http'

export interface DaemonAnswer { status: number, body: string }

export interface DaemonCall {
  method: string
  path: string
  headers?: Record<string, string>
  /** Sent with its Content-Length (set here); the Content-Type is the caller's to choose. */
  body?: Buffer | string
  timeoutMs?: number
}

export function daemonRequest (socketPath: string, call: DaemonCall): Promise<DaemonAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...call.headers }
    if (call.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(call.body))
    const req = http.request({ socketPath, method: call.method, path: call.path, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(call.timeoutMs ?? 60_000, () => req.destroy(new Error('timed out')))
    req.end(call.body)
  })
}
