// serve names the malloc it runs on: jemalloc when preloaded (the systemd unit and the managed plugin do), and a
// warning that says how to preload it when it runs on glibc's malloc, whose memory grows under load.

import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { Writable } from 'node:stream'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { detectAllocator, JEMALLOC_LIBRARY, logAllocator } from '../../src/daemon/allocator.js'

/** /proc/self/maps of a fresh node process started with `env`. */
function mapsOfNode (env: NodeJS.ProcessEnv): string {
  return execFileSync(process.execPath, ['-e', 'process.stdout.write(require("fs").readFileSync("/proc/self/maps", "utf8"))'], { env, encoding: 'utf8' })
}

function capture (): { logger: pino.Logger, lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { chunks.push(String(chunk)); done() } })
  return { logger: pino({ level: 'info' }, stream), lines: () => chunks.join('').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) }
}

const withoutPreload = { ...process.env, LD_PRELOAD: '' }

describe('the allocator serve runs on', () => {
  it.runIf(existsSync(JEMALLOC_LIBRARY))('is jemalloc in a process started with LD_PRELOAD of the library the unit names', () => {
    expect(detectAllocator(mapsOfNode({ ...withoutPreload, LD_PRELOAD: JEMALLOC_LIBRARY }))).toBe('jemalloc')
  })

  it('is glibc malloc in a process started without it', () => {
    expect(detectAllocator(mapsOfNode(withoutPreload))).toBe('glibc')
  })

  it('a preload of a missing library is ignored by the loader: still glibc, and the process runs', () => {
    const maps = execFileSync(process.execPath, ['-e', 'process.stdout.write(require("fs").readFileSync("/proc/self/maps", "utf8"))'], { env: { ...withoutPreload, LD_PRELOAD: '/nonexistent/libjemalloc.so.2' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    expect(detectAllocator(maps)).toBe('glibc')
  })

  it('is logged at info with jemalloc', () => {
    const { logger, lines } = capture()
    logAllocator(logger, 'jemalloc', {})
    expect(lines()).toEqual([expect.objectContaining({ level: 30, allocator: 'jemalloc' })])
  })

  it('without jemalloc: a warning that names the package and the preload', () => {
    const { logger, lines } = capture()
    logAllocator(logger, 'glibc', {})
    const [line] = lines()
    expect(line).toMatchObject({ level: 40, allocator: 'glibc' })
    expect(line!.msg).toContain('apt-get install libjemalloc2')
    expect(line!.msg).toContain(`LD_PRELOAD=${JEMALLOC_LIBRARY}`)
  })

  it('PORTCULLIS_ALLOCATOR=glibc: glibc by choice, logged at info', () => {
    const { logger, lines } = capture()
    logAllocator(logger, 'glibc', { PORTCULLIS_ALLOCATOR: 'glibc' })
    expect(lines()).toEqual([expect.objectContaining({ level: 30, allocator: 'glibc' })])
  })
})
