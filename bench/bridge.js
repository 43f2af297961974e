// Figures 5–7 of `npm run bench`: the SSH bridge, measured with the real OpenSSH client against `serve` on a
// stack of its own (its own serve with the bridge enabled, its own private dockerd asking it, one labelled
// busybox container), so figures 1–4 are measured exactly as before and the bridge's memory is not mixed with
// their load. Each bridge figure is set against the same work done with `docker exec` through the same daemon,
// as the same user.
//
//   5. streaming throughput: `cat` of a 256 MiB file over ssh (recorded) vs. `docker exec`, in turns
//   6. spawn → first byte of `echo x` over ssh vs. `docker exec`, and TCP/unix connect → first byte
//   7. serve's memory while 20 sessions run at once
//   5b. the OpenSSH reference (issue 12, item 7): the same `cat` over Debian's sshd (bench/openssh.js) running
//      `docker exec -i`, unrecorded and recorded with util-linux `script`, for text and for random bytes, in turns
//      with the bridge; and the audit store's growth per byte the recorded bridge sessions carried
// They are measured, and printed, in the order 6, 7, 5, 5b (see measureBridge).
//
// Everything listens on loopback or on unix sockets under `dir`, is bounded in time and is stopped by pid.

import { execFile, execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { freeLoopbackPort, waitForTcp } from './loopback.js'
import { waitUntilQuiet } from './authz-load.js'
import { killPids, onProcessEnd, stopInReverse } from './cleanup.js'
import { busyboxRootfsTar, DOCKER_CLI, dockerFor, startLabelledContainer } from './docker-cli.js'
import { dockerdSocket, startDockerd } from './dockerd.js'
import { checkOpensshReference, SCRIPT_BINARY, startOpensshd } from './openssh.js'
import { issueTokens, portcullis, REPO_ROOT, startPortcullis } from './portcullis.js'
import { cpuSecondsOf, mainThreadCpuSecondsOf, memoryOf } from '../scripts/lib/procfs.js'
import { ms, percent } from './stats.js'

const run = promisify(execFile)

/** Debian's OpenSSH client, not whatever else is on PATH (the same as test/helpers/ssh.ts). */
const SSH_CLIENT = '/usr/bin/ssh'
const SSH_KEYGEN = '/usr/bin/ssh-keygen'
const CONTAINER = 'bench-bridge'
const USER = 'alice'
const TARGETS = { throughputRatio: 0.8, firstByteExtraMs: 150 }
const FILE_MIB = 256
const FILE_BYTES = FILE_MIB * 2 ** 20
const FILE = '/tmp/f'
/** The file of the other kind (random bytes, or text), for the OpenSSH reference only. */
const OTHER_FILE = '/tmp/g'
const THROUGHPUT_RUNS = 3
const FIRST_BYTE_RUNS = 20
const FIRST_BYTE_WARMUP = 2
const CONCURRENT_SESSIONS = 20
const MEMORY_SAMPLE_MS = 50
/** Each ssh or docker run is killed after this long; a 256 MiB cat slower than ~2 MiB/s is broken anyway. */
const RUN_LIMIT_MS = 120_000

/**
 * Starts the bridge stack in `dir` (which the caller owns and removes), prints figures 5–7 (and 5b unless
 * `sshd` is false) through `figure`, and stops everything it started. `cpuProfileDir` runs its serve under
 * `node --cpu-prof`.
 */
export async function measureBridge ({ dir, progress, figure, cpuProfileDir, binary = false, sshd = true }) {
  for (const program of [SSH_CLIENT, SSH_KEYGEN]) {
    if (!existsSync(program)) throw new Error(`${program} does not exist; install openssh-client (make system-deps), or run with --skip-bridge`)
  }
  if (sshd) checkOpensshReference()
  const stoppers = []
  try {
    const stack = await startBridgeStack(dir, stoppers, progress, cpuProfileDir, sshd)
    // Latency first, which also warms serve up; memory next, before the big transfers grow serve's heap.
    figure(await firstByteLine(stack, progress))
    figure(await memoryLine(stack, progress))
    const first = await measureCats(stack, progress, { binary, file: FILE, withDockerExec: true })
    figure(throughputLine(first))
    if (stack.sshd !== null) {
      const second = await measureCats(stack, progress, { binary: !binary, file: OTHER_FILE, withDockerExec: false })
      const ciphers = { bridgeCipher: await stack.bridgeCipher(), sshdCipher: await stack.sshd.cipher() }
      figure(opensshLine(binary ? [second, first] : [first, second], ciphers))
    }
  } finally {
    progress('stopping the bridge stack')
    await stopInReverse(stoppers, progress)
  }
}

// --- the stack ----------------------------------------------------------------------------------------------

async function startBridgeStack (dir, stoppers, progress, cpuProfileDir, withSshd) {
  await mkdir(dir, { recursive: true })
  const keysDir = path.join(dir, 'keys')
  // `keys init` also makes the bridge's host key, keysDir/ssh_host_ed25519_key.
  const tokens = await issueTokens(keysDir, [USER, 'ops'])
  const clientKey = path.join(dir, 'id_ed25519')
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', `${USER}-bench`, '-f', clientKey])
  const port = await freeLoopbackPort()

  const policy = JSON.parse(await readFile(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8'))
  policy.users[USER].sshKeys = [(await readFile(`${clientKey}.pub`, 'utf8')).trim()]
  policy.bridge = { enabled: true, listen: `127.0.0.1:${port}` }
  const policyFile = path.join(dir, 'policy.json')
  await writeFile(policyFile, JSON.stringify(policy, null, 2))

  progress(`starting portcullis with the SSH bridge on 127.0.0.1:${port} and a private dockerd asking it`)
  const dockerdDir = path.join(dir, 'dockerd')
  const plugin = await startPortcullis({
    dir: path.join(dir, 'plugin'),
    policyFile,
    keysDir,
    dockerSocket: dockerdSocket(dockerdDir),
    name: `portcullis-bench-bridge-${randomBytes(4).toString('hex')}`,
    cpuProfileDir
  })
  stoppers.push(plugin.stop)
  await waitForTcp(port, plugin.logFile)
  const dockerd = await startDockerd({ dir: dockerdDir, authorizationPlugin: plugin.name })
  stoppers.push(dockerd.stop)

  progress(`importing busybox and starting container ${CONTAINER} (project payments)`)
  const tar = await busyboxRootfsTar(path.join(dir, 'image'))
  const asOps = await dockerFor({ socket: dockerd.socket, configDir: path.join(dir, 'cli-ops'), token: tokens.ops })
  await startLabelledContainer(asOps, { tar, name: CONTAINER, project: 'payments' })
  // The user's own CLI config, for `docker exec` spawned below as a timed process.
  const aliceConfig = path.join(dir, 'cli-alice')
  const asAlice = await dockerFor({ socket: dockerd.socket, configDir: aliceConfig, token: tokens[USER] })

  const hostKey = readFileSync(path.join(keysDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')
  const knownHosts = path.join(dir, 'known_hosts')
  const knownHostsFor = (ports) => writeFileSync(knownHosts, ports.map((p) => `[127.0.0.1]:${p} ${hostKey}\n`).join(''))
  knownHostsFor([port])

  const sshArgv = ({ port: to = port, command, login = `${USER}+${CONTAINER}`, hosts = knownHosts, logLevel = 'ERROR' }) => [
    '-F', '/dev/null', '-p', String(to), '-i', clientKey,
    '-o', `LogLevel=${logLevel}`,
    '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${hosts}`, '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'UpdateHostKeys=no', '-o', 'PasswordAuthentication=no', '-o', 'KbdInteractiveAuthentication=no',
    '-o', 'ConnectTimeout=10', '-T',
    `${login}@127.0.0.1`, command
  ]
  const dockerEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DOCKER_')))
  const dockerArgv = ({ socket = dockerd.socket, command }) => ['--config', aliceConfig, '--host', `unix://${socket}`, 'exec', CONTAINER, ...command]

  let sshd = null
  if (withSshd) {
    progress('starting the OpenSSH reference: Debian\'s sshd in a mount namespace of its own, on a free loopback port')
    const sshdDir = path.join(dir, 'sshd')
    const server = await startOpensshd({ dir: sshdDir, clientPublicKey: await readFile(`${clientKey}.pub`, 'utf8') })
    stoppers.push(server.stop)
    const sshdKnownHosts = path.join(dir, 'known_hosts_sshd')
    writeFileSync(sshdKnownHosts, `${server.knownHostsLine}\n`)
    // As the operator: `exec -i` is interactive, which alice's bridge-only role may only do through the bridge.
    const dockerLine = (file) => [DOCKER_CLI, '--config', path.join(dir, 'cli-ops'), '--host', `unix://${dockerd.socket}`, 'exec', '-i', CONTAINER, 'cat', file].map(shellQuote).join(' ')
    const recording = path.join(sshdDir, 'session.typescript')
    const viaSshd = (command, logLevel) => sshArgv({ port: server.port, command, login: 'root', hosts: sshdKnownHosts, logLevel })
    sshd = {
      ...server,
      recording,
      cat: (file) => timedRun(SSH_CLIENT, viaSshd(dockerLine(file))),
      // Output processing off on script's pty, so the client gets the file's bytes unchanged (no \n → \r\n).
      recordedCat: (file) => timedRun(SSH_CLIENT, viaSshd([SCRIPT_BINARY, '-q', '-f', '-e', '-c', `stty -opost -echo; exec ${dockerLine(file)}`, recording].map(shellQuote).join(' '))),
      cipher: () => negotiatedCipher(viaSshd('true', 'DEBUG1'))
    }
  }

  return {
    dir,
    port,
    plugin,
    dockerd,
    knownHostsFor,
    asAlice,
    asOps,
    sshd,
    ssh: (options) => timedRun(SSH_CLIENT, sshArgv(options)),
    bridgeCipher: () => negotiatedCipher(sshArgv({ command: 'true', logLevel: 'DEBUG1' })),
    dockerExec: (options) => timedRun(DOCKER_CLI, dockerArgv(options), { env: dockerEnv })
  }
}

/** `word` as one word for a POSIX shell. */
function shellQuote (word) {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`
}

/** The cipher (and MAC) the OpenSSH client settles on with a server, from its debug output. */
async function negotiatedCipher (argv) {
  const result = await timedRun(SSH_CLIENT, argv)
  const line = /kex: server->client cipher: (\S+) MAC: (\S+)/.exec(result.stderr)
  if (line === null) return 'unknown'
  return line[2] === '<implicit>' ? line[1] : `${line[1]} + ${line[2]}`
}



/**
 * Runs a program with stdin on /dev/null and times it: spawn, first stdout byte, end. stdout is only counted.
 * The process's CPU is sampled every 50 ms while it runs (the last sample is a little short of its total).
 */
function timedRun (file, args, { env = process.env, timeoutMs = RUN_LIMIT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now()
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const cancelSafetyNet = onProcessEnd(() => killPids([child.pid]))
    let bytes = 0
    let firstByteAt = null
    let stderr = ''
    let cpuSeconds = 0
    let timedOut = false
    child.stdout.on('data', (chunk) => {
      if (firstByteAt === null) firstByteAt = performance.now()
      bytes += chunk.length
    })
    child.stderr.on('data', (chunk) => { if (stderr.length < 4096) stderr += chunk })
    const sampler = setInterval(() => { cpuSeconds = cpuSecondsOf(child.pid) ?? cpuSeconds }, 50)
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, timeoutMs)
    const done = () => {
      clearInterval(sampler)
      clearTimeout(timer)
      cancelSafetyNet()
    }
    child.once('error', (err) => {
      done()
      reject(new Error(`could not run ${file}: ${err.message}`))
    })
    child.once('close', (code, signal) => {
      done()
      const endedAt = performance.now()
      const result = { code, signal, bytes, stderr: stderr.trim(), startedAt, firstByteAt, endedAt, seconds: (endedAt - startedAt) / 1000, cpuSeconds }
      if (timedOut) reject(new Error(`${path.basename(file)} ${args.at(-1)} did not finish within ${timeoutMs / 1000} s and was killed (${bytes} bytes out; ${result.stderr})`))
      else resolve(result)
    })
  })
}

/** Fails with what the program said unless it exited 0. */
function expectSuccess (what, result) {
  if (result.code !== 0) throw new Error(`${what} exited with ${result.code ?? result.signal}: ${result.stderr || '(nothing on stderr)'}`)
  return result
}

// --- figure 5: throughput, and 5b: the OpenSSH reference ----------------------------------------------------

/**
 * Writes a FILE_MIB file in the container and cats it THROUGHPUT_RUNS times each way, in turns: over the bridge
 * (recorded), with `docker exec` when `withDockerExec`, and over the OpenSSH reference unrecorded and recorded
 * with `script` when the stack has one. `binary`: random bytes, the worst case for a recording (asciicast is
 * text: invalid UTF-8 is stored as U+FFFD and escaped, 2.4× the size). Otherwise text that compresses as little:
 * base64 of random bytes, in 76-column lines.
 */
async function measureCats (stack, progress, { binary, file, withDockerExec }) {
  const kind = binary ? 'random' : 'text (base64 lines)'
  progress(`writing a ${FILE_MIB} MiB file of ${kind} in ${CONTAINER}`)
  const make = binary
    ? `dd if=/dev/urandom of=${file} bs=1048576 count=${FILE_MIB} 2>/dev/null`
    : `head -c ${FILE_BYTES} /dev/urandom | base64 | head -c ${FILE_BYTES} > ${file}`
  // A shell string: the operator's role may run one with docker exec, the developer's only through the bridge.
  await stack.asOps(['exec', CONTAINER, 'sh', '-c', make])
  const cat = ['cat', file]
  const variants = {
    ssh: { what: 'ssh (bridge, recorded)', run: () => stack.ssh({ command: cat.join(' ') }) }
  }
  if (withDockerExec) variants.docker = { what: 'docker exec', run: () => stack.dockerExec({ command: cat }) }
  if (stack.sshd !== null) {
    variants.sshd = { what: 'ssh (OpenSSH sshd)', run: () => stack.sshd.cat(file) }
    variants.script = {
      what: 'ssh (OpenSSH sshd, recorded with script)',
      run: async () => {
        try {
          const result = await stack.sshd.recordedCat(file)
          return { ...result, recordingBytes: statSync(stack.sshd.recording).size }
        } finally {
          rmSync(stack.sshd.recording, { force: true })
        }
      }
    }
  }
  const names = Object.keys(variants)
  // A short read each first: the first exec of a fresh daemon, and the first login, are slower.
  const warmUp = ['head', '-c', '1048576', file]
  expectSuccess('docker exec head (warm-up)', await stack.dockerExec({ command: warmUp }))
  expectSuccess('ssh head (warm-up)', await stack.ssh({ command: warmUp.join(' ') }))
  if (stack.sshd !== null) expectSuccess('ssh to sshd (warm-up)', await stack.sshd.cat('/etc/hostname'))
  await waitUntilQuiet(progress)
  progress(`cat of ${FILE_MIB} MiB, ${THROUGHPUT_RUNS} runs each over ${names.map((name) => variants[name].what).join(', ')}, taking turns`)

  const pid = stack.plugin.pid
  resetPeakMemory(pid)
  const dataDir = path.join(stack.dir, 'plugin', 'data')
  const storeBefore = { disk: diskBytes(dataDir), apparent: diskBytes(dataDir, true) }
  const runs = Object.fromEntries(names.map((name) => [name, []]))
  for (let round = 0; round < THROUGHPUT_RUNS; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const before = cpuOf(stack)
      const result = expectSuccess(`${variants[name].what} cat ${file}`, await variants[name].run())
      const cpu = cpuSince(stack, before, result.seconds)
      // serve may still be writing the recording after the client has it all; the next run must not pay for it.
      const tail = await waitUntilIdle(pid)
      runs[name].push({ ...result, mibPerSecond: result.bytes / 2 ** 20 / result.seconds, cpu, client: result.cpuSeconds / result.seconds, tail })
    }
  }
  const serveMemory = memoryOf(pid)
  const recorded = await recordedCats(stack.plugin.adminSocket, THROUGHPUT_RUNS, file)
  const storeGrowth = { disk: diskBytes(dataDir) - storeBefore.disk, apparent: diskBytes(dataDir, true) - storeBefore.apparent }
  return { binary, kind, runs, serveMemory, recorded, storeGrowth }
}

const medianRate = (list) => medianBy(list, (r) => r.mibPerSecond)

/** The lowest and highest MiB/s of `list`, rounded. */
function rateRange (list) {
  const rates = list.map((r) => r.mibPerSecond).sort((a, b) => a - b)
  return `${Math.round(rates[0])}–${Math.round(rates.at(-1))}`
}

const allWhole = (list) => list.every((r) => r.bytes === FILE_BYTES)
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`

/** Figure 5: the bridge against `docker exec` through the same daemon. */
function throughputLine ({ kind, runs, serveMemory, recorded, storeGrowth }) {
  const ssh = medianRate(runs.ssh)
  const docker = medianRate(runs.docker)
  const ratio = ssh.mibPerSecond / docker.mibPerSecond
  const both = [...runs.ssh, ...runs.docker]
  const cpu = (r) => `serve ${percent(r.cpu.serve)} (main thread ${percent(r.cpu.serveMain)}), dockerd ${percent(r.cpu.dockerd)}, client ${percent(r.client)}`
  const tail = medianBy(runs.ssh, (r) => r.tail.seconds).tail
  return `bridge throughput, cat of a ${FILE_MIB} MiB ${kind} file, ${THROUGHPUT_RUNS} runs each in turns: ssh (recorded) ${Math.round(ssh.mibPerSecond)} MiB/s` +
    ` vs. docker exec ${Math.round(docker.mibPerSecond)} MiB/s through the same daemon (medians; ranges ${rateRange(runs.ssh)} and ${rateRange(runs.docker)}), ratio ${ratio.toFixed(2)}×` +
    ` [target ≥ ${TARGETS.throughputRatio}×: ${met(ratio >= TARGETS.throughputRatio)}]` +
    `; bytes received ${allWhole(both) ? `${FILE_BYTES} each: ok` : `MISMATCH (${both.map((r) => r.bytes).join(', ')})`}` +
    `; CPU of a core during the median runs: ssh ${cpu(ssh)}; docker exec ${cpu(docker)}` +
    `; after an ssh run serve stayed busy ${tail.seconds.toFixed(1)} s more (${tail.cpuSeconds.toFixed(1)} CPU s; median)` +
    `; recorded: ${recorded}, audit store +${mib(storeGrowth.disk)} on disk (${storeGrowthPerByte(storeGrowth.disk, THROUGHPUT_RUNS)}); serve VmHWM during the runs ${mib(serveMemory.peakKib * 1024)}` +
    (runs.sshd === undefined ? '' : '; the OpenSSH runs taken in the same turns are in the next line')
}

/**
 * Figure 5b: the recorded bridge against Debian's sshd running the same `docker exec`, unrecorded and recorded
 * with `script`, for text and for random bytes; and the audit store's growth per byte the bridge sessions carried.
 */
function opensshLine (measurements, { bridgeCipher, sshdCipher }) {
  const parts = measurements.map(({ kind, runs, recorded, storeGrowth }) => {
    const [bridge, plain, script] = [runs.ssh, runs.sshd, runs.script].map(medianRate)
    const all = [...runs.ssh, ...runs.sshd, ...runs.script]
    const recordings = runs.script.map((r) => r.recordingBytes)
    const carried = runs.ssh.reduce((sum, r) => sum + r.bytes, 0)
    const perByte = storeGrowth.apparent / carried
    const vsPlain = bridge.mibPerSecond / plain.mibPerSecond
    return `${kind}: bridge (recorded) ${Math.round(bridge.mibPerSecond)} MiB/s (${rateRange(runs.ssh)}), sshd ${Math.round(plain.mibPerSecond)} (${rateRange(runs.sshd)}),` +
      ` sshd + script ${Math.round(script.mibPerSecond)} (${rateRange(runs.script)});` +
      ` bridge / sshd ${vsPlain.toFixed(2)}× [target ≥ 1.0×: ${met(vsPlain >= 1)}], bridge / sshd + script ${(bridge.mibPerSecond / script.mibPerSecond).toFixed(2)}×` +
      `; bytes received ${allWhole(all) ? `${FILE_BYTES} each: ok` : `MISMATCH (${all.map((r) => r.bytes).join(', ')})`}` +
      `, script's file ${recordings.every((bytes) => bytes >= FILE_BYTES) ? `${mib(median(recordings))} each: ok` : `SHORT (${recordings.join(', ')} bytes)`}` +
      `; client CPU bridge ${percent(bridge.client)}, sshd ${percent(plain.client)}` +
      `; audit store growth per byte the bridge sessions carried ${perByte.toFixed(2)} (du -sb +${mib(storeGrowth.apparent)} for ${mib(carried)}) [target ≤ 1.1: ${met(perByte <= 1.1)}]` +
      `; recorded: ${recorded}`
  })
  return `bridge vs. OpenSSH sshd (Debian, own mount namespace, loopback; \`docker exec -i\` through the same daemon), cat of ${FILE_MIB} MiB, ${THROUGHPUT_RUNS} runs each in turns, medians (ranges):` +
    ` ${parts.join(' | ')}; ciphers: bridge ${bridgeCipher}, sshd ${sshdCipher}`
}

/**
 * Waits until `pid` uses under 5% of a core over 200 ms (at most `limitMs`); resolves with how long that took and
 * the CPU seconds it used meanwhile.
 */
async function waitUntilIdle (pid, limitMs = 60_000) {
  const started = performance.now()
  const cpuAtStart = cpuSecondsOf(pid)
  let last = cpuAtStart
  for (;;) {
    await sleep(200)
    const now = cpuSecondsOf(pid)
    if (now === null || now - last < 0.01 || performance.now() - started > limitMs) {
      // The quiet 200 ms at the end were not part of the work.
      return { seconds: Math.max(0, (performance.now() - started - 200) / 1000), cpuSeconds: (now ?? last) - cpuAtStart }
    }
    last = now
  }
}

function cpuOf ({ plugin, dockerd }) {
  return { serve: cpuSecondsOf(plugin.pid), serveMain: mainThreadCpuSecondsOf(plugin.pid), dockerd: cpuSecondsOf(dockerd.pid) }
}

/** Each process's CPU since `before`, as a share of one core over `seconds`. */
function cpuSince (stack, before, seconds) {
  const now = cpuOf(stack)
  return Object.fromEntries(Object.keys(before).map((name) => [name, (now[name] - before[name]) / seconds]))
}

/** The run with the median of `value`. */
function medianBy (list, value) {
  const sorted = [...list].sort((a, b) => value(a) - value(b))
  return sorted[Math.floor(sorted.length / 2)]
}

function median (values) {
  return medianBy(values, (v) => v)
}

const met = (ok) => ok ? 'met' : 'MISSED'

/**
 * What the audit store says about the measured cat sessions: each must have ended
 * with the whole file counted as output, and its recording must be there.
 */
async function recordedCats (adminSocket, expected, file) {
  const deadline = Date.now() + 10_000
  let cats = []
  for (;;) {
    const sessions = JSON.parse(await portcullis(['audit', 'sessions', '--json', '-n', '1000', '--user', USER, '--admin-socket', adminSocket]))
    cats = sessions.filter((s) => (s.command ?? []).join(' ').endsWith(`cat ${file}`))
    // session.end may be written a moment after the client has its exit status.
    if ((cats.length >= expected && cats.every((s) => s.endedAt !== undefined)) || Date.now() > deadline) break
    await sleep(200)
  }
  // A recording file (`recording`, raw frames) or, before those, asciicast chunks in LevelDB (`cast`).
  const whole = cats.filter((s) => s.bytesOut === FILE_BYTES && ((s.recording?.frames ?? 0) > 1 || (s.cast?.chunks ?? 0) > 0))
  const castMib = cats.map((s) => (s.recording?.bytes ?? s.cast?.bytes ?? 0) / 2 ** 20)
  const ok = cats.length === expected && whole.length === expected
  const what = cats.some((s) => s.recording !== undefined) ? 'recording file (raw frames)' : 'asciicast text'
  return `${cats.length} cat sessions, ${whole.length} with bytesOut = ${FILE_BYTES} and a recording (${ok ? 'ok' : 'MISMATCH'}),` +
    ` recording ${castMib.length > 0 ? `${median(castMib).toFixed(1)} MiB of ${what} each` : 'missing'}`
}

/** The audit store's growth on disk per byte the measured sessions sent (what their recordings cost). */
function storeGrowthPerByte (storeGrowth, sessions) {
  return `${(storeGrowth / (sessions * FILE_BYTES)).toFixed(2)}× the ${sessions * FILE_MIB} MiB recorded`
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0), so a peak read later belongs to what ran since. */
function resetPeakMemory (pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** What `dir` takes on disk, or with `apparent` the sum of its files' sizes (`du -sb`). */
function diskBytes (dir, apparent = false) {
  try {
    return Number(execFileSync('du', apparent ? ['-sb', dir] : ['-s', '-B1', dir], { encoding: 'utf8' }).split('\t')[0])
  } catch {
    return NaN
  }
}

// --- figure 6: connect to first byte ------------------------------------------------------------------------

async function firstByteLine (stack, progress) {
  // Relays that note when the client's connection arrives, so spawn → connect (the client starting up) can be
  // told from connect → first byte (the server's side: SSH handshake and login, or the API calls, then the exec).
  const sshRelay = await startRelay({ listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: stack.port } })
  const dockerRelay = await startRelay({ listen: { path: path.join(stack.dir, 'relay-docker.sock') }, target: { path: stack.dockerd.socket } })
  stack.knownHostsFor([stack.port, sshRelay.port])
  try {
    const kinds = {
      ssh: { relay: sshRelay, run: () => stack.ssh({ port: sshRelay.port, command: 'echo x' }) },
      docker: { relay: dockerRelay, run: () => stack.dockerExec({ socket: dockerRelay.path, command: ['echo', 'x'] }) }
    }
    const once = async (kind) => {
      kinds[kind].relay.reset()
      const result = expectSuccess(`${kind === 'ssh' ? 'ssh' : 'docker exec'} echo x`, await kinds[kind].run())
      if (result.bytes !== 2 || result.firstByteAt === null) throw new Error(`${kind} echo x printed ${result.bytes} bytes, expected 2`)
      const connectedAt = kinds[kind].relay.firstConnectionAt()
      return { spawnMs: result.firstByteAt - result.startedAt, connectMs: connectedAt === null ? NaN : result.firstByteAt - connectedAt, totalMs: result.endedAt - result.startedAt }
    }
    for (let i = 0; i < FIRST_BYTE_WARMUP; i++) {
      await once('ssh')
      await once('docker')
    }
    await waitUntilQuiet(progress)
    progress(`echo x, ${FIRST_BYTE_RUNS} runs each over ssh and docker exec, taking turns`)
    const runs = { ssh: [], docker: [] }
    for (let i = 0; i < FIRST_BYTE_RUNS; i++) {
      for (const kind of i % 2 === 0 ? ['ssh', 'docker'] : ['docker', 'ssh']) runs[kind].push(await once(kind))
    }
    const p50 = (kind, field) => median(runs[kind].map((r) => r[field]))
    const sshMs = p50('ssh', 'spawnMs')
    const dockerMs = p50('docker', 'spawnMs')
    const extra = sshMs - dockerMs
    const max = (kind) => Math.max(...runs[kind].map((r) => r.spawnMs))
    return `bridge connect-to-first-byte, \`echo x\`, ${FIRST_BYTE_RUNS} runs each in turns (medians): ssh spawn → first byte ${ms(sshMs)} ms (TCP connect → first byte ${ms(p50('ssh', 'connectMs'))} ms; max ${ms(max('ssh'))} ms)` +
      ` vs. docker exec spawn → first byte ${ms(dockerMs)} ms (unix connect → first byte ${ms(p50('docker', 'connectMs'))} ms; max ${ms(max('docker'))} ms), difference ${extra >= 0 ? '+' : ''}${ms(extra)} ms` +
      ` [target ≤ +${TARGETS.firstByteExtraMs} ms: ${met(extra <= TARGETS.firstByteExtraMs)}]` +
      `; whole run ${ms(p50('ssh', 'totalMs'))} vs. ${ms(p50('docker', 'totalMs'))} ms; both through a relay in the bench process that times the connect`
  } finally {
    await sshRelay.close()
    await dockerRelay.close()
  }
}

/**
 * A byte-for-byte relay from `listen` (host/port, or a unix socket path) to `target`, remembering when the first
 * connection since `reset()` arrived.
 */
async function startRelay ({ listen, target }) {
  let firstAt = null
  const sockets = new Set()
  const track = (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => {})
  }
  // Half-open allowed: the docker CLI shuts its side of an exec's hijacked connection while the output still flows.
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    if (firstAt === null) firstAt = performance.now()
    const upstream = net.connect({ ...target, noDelay: true, allowHalfOpen: true })
    track(client)
    track(upstream)
    client.pipe(upstream).pipe(client)
    client.once('close', () => upstream.destroy())
    upstream.once('close', () => client.destroy())
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen, resolve)
  })
  return {
    port: server.address()?.port,
    path: listen.path,
    reset: () => { firstAt = null },
    firstConnectionAt: () => firstAt,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
  }
}

// --- figure 7: memory ---------------------------------------------------------------------------------------

async function memoryLine (stack, progress) {
  const pid = stack.plugin.pid
  const command = 'sleep 5; echo done'
  progress(`${CONCURRENT_SESSIONS} concurrent ssh sessions (\`${command}\`), sampling serve's memory every ${MEMORY_SAMPLE_MS} ms`)
  await sleep(1000) // let the previous figure's sessions and garbage settle
  const before = memoryOf(pid)
  const peakReset = resetPeakMemory(pid)
  let peakRss = before.rssKib
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, memoryOf(pid).rssKib)
    } catch {
      // serve gone: the sessions fail and say so
    }
  }, MEMORY_SAMPLE_MS)
  let results
  try {
    results = await Promise.all(Array.from({ length: CONCURRENT_SESSIONS }, () => stack.ssh({ command })))
  } finally {
    clearInterval(sampler)
  }
  const during = memoryOf(pid)
  await sleep(2000)
  const after = memoryOf(pid)
  const ok = results.filter((r) => r.code === 0 && r.bytes === 'done\n'.length)
  const failed = results.find((r) => r.code !== 0)
  const durations = results.map((r) => r.seconds)
  const mib = (kib) => `${(kib / 1024).toFixed(1)} MiB`
  const perSession = (peakRss - before.rssKib) / CONCURRENT_SESSIONS
  return `serve memory with ${CONCURRENT_SESSIONS} concurrent bridge sessions (\`${command}\`): VmRSS ${mib(before.rssKib)} before, peak ${mib(peakRss)} while they ran` +
    ` (sampled every ${MEMORY_SAMPLE_MS} ms; VmHWM ${mib(during.peakKib)}${peakReset ? '' : ' since serve started: clear_refs was refused'}), ${mib(after.rssKib)} 2 s after;` +
    ` ≈ ${mib(perSession)} per session` +
    `; ${ok.length}/${CONCURRENT_SESSIONS} sessions ended with "done"${failed === undefined ? '' : ` (first failure: ${failed.code ?? failed.signal} ${failed.stderr.slice(0, 160)})`}, each after ${median(durations).toFixed(1)} s (median; slowest ${Math.max(...durations).toFixed(1)} s)`
}
