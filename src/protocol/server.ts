// The plugin socket: the three endpoints dockerd calls, spoken exactly as the daemon speaks them (POST, no
// Content-Type, JSON keys as Go writes them). Plain node:http: this is the hot path, twice per API call.

import { unlinkSync } from 'node:fs'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Authorizer } from '../authz/authorizer.js'
import type { AuthZRequest, AuthZResponse } from '../core/types.js'
import { readAuthZDocument } from './authz-document.js'

/** dockerd never sends more than a 1 MiB body plus its headers; anything much larger is not the daemon. */
const MAX_REQUEST_BYTES = 8 * 1024 * 1024
const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json'
const ACTIVATE = JSON.stringify({ Implements: ['authz'] })
const ALLOW_BODY = JSON.stringify({ Allow: true, Msg: '', Err: '' })

export function createPluginServer (authorizer: Authorizer, logger: Logger): http.Server {
  const state: PluginServerState = { stopping: false, inFlight: 0, logger }
  const server = http.createServer((req, res) => {
    res.sendDate = false
    state.inFlight++
    res.once('close', () => {
      if (--state.inFlight === 0) state.idle?.()
    })
    // While stopping, every answer closes its connection, so the daemon opens a new one, to the next process.
    if (state.stopping) res.shouldKeepAlive = false
    const reply = (status: number, body: string): void => {
      res.writeHead(status, ['Content-Type', CONTENT_TYPE, 'Content-Length', String(Buffer.byteLength(body))])
      res.end(body)
    }
    const deny = (message: string): void => reply(200, JSON.stringify({ Allow: false, Msg: message, Err: '' } satisfies AuthZResponse))
    /** Not what the daemon sends: refused, and recorded with whatever of it names the caller and the call. */
    const refuse = (problem: string, partial: AuthZRequest | null): void => {
      logger.warn({ problem: problem.slice(0, 200) }, 'unreadable authorization request; denying')
      authorizer.refuseUnreadable(problem, partial).then((answer) => reply(200, JSON.stringify(answer)), () => deny('portcullis could not read the authorization request; it refuses the call'))
    }

    if (req.method !== 'POST') {
      reply(405, JSON.stringify({ Err: 'portcullis plugin endpoints take POST' }))
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    let tooLarge = false
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (tooLarge) return
      if (size > MAX_REQUEST_BYTES) {
        // Not the daemon: stop keeping it, answer (recorded) and close the connection once answered.
        tooLarge = true
        chunks.length = 0
        res.shouldKeepAlive = false
        res.on('finish', () => req.destroy())
        refuse(`the document is larger than ${MAX_REQUEST_BYTES} bytes`, null)
        return
      }
      chunks.push(chunk)
    })
    req.on('error', (err) => logger.warn({ err }, 'plugin request stream failed'))
    req.on('end', () => {
      const url = req.url ?? ''
      if (url === '/Plugin.Activate') {
        reply(200, ACTIVATE)
        return
      }
      if (url !== '/AuthZPlugin.AuthZReq' && url !== '/AuthZPlugin.AuthZRes') {
        reply(404, JSON.stringify({ Err: `portcullis does not implement ${url}` }))
        return
      }
      if (tooLarge) return
      const isRequest = url === '/AuthZPlugin.AuthZReq'
      const document = readAuthZDocument(Buffer.concat(chunks, size).toString('utf8'), isRequest ? 'request' : 'response')
      if (!document.ok) {
        refuse(document.problem, document.partial)
        return
      }
      const body: AuthZRequest = document.request
      const work = isRequest ? authorizer.authorizeRequest(body) : authorizer.authorizeResponse(body)
      work.then((answer) => reply(200, answer.Allow && answer.Msg === '' ? ALLOW_BODY : JSON.stringify(answer)), (err: unknown) => {
        logger.error({ err }, 'authorization failed; denying')
        deny('portcullis failed while deciding; it refuses the call')
      })
    })
  })
  states.set(server, state)
  server.keepAliveTimeout = 60_000
  server.headersTimeout = 65_000
  return server
}

interface PluginServerState {
  stopping: boolean
  /** Requests read and not yet answered. */
  inFlight: number
  /** Called the moment no request is in flight (set while a stop waits for that). */
  idle?: () => void
  logger: Logger
}

const states = new WeakMap<http.Server, PluginServerState>()

/**
 * Stop without refusing the daemon's calls. First, while calls are in flight, the socket stays: their look-ups go
 * through the daemon, which asks this plugin about each of them, on a new connection if need be. At the first
 * instant no call is in flight (or after `drainMs`), the socket file goes, so new connections fail before a
 * request is sent (dockerd then retries with the body intact; a retry on a connection we cut mid-request is
 * re-sent with an empty body, moby/moby#39331). Calls that still come on open connections are answered with
 * `Connection: close`, which closes them. The daemon retries calls that found the socket gone 1 s later (then
 * 3 s, 7 s) on the idle connections it still holds, so those are not cut at 1 s: the wave uses them up, and what
 * is still open at `graceMs`, between two waves, is cut.
 */
export async function shutdownPluginServer (server: http.Server, socketPath: string, graceMs = 2000, drainMs = 2000): Promise<void> {
  const state = states.get(server)
  if (state !== undefined && state.inFlight > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, drainMs)
      state.idle = () => {
        clearTimeout(timer)
        resolve()
      }
    })
    state.idle = undefined
  }
  // In the same tick as the idle moment: no call has started since.
  try {
    unlinkSync(socketPath)
  } catch {}
  if (state !== undefined) state.stopping = true
  const inFlightAtStop = state?.inFlight ?? 0
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline && await openConnections(server) > 0) await sleep(10)
  const left = await openConnections(server)
  if (left > 0) state?.logger.warn({ connections: left, unanswered: state.inFlight, inFlightAtStop, graceMs }, 'cutting the plugin socket\'s connections still open after the grace period')
  else state?.logger.debug({ inFlightAtStop }, 'the plugin socket drained')
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  server.closeAllConnections()
  await closed
}

function openConnections (server: http.Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((err, count) => resolve(err === null ? count : 0)))
}
