// `serve` on a store an older portcullis wrote moves the elevation requests and the ownership registry into the
// store's key spaces and carries on with them; on a store a newer portcullis wrote it stops with
// PORTCULLIS_AUDIT_LAYOUT_NEWER, and neither it nor `audit verify --data` changes the store (issue 13, item 1).
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync } from 'node:fs'
import path from 'node:path'
import { Level } from 'level'
import { describe, expect, it } from 'vitest'
import { LAYOUT_VERSION_KEY } from '../../src/audit/keys.js'
import { AuditStore } from '../../src/audit/store.js'
import { REPO_ROOT, removeDirSync, runPortcullisCli } from '../helpers/index.js'
import { pathToFileURL } from 'node:url'
import { onProcessEnd } from '../helpers/safety-net.js'
import { serveWorkspace } from '../helpers/serve-workspace.js'
import { rawEntries } from '../helpers/tamper.js'

const CONTAINER = 'c'.repeat(64)
/** A request alice made before the stop, whose time to be decided ran out while portcullis was stopped. */
const REQUEST = {
  id: 'r-0123456789ab', user: 'alice', project: 'payments', role: 'operator', heldRole: 'developer', ttlMs: 3_600_000,
  reason: 'incident 42', state: 'pending', createdAt: 1_760_000_000_000, pendingUntil: 1_760_000_900_000
}

const workspace = serveWorkspace('portcullis-layout-')
const { pathsIn, serveUntilExit } = workspace

/** A store with a few records and, as portcullis wrote them before key spaces, an elevation request and the
 * ownership registry (adoption done, one container owned); `layout` set, or none as then. */
async function storeAt (name: string, layout: string | null): Promise<string> {
  const { data } = pathsIn(name)
  const store = await AuditStore.open(data)
  await store.append({ kind: 'system', action: 'portcullis.start', reason: 'an earlier run' })
  await store.close()
  const db = new Level<string, string>(data, { createIfMissing: false })
  await db.open()
  await db.batch([
    layout === null ? { type: 'del', key: LAYOUT_VERSION_KEY } : { type: 'put', key: LAYOUT_VERSION_KEY, value: layout },
    { type: 'put', key: `e!req!${REQUEST.id}`, value: JSON.stringify(REQUEST) },
    { type: 'put', key: `w!e!container!${CONTAINER}`, value: JSON.stringify({ project: 'payments', via: 'create' }) },
    { type: 'put', key: 'w!adopted', value: '2026-01-01T00:00:00.000Z' }
  ], { sync: true })
  await db.close()
  return data
}

