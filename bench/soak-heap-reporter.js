// Preloaded into `serve` by bench/soak-memory.js (`node --import`): writes the V8 heap's size to
// PORTCULLIS_SOAK_HEAP_FILE every second, for the soak to print next to the RSS it reads from /proc.

import { writeFileSync } from 'node:fs'

const file = process.env.PORTCULLIS_SOAK_HEAP_FILE
if (file !== undefined) {
  setInterval(() => {
    const { heapUsed, heapTotal, external } = process.memoryUsage()
    const mib = (bytes) => Math.round(bytes / 1048576 * 10) / 10
    writeFileSync(file, JSON.stringify({ heapUsedMib: mib(heapUsed), heapTotalMib: mib(heapTotal), externalMib: mib(external) }))
  }, 1000).unref()
}
