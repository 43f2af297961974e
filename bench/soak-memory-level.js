// The LevelDB-alone half of bench/soak-memory.js, run as its own process so that its RSS is LevelDB's and
// Node's alone: `total` batches shaped like AuditStore #flush writes them (one ~700-byte record, four
// empty-valued index keys, the head), `inFlight` at a time, with or without sync, with the store's options.
// It reports progress to its parent over IPC (when it has one): { type: 'progress', done } and { type: 'done', done }.

import { Level } from 'level'

const { dir, total, inFlight, sync, writeBufferSize, cacheSize, maxOpenFiles, batch: batchForm, gcEvery } = JSON.parse(process.argv[2])

const options = { createIfMissing: true, keyEncoding: 'utf8', valueEncoding: 'utf8', writeBufferSize }
if (cacheSize !== undefined) options.cacheSize = cacheSize
if (maxOpenFiles !== undefined) options.maxOpenFiles = maxOpenFiles
// Without a parent (run alone, e.g. under heaptrack) it just writes.
const send = process.send?.bind(process) ?? (() => {})
const db = new Level(dir, options)
await db.open()

const filler = 'x'.repeat(560)
const hex = (seq) => seq.toString(16).padStart(16, '0')
let next = 1
let done = 0
let lastReport = 0

async function writer () {
  while (next <= total) {
    const seq = next++
    const h = hex(seq)
    const record = `{"seq":${seq},"kind":"decision","user":"alice","project":"payments","container":"bench-target","hash":"${h}${h}${h}${h}","f":"${filler}"}`
    const puts = [
      ['r!' + h, record],
      ['x!u!alice!' + h, ''],
      ['x!p!payments!' + h, ''],
      ['x!c!bench-target!' + h, ''],
      ['x!c!6bb21ffec17d!' + h, ''],
      ['s!head', `{"seq":${seq},"hash":"${h}${h}${h}${h}"}`]
    ]
    if (batchForm === 'array') {
      await db.batch(puts.map(([key, value]) => ({ type: 'put', key, value })), { sync })
    } else {
      const batch = db.batch()
      for (const [key, value] of puts) batch.put(key, value)
      await batch.write({ sync })
    }
    done++
    if (gcEvery !== undefined && done % gcEvery === 0) globalThis.gc()
    if (done - lastReport >= 10_000) {
      lastReport = done
      send({ type: 'progress', done, heapMib: process.memoryUsage().heapUsed / 1048576 })
    }
  }
}

await Promise.all(Array.from({ length: inFlight }, writer))
send({ type: 'progress', done })
await db.close()
send({ type: 'done', done })
if (process.connected) process.disconnect()
