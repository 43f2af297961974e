// Where the session commands read sessions and recordings from: the daemon's admin socket, or a store directory
// with --data. Both answer the same way, with the same coded errors.
import type http from 'node:http'
import { adminJson, adminRequest } from '../admin/client.js'
import { isSessionId } from '../audit/keys.js'
import { findSession, listSessions, openSessionArchive, type ListSessionsOptions, type SessionSummary } from '../audit/sessions.js'
import { PortcullisError, type ErrorCode } from '../errors.js'

/** Where a command reads sessions from: the daemon's admin socket, or a store directory with --data. */
export interface SessionAccess {
  list: (options: ListSessionsOptions) => Promise<SessionSummary[]>
  /** Throws PORTCULLIS_SESSION_NOT_FOUND. */
  find: (id: string) => Promise<SessionSummary>
  /** The recording as stored; throws PORTCULLIS_SESSION_NOT_FOUND or PORTCULLIS_SESSION_NO_RECORDING before
   * yielding anything. */
  cast: (id: string) => Promise<AsyncIterable<string | Buffer>>
  close: () => Promise<void>
}

export async function openSessions (values: { 'admin-socket': string, data?: string | undefined }): Promise<SessionAccess> {
  if (values.data !== undefined) return await archiveAccess(values.data)
  const socket = values['admin-socket']
  return {
    async list (options) {
      const query = new URLSearchParams({ limit: String(options.limit ?? 50) })
      if (options.user !== undefined) query.set('user', options.user)
      if (options.container !== undefined) query.set('container', options.container)
      return (await adminJson<SessionSummary[]>(socket, 'GET', `/v1/audit/sessions?${query.toString()}`)).body
    },
    async find (id) {
      const { status, body } = await adminJson<SessionSummary>(socket, 'GET', `/v1/audit/sessions/${id}`, [200, 404])
      if (status === 404) throw new PortcullisError('PORTCULLIS_SESSION_NOT_FOUND', id)
      return body
    },
    async cast (id) {
      const res = await adminRequest(socket, 'GET', `/v1/audit/sessions/${id}/cast`)
      if (res.statusCode !== 200) throw await refusal(res, id)
      return res
    },
    async close () {}
  }
}

async function archiveAccess (dir: string): Promise<SessionAccess> {
  const archive = await openSessionArchive(dir)
  const find = async (id: string): Promise<SessionSummary> => {
    const session = await findSession(archive, id)
    if (session === null) throw new PortcullisError('PORTCULLIS_SESSION_NOT_FOUND', id)
    return session
  }
  return {
    list: async (options) => await listSessions(archive, options),
    find,
    async cast (id) {
      const chunks = archive.readCast(id)[Symbol.asyncIterator]()
      const first = await chunks.next()
      if (first.done === true) {
        await find(id)
        throw new PortcullisError('PORTCULLIS_SESSION_NO_RECORDING', id)
      }
      return (async function * () {
        yield first.value
        for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) yield next.value
      })()
    },
    close: async () => { await archive.close() }
  }
}

/** The error an admin answer other than 200 stands for: ours when the daemon named one, else the raw answer. */
async function refusal (res: http.IncomingMessage, id: string): Promise<PortcullisError> {
  const parts: Buffer[] = []
  for await (const part of res) parts.push(part as Buffer)
  const text = Buffer.concat(parts).toString('utf8')
  let code: unknown
  try {
    code = (JSON.parse(text) as { code?: unknown }).code
  } catch {}
  if (code === 'PORTCULLIS_SESSION_NOT_FOUND' || code === 'PORTCULLIS_SESSION_NO_RECORDING' || code === 'PORTCULLIS_SESSION_ID_INVALID') {
    return new PortcullisError(code as ErrorCode, id)
  }
  return new PortcullisError('PORTCULLIS_ADMIN_REQUEST', String(res.statusCode), text)
}

export function requireSessionId (value: string): string {
  if (!isSessionId(value)) throw new PortcullisError('PORTCULLIS_SESSION_ID_INVALID', JSON.stringify(value))
  return value
}
