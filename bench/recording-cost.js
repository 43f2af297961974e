// What recording one session's output costs serve, without ssh, docker or the network: 256 MiB in 64 KiB chunks
// (text, then random bytes) through the bridge's recording path into a fresh audit store on disk, the way
// src/bridge/recorded-exec.ts drives it. `--old` uses the recorder stores had before frame files (asciicast text
// chunks in LevelDB: CastRecorder + CastSink), the default the frame file (RecordingSink). Prints the CPU seconds
// of this process (every thread: the hashing and LevelDB's compaction included), the wall time to durable, and
// what the store grew by on disk once it was closed.
//
//   npm run build && node bench/recording-cost.js [--old] [--mib 256] [--dir /var/tmp]

import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { AuditStore } from '../dist/audit/store.js'
import { CastRecorder, castHeader } from '../dist/audit/asciicast.js'

const { values: args } = parseArgs({ options: { old: { type: 'boolean', default: false }, mib: { type: 'string', default: '256' }, dir: { type: 'string', default: os.tmpdir() } } })
const CHUNK = 64 * 1024
const TOTAL = Number(args.mib) * 2 ** 20

function chunksOf (kind) {
  // 16 MiB of distinct data, reused: the cost is per byte, not per distinct byte.
  const pool = kind === 'text' ? Buffer.from(randomBytes(12 * 2 ** 20).toString('base64').replace(/(.{76})/g, '$1\n')).subarray(0, 16 * 2 ** 20) : randomBytes(16 * 2 ** 20)
  const chunks = []
  for (let at = 0; at < pool.length; at += CHUNK) chunks.push(pool.subarray(at, at + CHUNK))
  return chunks
}

function du (dir) {
  return Number(execFileSync('du', ['-s', '-B1', dir], { encoding: 'utf8' }).split('\t')[0])
}

async function once (kind) {
  const dir = mkdtempSync(path.join(args.dir, 'portcullis-recording-cost-'))
  try {
    const store = await AuditStore.open(dir)
    const session = 's-00000000000000b1'
    const start = await store.append({ kind: 'session', user: 'alice', authMethod: 'ssh', action: 'session.start', decision: 'allow', fields: { session } })
    const before = du(dir)
    const options = { width: 80, height: 24, startedAt: new Date(), user: 'alice', container: 'c', project: null, sessionId: session }
    const chunks = chunksOf(kind)
    const cpu = process.cpuUsage()
    const t0 = performance.now()
    let summary
    if (args.old) {
      const recorder = new CastRecorder(options)
      const sink = store.castSink(session, start.seq)
      sink.write(recorder.header() + '\n')
      for (let sent = 0, i = 0; sent < TOTAL; sent += CHUNK, i++) {
        recorder.output(chunks[i % chunks.length])
        const lines = recorder.drain()
        if (!sink.write(lines.join('\n') + '\n')) await new Promise((resolve) => sink.once('drain', resolve))
      }
      recorder.finish()
      const rest = recorder.drain()
      if (rest.length > 0) sink.write(rest.join('\n') + '\n')
      summary = await sink.finish()
    } else {
      const sink = await store.openRecording(session, start.seq, castHeader(options))
      for (let sent = 0, i = 0; sent < TOTAL; sent += CHUNK, i++) {
        if (!sink.output(chunks[i % chunks.length])) await new Promise((resolve) => sink.once('drain', resolve))
      }
      summary = await sink.finish()
    }
    const seconds = (performance.now() - t0) / 1000
    await store.close()
    const used = process.cpuUsage(cpu)
    const grew = du(dir) - before
    return { seconds, cpuSeconds: (used.user + used.system) / 1e6, grew, stored: summary.bytes }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const mib = (bytes) => (bytes / 2 ** 20).toFixed(1)
for (const kind of ['text', 'random']) {
  const r = await once(kind)
  process.stdout.write(`${args.old ? 'asciicast chunks in LevelDB' : 'frame file'}, ${args.mib} MiB of ${kind} in 64 KiB chunks: ` +
    `${r.cpuSeconds.toFixed(2)} CPU s (${(TOTAL / 2 ** 20 / r.cpuSeconds).toFixed(0)} MiB per CPU s), ${r.seconds.toFixed(2)} s to durable, ` +
    `recording ${mib(r.stored)} MiB, store +${mib(r.grew)} MiB on disk after close (${(r.grew / TOTAL).toFixed(2)}× the bytes)\n`)
}
