// `node bench/login-flood.js`: how long an honest SSH bridge login takes while another address holds pre-login
// connections open (issue 11). The honest user is the real OpenSSH client from 127.0.0.1 running `true` in a
// container (spawn → exit: key exchange, public-key login, the exec judged and recorded); the attacker is this
// process's own sockets from 127.0.0.2, half silent, half having sent an SSH banner and then nothing.
//
//   1. no flood: the baseline
//   2. the default limits, 200 connections attempted: 10 held (perSourceMaxStartups), the rest closed at accept
//   3. limits raised (maxStartups 500, perSourceMaxStartups 500) so that all 200 are held at once
//
// Options: --logins N (per scenario, default 10), --held N (default 200), --keep (keep the temp dir).
// Everything listens on loopback or unix sockets under one temp dir, is bounded in time and stopped by pid.

import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { promisify } from 'node:util'
import { freeLoopbackPort, waitForTcp } from './loopback.js'
import { killPids, onProcessEnd, runAllCleanups, stopInReverse } from './cleanup.js'
import { busyboxRootfsTar, dockerFor, startLabelledContainer } from './docker-cli.js'
import { dockerdSocket, startDockerd, unmountUnder } from './dockerd.js'
import { issueTokens, portcullis, REPO_ROOT, startPortcullis } from './portcullis.js'
import { summarize, ms } from './stats.js'

const run = promisify(execFile)
const SSH_CLIENT = '/usr/bin/ssh'
const SSH_KEYGEN = '/usr/bin/ssh-keygen'
const CONTAINER = 'bench-flood'
const USER = 'alice'
const ATTACKER = '127.0.0.2'
const TARGET_MS = 2000
const OVERALL_LIMIT_MS = 10 * 60_000

const { values: args } = parseArgs({
  options: {
    logins: { type: 'string', default: '10' },
    held: { type: 'string', default: '200' },
    keep: { type: 'boolean', default: false }
  }
})
const LOGINS = Number(args.logins)
const HELD = Number(args.held)
const progress = (text) => process.stderr.write(`# ${text}\n`)

const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-bench-flood-'))
const overall = setTimeout(() => {
  progress(`the whole run took longer than ${OVERALL_LIMIT_MS / 60_000} minutes; stopping`)
  runAllCleanups()
  process.exit(2)
}, OVERALL_LIMIT_MS)
overall.unref()
const stoppers = []
const cancelDirCleanup = onProcessEnd(() => {
  unmountUnder(dir)
  if (!args.keep) rmSync(dir, { recursive: true, force: true })
})

try {
  const stack = await startStack()
  stoppers.push(...stack.stoppers)
  await stack.login() // warm-up: the first exec of a fresh daemon is slower
  const lines = []
  lines.push(await scenario(stack, 'no flood', null, 0))
  lines.push(await scenario(stack, `defaults, ${HELD} attempted from ${ATTACKER}`, {}, HELD))
  lines.push(await scenario(stack, `${HELD} held from ${ATTACKER} (limits raised)`, { maxStartups: String(HELD * 2 + 100), perSourceMaxStartups: HELD * 2 + 100 }, HELD))
  for (const line of lines) process.stdout.write(`${line}\n`)
} finally {
  progress('stopping')
  await stopInReverse(stoppers, progress)
  unmountUnder(dir)
  if (!args.keep) rmSync(dir, { recursive: true, force: true })
  else progress(`kept ${dir}`)
  cancelDirCleanup()
  clearTimeout(overall)
}

/** One line: `LOGINS` honest logins while `count` attacking connections are opened under `limits`. */
async function scenario (stack, name, limits, count) {
  if (limits !== null) await stack.setLimits(limits)
  const flood = await openFlood(stack.port, count)
  try {
    progress(`${name}: ${flood.held()} held, ${flood.closed()} closed by the bridge; ${LOGINS} logins`)
    const times = []
    for (let i = 0; i < LOGINS; i++) times.push(await stack.login())
    const held = flood.held()
    const s = summarize(times)
    const verdict = s.max <= TARGET_MS ? 'within' : 'OVER'
    return `login while flooded: ${name}: ${held} held during the logins; ssh ${USER}+${CONTAINER} true, ${s.count} runs: ` +
      `median ${ms(s.p50)} ms, max ${ms(s.max)} ms (${verdict} the ${TARGET_MS} ms target)`
  } finally {
    flood.close()
    if (limits !== null) await stack.setLimits({})
  }
}

