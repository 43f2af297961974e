// An authorization plugin that allows everything and records nothing: the floor for figure 2. Whatever a
// daemon with this plugin costs over one without is the price of the plugin protocol itself (two round trips,
// the daemon buffering and JSON-encoding the response), which no plugin can go below.
//
//   node bench/noop-plugin.js SOCKET

import http from 'node:http'
import { rmSync } from 'node:fs'

const socket = process.argv[2]
if (socket === undefined) {
  process.stderr.write('usage: node bench/noop-plugin.js SOCKET\n')
  process.exit(2)
}
const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json'
const ACTIVATE = JSON.stringify({ Implements: ['authz'] })
const ALLOW = JSON.stringify({ Allow: true, Msg: '', Err: '' })

const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => {
    // Read the request as a real plugin must, so the floor includes parsing what the daemon sends.
    if (req.url !== '/Plugin.Activate') JSON.parse(Buffer.concat(chunks).toString('utf8'))
    const body = req.url === '/Plugin.Activate' ? ACTIVATE : ALLOW
    res.writeHead(200, { 'Content-Type': CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body) })
    res.end(body)
  })
})
server.keepAliveTimeout = 60_000
rmSync(socket, { force: true })
server.listen(socket)
process.once('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
})
