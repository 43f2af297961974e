// Unix sockets outlive crashed processes as files. Before listening, remove a stale one, but never steal a
// path another live process is serving.

import { existsSync, mkdirSync, unlinkSync } from 'node:fs'
import net from 'node:net'
import { dirname } from 'node:path'
import { PortcullisError } from '../errors.js'

export async function prepareSocketPath (path: string, dirMode = 0o755): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: dirMode })
  if (!existsSync(path)) return
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path)
    probe.once('connect', () => { probe.destroy(); resolve(true) })
    probe.once('error', () => resolve(false))
  })
  if (live) throw new PortcullisError('PORTCULLIS_SOCKET_IN_USE', path)
  unlinkSync(path)
}
