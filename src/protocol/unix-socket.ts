// Unix sockets outlive crashed processes as files. Before listening, remove a stale one, but never steal a
// path another live process is serving. A socket is created with its final mode: a chmod after listen() would
// leave a window in which anyone the umask lets in can connect, and keep that connection.

import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs'
import net from 'node:net'
import { dirname } from 'node:path'
import { PortcullisError } from '../errors.js'

async function prepareSocketPath (path: string, dirMode = 0o755): Promise<void> {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: dirMode })
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_SOCKET_LISTEN', path, (err as Error).message)
  }
  if (!existsSync(path)) return
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path)
    probe.once('connect', () => { probe.destroy(); resolve(true) })
    probe.once('error', () => resolve(false))
  })
  if (live) throw new PortcullisError('PORTCULLIS_SOCKET_IN_USE', path)
  unlinkSync(path)
}

/**
 * Listens on `path` with the file mode `mode` from the first instant: the bind runs under a umask that leaves
 * exactly `mode`. Node binds a pipe synchronously inside listen(), so the umask is back before any other code
 * of this process runs.
 */
export async function listenUnixSocket (server: net.Server, path: string, options: { mode: number, dirMode: number }): Promise<void> {
  await prepareSocketPath(path, options.dirMode)
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(err.code === 'EADDRINUSE' ? new PortcullisError('PORTCULLIS_SOCKET_IN_USE', path) : new PortcullisError('PORTCULLIS_SOCKET_LISTEN', path, err.message))
    }
    server.once('error', onError)
    const previous = process.umask(0o777 & ~options.mode)
    try {
      server.listen(path, () => {
        server.off('error', onError)
        resolve()
      })
    } finally {
      process.umask(previous)
    }
  })
  // The bind already gave this mode; set it again in case the file system ignores the umask.
  chmodSync(path, options.mode)
}
