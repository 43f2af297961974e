// `npm run bench:fleet` (after `npm run build`): issue 14's shipping figures, against a private PostgreSQL.
//
//   1. decisions/s at c=64 with shipping on vs off: two `serve`s on the same machine, one with --fleet, measured in
//      turns, window by window (target: ratio >= 0.95)
//   2. ingest: 20 hosts, each with a backlog of records made while it did not ship, started with --fleet at once;
//      records/s into PostgreSQL between 10 % and 90 % of the backlog
//   3. shipping lag at a steady 100 decisions/s per host on the 20 hosts (2,000/s in all): for each decision record,
//      the database's received_at minus the record's time, p50 and p99 (target p99 <= 2 s)
//   4. recovery: under that load the database is stopped for --outage seconds (default 60) and started again; the
//      time from its start until every host has caught up (a lag under 100 records: one second of its load)
//
// Options: --hosts 20, --backlog-seconds 3 (load per host for figure 2, at c=16), --steady-seconds 30, --outage 60,
// --skip-outage, --on-off-only (figure 1 alone), --pin (PostgreSQL on CPU 1, all else on CPU 0: a database on a
// machine of its own, as in production). Everything runs under one temp dir and is stopped by pid at the end.

import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { startLoadGenerator } from './authz-load.js'
import { runAllCleanups } from './cleanup.js'
import { get, prepareHost, startFleetDatabase, startHost, TOKEN_HEADER } from './fleet-hosts.js'
import { listRequest, measureOnOff, onOffLine } from './on-off.js'
import { ms } from './stats.js'

const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '20' },
    'backlog-seconds': { type: 'string', default: '3' },
    'steady-seconds': { type: 'string', default: '30' },
    outage: { type: 'string', default: '60' },
    'skip-outage': { type: 'boolean', default: false },
    repeat: { type: 'string', default: '3' },
    'on-off-only': { type: 'boolean', default: false },
    // PostgreSQL on CPU 1, this process, serve and the load on CPU 0: stands in for a database on its own machine, so
    // the on/off ratio measures what shipping costs serve rather than what the database takes from it.
    pin: { type: 'boolean', default: false }
  }
})
const HOSTS = Number(args.hosts)
const progress = (text) => process.stderr.write(`bench: ${text}\n`)
const figure = (text) => process.stdout.write(text + '\n')

const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-bench-fleet-'))
let exitCode = 0
try {
  const pg = await startFleetDatabase(path.join(dir, 'pg'))
  if (args.pin) pinApart(pg.pid)
  const password = path.join(dir, 'host.pw')
  writeFileSync(password, 'host-secret\n', { mode: 0o600 })
  const fleetArgs = ['--fleet', pg.url('fleet_hosts'), '--fleet-password-file', password]

  await shippingOnOff(dir, fleetArgs)
  if (args['on-off-only']) {
    await pg.stop()
  } else {
    await otherFigures(dir, pg, fleetArgs)
  }
} catch (err) {
  progress(`failed: ${err.stack ?? err}`)
  exitCode = 1
} finally {
  runAllCleanups()
  await rm(dir, { recursive: true, force: true })
}
process.exit(exitCode)

async function otherFigures (dir, pg, fleetArgs) {
  const hosts = await ingest(dir, pg, fleetArgs)
  const load = steadyLoad(hosts)
  await steadyLag(pg, hosts)
  if (!args['skip-outage']) await recovery(pg, hosts)
  await load.stop()
  await Promise.all(hosts.map(async (host) => await host.serve.stop()))
  await pg.stop()
}

/** PostgreSQL's processes (the postmaster and its children; later ones inherit) to CPU 1, the rest to CPU 0. */
function pinApart (postmasterPid) {
  const children = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).filter((pid) => {
    try { return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1] === String(postmasterPid) } catch { return false }
  })
  for (const pid of [String(postmasterPid), ...children]) execFileSync('taskset', ['-a', '-p', '-c', '1', pid], { stdio: 'ignore' })
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' })
  progress(`pinned: PostgreSQL (${1 + children.length} processes) on CPU 1; this process, serve and the load on CPU 0`)
}

/** Figure 1: the same load on a shipping and a non-shipping serve, in turns. */
async function shippingOnOff (root, fleetArgs) {
  const hosts = { on: prepareHost(path.join(root, 'on')), off: prepareHost(path.join(root, 'off')) }
  const servers = { on: await startHost(hosts.on, fleetArgs), off: await startHost(hosts.off) }
  const generator = startLoadGenerator()
  try {
    const result = await measureOnOff(generator, { hosts, servers, repeat: Number(args.repeat), progress })
    const status = JSON.parse(await get(hosts.on.admin, '/v1/status')).fleet
    figure(`${onOffLine('fleet shipping', result, 0.95)}; shipping state ${status.state}, lag ${status.lag} at the end)`)
  } finally {
    await generator.stop()
    await servers.on.stop()
    await servers.off.stop()
  }
}