describe('the audit store layout under serve', () => {
  it('an older store is moved to the key spaces at start, and serve goes on with its requests and owners', { timeout: 90_000 }, async () => {
    const data = await storeAt('older', null)
    const serve = await workspace.startServe(pathsIn('older').dir, data)
    await serve.stop()

    const raw = await rawEntries(data)
    expect(raw.get(LAYOUT_VERSION_KEY)).toBe('2')
    expect([...raw.keys()].filter((key) => key.startsWith('e!') || key.startsWith('w!'))).toEqual([])
    expect(raw.get(`!ownership!e!container!${CONTAINER}`)).toBe(JSON.stringify({ project: 'payments', via: 'create' }))
    expect(raw.get('!ownership!adopted')).toBe('2026-01-01T00:00:00.000Z')
    // serve found the request where the migration put it: its time ran out while it was stopped, which it recorded
    // (and forgot the finished request).
    const exported = await runPortcullisCli(['audit', 'export', '--data', data, '--format', 'jsonl'])
    expect(exported.code, exported.stderr).toBe(0)
    const records = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as { action?: string, fields?: Record<string, unknown> })
    expect(records.filter((r) => r.action === 'elevation.expire' && JSON.stringify(r).includes(REQUEST.id)), exported.stdout).toHaveLength(1)
    const verified = await runPortcullisCli(['audit', 'verify', '--data', data])
    expect(verified.code, verified.stdout + verified.stderr).toBe(0)
  })

  it('a store a newer portcullis wrote stops serve with PORTCULLIS_AUDIT_LAYOUT_NEWER, and nothing changes it', { timeout: 60_000 }, async () => {
    const data = await storeAt('newer', '3')
    const before = await rawEntries(data)

    const served = await serveUntilExit(pathsIn('newer').dir, data)
    expect(served.code, served.stderr).toBe(2)
    expect(served.stderr).toContain('[PORTCULLIS_AUDIT_LAYOUT_NEWER]')
    expect(served.stderr).toContain('Upgrade portcullis')
    const verified = await runPortcullisCli(['audit', 'verify', '--data', data])
    expect(verified.code).toBe(2)
    expect(verified.stderr).toContain('[PORTCULLIS_AUDIT_LAYOUT_NEWER]')
    expect(await rawEntries(data)).toEqual(before)
  })

  it('a kill -9 at any point of the migration leaves the old layout or the new one, never a mix', { timeout: 300_000 }, async () => {
    // Enough entries that the one batch takes a while to build and write.
    const ENTRIES = 10_000
    const template = path.join(workspace.root, 'kill-template', 'data')
    const store = await AuditStore.open(template)
    await store.append({ kind: 'system', action: 'portcullis.start', reason: 'an earlier run' })
    await store.close()
    const db = new Level<string, string>(template, { createIfMissing: false })
    await db.open()
    const old: Array<{ type: 'put', key: string, value: string }> = []
    for (let i = 0; i < ENTRIES; i++) {
      const id = `r-${i.toString(16).padStart(12, '0')}`
      old.push({ type: 'put', key: `e!req!${id}`, value: JSON.stringify({ ...REQUEST, id }) })
      old.push({ type: 'put', key: `w!e!volume!v${i}`, value: JSON.stringify({ project: 'payments', via: 'create' }) })
    }
    await db.batch([{ type: 'del', key: LAYOUT_VERSION_KEY }, ...old, { type: 'put', key: 'w!adopted', value: '2026-01-01T00:00:00.000Z' }], { sync: true })
    await db.close()

    // A process that opens the store for writing (what serve and `audit bundle --data` do first), then closes it.
    const storeModule = pathToFileURL(path.join(REPO_ROOT, 'dist', 'audit', 'store.js')).href
    const opener = `const { AuditStore } = await import(${JSON.stringify(storeModule)}); await (await AuditStore.open(process.argv[1])).close()`
    const open = (dir: string): ChildProcess => spawn(process.execPath, ['--input-type=module', '-e', opener, dir], { stdio: 'ignore' })
    const timed = path.join(workspace.root, 'kill-timed')
    cpSync(template, timed, { recursive: true })
    const started = Date.now()
    const full = open(timed)
    await new Promise((resolve) => full.once('exit', resolve))
    expect(full.exitCode).toBe(0)
    const fullMs = Date.now() - started

    /** Which layout `dir` is at: all of one, or a mix. */
    const layoutOf = async (dir: string): Promise<string> => {
      const raw = await rawEntries(dir)
      const oldKeys = [...raw.keys()].filter((key) => key.startsWith('e!') || key.startsWith('w!')).length
      const newKeys = [...raw.keys()].filter((key) => key.startsWith('!elevation!') || key.startsWith('!ownership!')).length
      const layout = raw.get(LAYOUT_VERSION_KEY)
      if (layout === undefined && oldKeys === 2 * ENTRIES + 1 && newKeys === 0) return 'old'
      if (layout === '2' && oldKeys === 0 && newKeys === 2 * ENTRIES + 1) return 'new'
      return `mixed (layout ${String(layout)}, ${oldKeys} old keys, ${newKeys} new)`
    }
    expect(await layoutOf(timed), 'the open that ran to its end').toBe('new')

    // Killed from before the process began to past the time a whole open took.
    const outcomes: string[] = []
    for (let step = 0; step <= 12; step++) {
      const dir = path.join(workspace.root, `kill-${step}`)
      cpSync(template, dir, { recursive: true })
      const child = open(dir)
      const cancel = onProcessEnd(() => child.kill('SIGKILL'))
      await new Promise((resolve) => setTimeout(resolve, Math.round(fullMs * step / 10)))
      child.kill('SIGKILL')
      await new Promise((resolve) => child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve))
      cancel()
      outcomes.push(await layoutOf(dir))
      removeDirSync(dir)
    }
    expect(outcomes.filter((state) => state !== 'old' && state !== 'new'), outcomes.join(', ')).toEqual([])
    expect(outcomes[0], 'killed before it began').toBe('old')
  })
})