/** `count` connections from ATTACKER, every other one sending a banner; resolves once each is open or closed. */
async function openFlood (port, count) {
  const sockets = []
  const closedByBridge = new Set()
  let ours = false
  await Promise.all(Array.from({ length: count }, (_, i) => new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: ATTACKER })
    sockets.push(socket)
    socket.on('error', () => {})
    socket.on('data', () => {})
    socket.once('connect', () => {
      if (i % 2 === 0) socket.write('SSH-2.0-OpenSSH_9.2p1 flood\r\n')
      resolve()
    })
    socket.once('close', () => {
      if (!ours) closedByBridge.add(socket)
      resolve()
    })
  })))
  // Refusals happen at accept; give the bridge a moment to have closed what it refuses.
  await sleep(500)
  return {
    held: () => sockets.filter((s) => !s.destroyed && !closedByBridge.has(s)).length,
    closed: () => closedByBridge.size,
    close: () => {
      ours = true
      for (const socket of sockets) socket.destroy()
    }
  }
}

async function startStack () {
  const stoppers = []
  try {
    const keysDir = path.join(dir, 'keys')
    const tokens = await issueTokens(keysDir, [USER, 'ops'])
    const clientKey = path.join(dir, 'id_ed25519')
    await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', `${USER}-bench`, '-f', clientKey])
    const port = await freeLoopbackPort()
    const policy = JSON.parse(await readFile(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8'))
    policy.users[USER].sshKeys = [(await readFile(`${clientKey}.pub`, 'utf8')).trim()]
    const policyFile = path.join(dir, 'policy.json')
    const bridge = { enabled: true, listen: `127.0.0.1:${port}`, loginGraceTime: '5m' }
    const writePolicy = (extra) => writeFile(policyFile, JSON.stringify({ ...policy, bridge: { ...bridge, ...extra } }, null, 2))
    await writePolicy({})

    progress(`starting portcullis with the SSH bridge on 127.0.0.1:${port} and a private dockerd asking it`)
    const dockerdDir = path.join(dir, 'dockerd')
    const plugin = await startPortcullis({
      dir: path.join(dir, 'plugin'),
      policyFile,
      keysDir,
      dockerSocket: dockerdSocket(dockerdDir),
      name: `portcullis-bench-flood-${randomBytes(4).toString('hex')}`
    })
    stoppers.push(plugin.stop)
    await waitForTcp(port)
    const dockerd = await startDockerd({ dir: dockerdDir, authorizationPlugin: plugin.name })
    stoppers.push(dockerd.stop)
    progress(`importing busybox and starting container ${CONTAINER} (project payments)`)
    const tar = await busyboxRootfsTar(path.join(dir, 'image'))
    const asOps = await dockerFor({ socket: dockerd.socket, configDir: path.join(dir, 'cli-ops'), token: tokens.ops })
    await startLabelledContainer(asOps, { tar, name: CONTAINER, project: 'payments' })

    const hostKey = (await readFile(path.join(keysDir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ')
    const knownHosts = path.join(dir, 'known_hosts')
    await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostKey}\n`)
    const sshArgv = [
      '-F', '/dev/null', '-p', String(port), '-i', clientKey,
      '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'UpdateHostKeys=no', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10', '-T',
      `${USER}+${CONTAINER}@127.0.0.1`, 'true'
    ]
    return {
      port,
      stoppers,
      login: () => timedSsh(sshArgv),
      setLimits: async (extra) => {
        await writePolicy(extra)
        await portcullis(['policy', 'reload', '--admin-socket', plugin.adminSocket])
      }
    }
  } catch (err) {
    for (const stop of stoppers.reverse()) await stop().catch(() => {})
    throw err
  }
}

/** Milliseconds from spawning ssh to its exit; throws unless it exited 0. */
function timedSsh (argv) {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now()
    const child = spawn(SSH_CLIENT, argv, { stdio: ['ignore', 'ignore', 'pipe'] })
    const cancel = onProcessEnd(() => killPids([child.pid]))
    let stderr = ''
    child.stderr.on('data', (chunk) => { stderr += chunk })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      cancel()
      if (code === 0) resolve(performance.now() - startedAt)
      else reject(new Error(`ssh exited with ${code}: ${stderr.trim()}`))
    })
  })
}


