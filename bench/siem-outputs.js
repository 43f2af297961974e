// `npm run bench:siem` (after `npm run build`): issue 15's SIEM output cost. Decisions/s at c=64 with the outputs on
// vs off: two `serve`s on the same machine, one whose policy turns the outputs on, measured in turns, window by
// window, the median of each side reported with the ratio (target ≥ 0.9), the p99s, serve's CPU, and the output's
// lag at the end (it must keep up, not only not slow decisions).
//
// Options: --outputs files (a comma list: `files` is the sealed-file output, `syslog` the syslog output, sent over
// loopback TCP to a receiver in this process that reads and discards: it counts bytes and nothing else, so it is never
// the bottleneck), --repeat 3 (window pairs), --duration 5 (seconds per window), --max-bytes 16777216,
// --max-age 1m (the sealed files' thresholds). Everything runs under one temp dir and is stopped by pid at the end.

import { writeFileSync, readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { startLoadGenerator } from './authz-load.js'
import { runAllCleanups } from './cleanup.js'
import { get, prepareHost, startHost } from './fleet-hosts.js'
import { measureOnOff, onOffLine } from './on-off.js'

const { values: args } = parseArgs({
  options: {
    outputs: { type: 'string', default: 'files' },
    repeat: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    'max-bytes': { type: 'string', default: '16777216' },
    'max-age': { type: 'string', default: '1m' }
  }
})
const progress = (text) => process.stderr.write(`bench: ${text}\n`)
const figure = (text) => process.stdout.write(text + '\n')

/** What the syslog receiver took. */
const received = { bytes: 0, connections: 0 }

/** Each output's policy block for a host directory (syslog: the receiver's address). */
const OUTPUT_POLICY = {
  files: (hostDir) => ({ dir: path.join(hostDir, 'siem'), maxBytes: Number(args['max-bytes']), maxAge: args['max-age'] }),
  syslog: (_hostDir, receiver) => ({ address: `tcp:127.0.0.1:${receiver.address().port}`, facility: 'local3' })
}

/** A loopback TCP syslog receiver that reads everything and keeps only a byte count. */
async function startReceiver () {
  const server = net.createServer((socket) => {
    received.connections++
    socket.on('data', (chunk) => { received.bytes += chunk.length })
    socket.on('error', () => {})
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

const outputs = args.outputs.split(',').filter((name) => name !== '')
for (const name of outputs) {
  if (OUTPUT_POLICY[name] === undefined) throw new Error(`--outputs ${name}: not an output this bench knows (${Object.keys(OUTPUT_POLICY).join(', ')})`)
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-bench-siem-'))
let exitCode = 0
try {
  await outputsOnOff(dir)
} catch (err) {
  progress(`failed: ${err.stack ?? err}`)
  exitCode = 1
} finally {
  runAllCleanups()
  await rm(dir, { recursive: true, force: true })
}
process.exit(exitCode)

/** The same load on a serve with the outputs on and one without, in turns. */
async function outputsOnOff (root) {
  const hosts = { on: prepareHost(path.join(root, 'on')), off: prepareHost(path.join(root, 'off')) }
  const receiver = await startReceiver()
  const policy = JSON.parse(readFileSync(hosts.on.policy, 'utf8'))
  policy.outputs = Object.fromEntries(outputs.map((name) => [name, OUTPUT_POLICY[name](hosts.on.dir, receiver)]))
  writeFileSync(hosts.on.policy, JSON.stringify(policy))
  const servers = { on: await startHost(hosts.on), off: await startHost(hosts.off) }
  const generator = startLoadGenerator()
  try {
    const result = await measureOnOff(generator, { hosts, servers, repeat: Number(args.repeat), durationMs: Number(args.duration) * 1000, progress })
    const status = JSON.parse(await get(hosts.on.admin, '/v1/status')).outputs
    const files = outputs.includes('files') ? `, ${readdirSync(path.join(hosts.on.dir, 'siem')).filter((name) => name.endsWith('.jsonl')).length} sealed file(s)` : ''
    const syslog = outputs.includes('syslog') ? `, the syslog receiver took ${(received.bytes / 1048576).toFixed(1)} MiB on ${received.connections} connection(s)` : ''
    figure(`${onOffLine(`SIEM outputs (${outputs.join(', ')})`, result, 0.9)}; ${status.map((o) => `${o.name} ${o.state}, lag ${o.lag}`).join('; ')} at the end${files}${syslog})`)
  } finally {
    await generator.stop()
    await servers.on.stop()
    await servers.off.stop()
    receiver.close()
  }
}
