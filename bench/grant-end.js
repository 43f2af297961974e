// How long a bridge session's program outlives the grant it ran under: `node bench/grant-end.js [--trials 10]`.
//
// On a stack of its own (serve with the SSH bridge, a private dockerd asking it, one busybox container of project
// payments), each trial grants dave (no role of his own in payments) developer there for a few seconds, opens
// `ssh dave+bench-grant 'sleep N & sleep M'` with the real OpenSSH client, waits for both sleeps to run, and then
// polls /proc every 10 ms from the grant's expiry (the time the approve answer names) until neither sleep is left.
// Prints the median and the maximum; the documented bound is 10 s. Everything listens on loopback or unix sockets
// under a temp dir and is stopped by pid.

import { execFile, spawn } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs, promisify } from 'node:util'
import { freeLoopbackPort } from './loopback.js'
import { killPids, onProcessEnd, stopInReverse } from './cleanup.js'
import { busyboxRootfsTar, dockerFor, startLabelledContainer } from './docker-cli.js'
import { dockerdSocket, startDockerd } from './dockerd.js'
import { issueTokens, portcullis, REPO_ROOT, startPortcullis } from './portcullis.js'

const run = promisify(execFile)
const SSH_CLIENT = '/usr/bin/ssh'
const SSH_KEYGEN = '/usr/bin/ssh-keygen'
const CONTAINER = 'bench-grant'
const TTL = '5s'

const { values: args } = parseArgs({ options: { trials: { type: 'string', default: '10' } } })
const trials = Number(args.trials)
if (!Number.isInteger(trials) || trials < 1) {
  process.stderr.write('bench/grant-end.js: --trials takes a whole number above 0\n')
  process.exit(2)
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-bench-grant-'))
const stoppers = []
const progress = (text) => process.stderr.write(`grant-end: ${text}\n`)
try {
  const stack = await start()
  const delays = []
  for (let trial = 1; trial <= trials; trial++) {
    const ms = await oneTrial(stack, trial)
    progress(`trial ${trial}: gone ${ms} ms after the grant's end`)
    delays.push(ms)
  }
  delays.sort((a, b) => a - b)
  const median = delays.length % 2 === 1 ? delays[(delays.length - 1) / 2] : (delays[delays.length / 2 - 1] + delays[delays.length / 2]) / 2
  process.stdout.write(`grant end → session's processes gone (${trials} trials, ${os.cpus().length} cores): ` +
    `median ${median} ms, max ${delays.at(-1)} ms, min ${delays[0]} ms (bound: 10,000 ms)\n`)
} finally {
  await stopInReverse(stoppers, progress)
  rmSync(dir, { recursive: true, force: true })
}

async function start () {
  const keysDir = path.join(dir, 'keys')
  const tokens = await issueTokens(keysDir, ['ops'])
  const clientKey = path.join(dir, 'id_ed25519')
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', 'dave-bench', '-f', clientKey])
  const port = await freeLoopbackPort()
  const policy = JSON.parse(await readFile(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8'))
  policy.users.dave = { sshKeys: [(await readFile(`${clientKey}.pub`, 'utf8')).trim()] }
  policy.projects.payments.elevation = { maxSteps: 2 }
  policy.bridge = { enabled: true, listen: `127.0.0.1:${port}` }
  const policyFile = path.join(dir, 'policy.json')
  await writeFile(policyFile, JSON.stringify(policy, null, 2))

  progress('starting portcullis with the bridge and a private dockerd asking it')
  const dockerdDir = path.join(dir, 'dockerd')
  const plugin = await startPortcullis({ dir: path.join(dir, 'plugin'), policyFile, keysDir, dockerSocket: dockerdSocket(dockerdDir), name: `portcullis-bench-grant-${process.pid}` })
  stoppers.push(plugin.stop)
  const dockerd = await startDockerd({ dir: dockerdDir, authorizationPlugin: plugin.name })
  stoppers.push(dockerd.stop)
  const asOps = await dockerFor({ socket: dockerd.socket, configDir: path.join(dir, 'cli-ops'), token: tokens.ops })
  const containerId = await startLabelledContainer(asOps, { tar: await busyboxRootfsTar(path.join(dir, 'image')), name: CONTAINER, project: 'payments' })
  const hostKey = readFileSync(path.join(keysDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')
  const knownHosts = path.join(dir, 'known_hosts')
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostKey}\n`)
  const sshArgv = (command) => [
    '-F', '/dev/null', '-p', String(port), '-i', clientKey, '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none',
    '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-T', `dave+${CONTAINER}@127.0.0.1`, command
  ]
  return { adminSocket: plugin.adminSocket, containerId, sshArgv }
}

async function oneTrial (stack, trial) {
  const asUser = (user, rest) => portcullis(['request', ...rest, '--admin-socket', stack.adminSocket, '--as', user, '--json'])
  const made = JSON.parse(await asUser('dave', ['create', '--project', 'payments', '--role', 'developer', '--ttl', TTL, '--reason', `bench trial ${trial}`]))
  const approved = JSON.parse(await asUser('ops', ['approve', made.id]))
  const endsAt = new Date(approved.grant.expiresAt).getTime()
  const markers = [`sleep ${9100 + trial}`, `sleep ${9200 + trial}`]
  const child = spawn(SSH_CLIENT, stack.sshArgv(`${markers[0]} & ${markers[1]}`), { stdio: 'ignore' })
  const cancel = onProcessEnd(() => killPids([child.pid]))
  try {
    while (running(markers, stack.containerId) < 2) {
      if (Date.now() >= endsAt) throw new Error(`trial ${trial}: the session did not start its programs before the ${TTL} grant ended`)
      await sleep(10)
    }
    while (Date.now() < endsAt) await sleep(5)
    for (;;) {
      if (running(markers, stack.containerId) === 0) return Date.now() - endsAt
      if (Date.now() - endsAt > 30_000) throw new Error(`trial ${trial}: the session's programs still run 30 s after the grant's end`)
      await sleep(10)
    }
  } finally {
    cancel()
    killPids([child.pid])
  }
}

/** How many of the container's processes run one of `markers` (by their command line, from the host's /proc). */
function running (markers, containerId) {
  let n = 0
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()
      if (markers.includes(cmdline) && readFileSync(`/proc/${name}/cgroup`, 'utf8').includes(containerId)) n++
    } catch {}
  }
  return n
}

