// Which malloc serves this process. LevelDB's native allocations (a write batch per group commit, memtable arenas,
// compaction buffers) fragment glibc's malloc until serve's RSS grows by 100–700 bytes per decision without end;
// jemalloc keeps it bounded (BENCHMARKS.md, "Memory over millions of decisions"). An allocator can only be chosen
// before the process starts (LD_PRELOAD): the systemd unit and the managed plugin do so, and serve says when it
// runs without it.

import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'

export type Allocator = 'jemalloc' | 'glibc'

/** Where Debian's libjemalloc2 puts the library on amd64; the unit and the plugin bundle preload it. */
export const JEMALLOC_LIBRARY = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'

/** 'jemalloc' when a jemalloc library is mapped into this process (`maps` is /proc/self/maps' text). */
export function detectAllocator (maps: string = readProcMaps()): Allocator {
  return /\/libjemalloc\.so[^\n]*$/m.test(maps) ? 'jemalloc' : 'glibc'
}

function readProcMaps (): string {
  try {
    return readFileSync('/proc/self/maps', 'utf8')
  } catch {
    return ''
  }
}

/**
 * Logs the allocator once at start: info with jemalloc; a warning with glibc's malloc, saying how to preload jemalloc,
 * unless PORTCULLIS_ALLOCATOR=glibc says the operator chose it.
 */
export function logAllocator (logger: Logger, allocator: Allocator = detectAllocator(), env: NodeJS.ProcessEnv = process.env): void {
  if (allocator === 'jemalloc') {
    logger.info({ allocator }, 'native memory allocator: jemalloc')
    return
  }
  if (env.PORTCULLIS_ALLOCATOR === 'glibc') {
    logger.info({ allocator }, 'native memory allocator: glibc malloc (PORTCULLIS_ALLOCATOR=glibc)')
    return
  }
  logger.warn({ allocator, preload: env.LD_PRELOAD ?? null },
    `running on glibc malloc, not jemalloc: under sustained load serve's memory grows without bound (about 150 bytes per decision). Install jemalloc (Debian: apt-get install libjemalloc2) and start serve with LD_PRELOAD=${JEMALLOC_LIBRARY}, as the systemd unit and the managed plugin do; set PORTCULLIS_ALLOCATOR=glibc to keep glibc malloc without this warning`)
}
