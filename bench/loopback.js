// Loopback TCP helpers shared by the bridge benches.

import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** A TCP port free on 127.0.0.1 right now. */
export function freeLoopbackPort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** serve answers the plugin socket before the bridge listens: wait for the TCP port too. */
export async function waitForTcp (port, logFile, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const open = await new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    await sleep(50)
  }
  throw new Error(`the SSH bridge did not listen on 127.0.0.1:${port} within ${timeoutMs} ms${logFile === undefined ? '' : `; see ${logFile}`}`)
}