/** Figure 2: hosts build a backlog without shipping, then all start shipping at once. */
async function ingest (root, pg, fleetArgs) {
  progress(`figure 2: ${HOSTS} hosts build a backlog of ${args['backlog-seconds']} s of c=16 load each`)
  const generator = startLoadGenerator()
  const hosts = []
  let backlog = 0
  for (let i = 1; i <= HOSTS; i++) {
    const host = prepareHost(path.join(root, `host-${i}`))
    const serve = await startHost(host)
    await generator.run({ socket: host.socket, request: listRequest(host.token), connections: 16, durationMs: Number(args['backlog-seconds']) * 1000 })
    await serve.stop()
    backlog += stoppedHead(host)
    hosts.push(host)
  }
  await generator.stop()
  progress(`figure 2: starting the ${HOSTS} hosts with --fleet (about ${backlog} records to ship)`)
  const started = Date.now()
  const serves = await Promise.all(hosts.map(async (host) => await startHost(host, fleetArgs)))
  hosts.forEach((host, i) => { host.serve = serves[i] })
  const marks = []
  for (;;) {
    const count = Number((await pg.sql('SELECT count(*) FROM portcullis.records')).trim())
    marks.push({ at: Date.now(), count })
    if (count >= backlog) break
    if (Date.now() - started > 300_000) throw new Error(`only ${count} of ${backlog} records shipped in 5 minutes`)
    await sleep(200)
  }
  const at = (share) => marks.find((m) => m.count >= share * backlog)
  const from = at(0.1)
  const to = at(0.9)
  const rate = (to.count - from.count) / ((to.at - from.at) / 1000)
  figure(`fleet ingest: ${HOSTS} hosts shipping a backlog of ${backlog} records: ${Math.round(rate)} records/s into PostgreSQL (10 %–90 % of the backlog); all in ${((marks.at(-1).at - started) / 1000).toFixed(1)} s from the first start`)
  return hosts
}

/** The seq of a stopped host's last record (its stop record): the store's head, as serve wrote it down at its stop
 * (HEAD.json), without reading the store. */
function stoppedHead (host) {
  const head = JSON.parse(readFileSync(path.join(host.data, 'HEAD.json'), 'utf8'))
  if (head.event !== 'stop') throw new Error(`${host.data}: HEAD.json is from its ${head.event}, not its stop`)
  return head.seq
}

/** 100 decisions/s per host, paced, on keep-alive connections, until stop(). */
function steadyLoad (hosts) {
  const timers = []
  let failed = 0
  for (const host of hosts) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
    const body = JSON.stringify({ RequestMethod: 'GET', RequestUri: '/v1.41/containers/json', RequestHeaders: { [TOKEN_HEADER]: host.token } })
    timers.push(setInterval(() => {
      const req = http.request({ socketPath: host.socket, path: '/AuthZPlugin.AuthZReq', method: 'POST', agent }, (res) => { res.resume() })
      req.on('error', () => { failed++ })
      req.end(body)
    }, 10))
  }
  return {
    failed: () => failed,
    stop: async () => { for (const timer of timers) clearInterval(timer) }
  }
}

/** Figure 3: lag per record at the steady load. */
async function steadyLag (pg, hosts) {
  progress(`figure 3: ${HOSTS} hosts at 100 decisions/s each for ${args['steady-seconds']} s`)
  await sleep(5_000) // past the ramp-up
  const from = new Date().toISOString()
  await sleep(Number(args['steady-seconds']) * 1000)
  const to = new Date().toISOString()
  await waitAllShipped(hosts, 60_000)
  const row = (await pg.sql(`SELECT count(*), percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - time)), max(extract(epoch FROM received_at - time))
    FROM portcullis.records WHERE action = 'container.list' AND time >= '${from}' AND time < '${to}'`)).trim()
  const [count, percentiles, max] = row.split('|')
  const [p50, p99] = percentiles.replace(/[{}]/g, '').split(',').map(Number)
  figure(`fleet shipping lag at 100 decisions/s per host on ${HOSTS} hosts (${count} records in ${args['steady-seconds']} s): p50 ${ms(p50 * 1000)} ms, p99 ${ms(p99 * 1000)} ms, max ${ms(Number(max) * 1000)} ms (target p99 ≤ 2 s: ${p99 <= 2 ? 'met' : 'MISSED'})`)
}

/** Figure 4: the database away for --outage s under the steady load; time to zero lag everywhere after it returns. */
async function recovery (pg, hosts) {
  progress(`figure 4: PostgreSQL stopped for ${args.outage} s under the steady load`)
  await pg.stop()
  await sleep(Number(args.outage) * 1000)
  const lags = await Promise.all(hosts.map(async (host) => JSON.parse(await get(host.admin, '/v1/status')).fleet.lag))
  const started = Date.now()
  await pg.start()
  await waitAllShipped(hosts, 600_000)
  const seconds = (Date.now() - started) / 1000
  figure(`fleet recovery after a ${args.outage} s database outage at 100 decisions/s per host on ${HOSTS} hosts: every host caught up (lag under 100 records, a second of its load) ${seconds.toFixed(1)} s after PostgreSQL started ` +
    `(${lags.reduce((a, b) => a + b, 0)} records waiting when it did, up to ${Math.max(...lags)} on one host)`)
}

async function waitAllShipped (hosts, limitMs) {
  const deadline = Date.now() + limitMs
  for (;;) {
    const states = await Promise.all(hosts.map(async (host) => JSON.parse(await get(host.admin, '/v1/status')).fleet))
    // Under the steady load the lag is never quite zero: caught up means it is below one batch's worth of a second.
    if (states.every((s) => s.state === 'shipping' && s.lag <= 100)) return
    if (Date.now() > deadline) throw new Error(`not caught up within ${limitMs / 1000} s: ${JSON.stringify(states.map((s) => [s.state, s.lag]))}`)
    await sleep(200)
  }
}
