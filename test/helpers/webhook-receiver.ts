// A real HTTP receiver on loopback for webhook tests: it answers 204 to every POST and keeps the JSON bodies, or
// answers `failWith` while that is set (to see retries).
import http from 'node:http'

export interface WebhookReceiver {
  url: string
  /** The JSON bodies received, in order. */
  bodies: unknown[]
  /** The path (with query) each body was POSTed to, in the same order. */
  paths: string[]
  /** While set, every POST is answered with this status and its body is not kept. */
  failWith: number | null
  close: () => Promise<void>
}

export async function startWebhookReceiver (): Promise<WebhookReceiver> {
  const receiver: WebhookReceiver = { url: '', bodies: [], paths: [], failWith: null, close: async () => {} }
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => { body += chunk.toString() })
    req.on('end', () => {
      if (receiver.failWith !== null) {
        res.writeHead(receiver.failWith).end()
        return
      }
      receiver.bodies.push(JSON.parse(body))
      receiver.paths.push(req.url ?? '')
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  receiver.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/alerts`
  receiver.close = async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return receiver
}
