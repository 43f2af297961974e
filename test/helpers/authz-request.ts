// One AuthZReq posted to a plugin socket the way dockerd posts it, for tests that load `serve` without a dockerd.
import http from 'node:http'
import { TOKEN_HEADER } from './docker-cli.js'

export interface AuthzAnswer { Allow: boolean, Msg?: string, Err?: string }

export interface AuthzReqOptions {
  /** The caller's token, sent in the header the docker CLI sends it in; none when omitted. */
  token?: string
  /** Default: a new connection for the call. */
  agent?: http.Agent
}

/** A GET of `uri` as dockerd asks the plugin about it; resolves with the plugin's answer, or null when the plugin gave
 * no readable answer (refused the connection, closed it, or sent something that is not JSON). */
export function postAuthzReq (socket: string, uri: string, options: AuthzReqOptions = {}): Promise<AuthzAnswer | null> {
  const headers = options.token === undefined ? {} : { [TOKEN_HEADER]: options.token }
  const body = JSON.stringify({ User: '', RequestMethod: 'GET', RequestUri: uri, RequestHeaders: headers })
  return new Promise((resolve) => {
    const req = http.request({ socketPath: socket, path: '/AuthZPlugin.AuthZReq', method: 'POST', agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString()) as AuthzAnswer)
        } catch {
          resolve(null)
        }
      })
      res.on('error', () => resolve(null))
    })
    req.on('error', () => resolve(null))
    req.end(body)
  })
}
