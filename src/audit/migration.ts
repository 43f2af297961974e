// The store's key layout, versioned (`s!layout`, keys.ts). Opening a store for writing brings an older layout up
// to this build's in one synced batch together with the version bump, so a crash at any point leaves the old
// layout or the new one, never a mix. A store written by a newer build is refused, by readers too. Readers that
// must not write (`audit verify`, `audit export --data`) read records, whose keys every layout so far shares, and
// migrate nothing.

import type { Logger } from 'pino'
import { AuditError } from './errors.js'
import { KEY_SPACES, LAYOUT_VERSION, LAYOUT_VERSION_KEY, prefixRange, type KeySpaceName } from './keys.js'
import type { AuditDb } from './level.js'
import { sublevelOf } from './key-space.js'

type Operation =
  | { type: 'put', key: string, value: string, sublevel?: ReturnType<typeof sublevelOf> }
  | { type: 'del', key: string }

/** The store's layout version, 1 when it has none (stores from before layouts were versioned), null when the
 * entry is not a version; and the entry as stored. */
async function readLayoutVersion (db: AuditDb): Promise<{ version: number | null, raw: string | undefined }> {
  const raw = await db.get(LAYOUT_VERSION_KEY)
  if (raw === undefined) return { version: 1, raw }
  const version = Number(raw)
  return { version: Number.isSafeInteger(version) && version >= 1 && String(version) === raw ? version : null, raw }
}

/** The layout version when this build knows it; PORTCULLIS_AUDIT_LAYOUT_NEWER otherwise. */
function knownLayout (dir: string, { version, raw }: { version: number | null, raw: string | undefined }): number {
  if (version === null || version > LAYOUT_VERSION) {
    throw new AuditError('PORTCULLIS_AUDIT_LAYOUT_NEWER', [dir, JSON.stringify(raw), String(LAYOUT_VERSION)])
  }
  return version
}

/** What a read-only open checks, writing nothing: refuses a store of a layout this build does not know
 * (PORTCULLIS_AUDIT_LAYOUT_NEWER). A version entry LevelDB cannot read is left to the reads that follow, which
 * name the damage as they did before layouts were versioned. */
export async function refuseUnknownLayout (db: AuditDb, dir: string): Promise<void> {
  let layout: Awaited<ReturnType<typeof readLayoutVersion>>
  try {
    layout = await readLayoutVersion(db)
  } catch {
    return
  }
  knownLayout(dir, layout)
}

/**
 * Brings the store in `dir` to this build's layout; call it before anything else writes. Layout 1 → 2 moves the
 * elevation requests (`e!…`) and the ownership registry (`w!…`) into their sublevels. Throws
 * PORTCULLIS_AUDIT_LAYOUT_NEWER for a store a newer portcullis wrote (or whose version entry is unreadable).
 * Resolves with the entries moved.
 */
export async function migrateLayout (db: AuditDb, dir: string, logger?: Logger): Promise<number> {
  const version = knownLayout(dir, await readLayoutVersion(db))
  if (version === LAYOUT_VERSION) return 0
  const operations: Operation[] = []
  for (const name of Object.keys(KEY_SPACES) as KeySpaceName[]) {
    const { legacyPrefix } = KEY_SPACES[name]
    if (legacyPrefix === null) continue
    const sublevel = sublevelOf(db, name)
    for await (const [key, value] of db.iterator(prefixRange(legacyPrefix))) {
      operations.push({ type: 'del', key })
      operations.push({ type: 'put', sublevel, key: key.slice(legacyPrefix.length), value })
    }
  }
  const moved = operations.length / 2
  operations.push({ type: 'put', key: LAYOUT_VERSION_KEY, value: String(LAYOUT_VERSION) })
  // One batch: LevelDB writes it to its log as one record, so a crash keeps all of it or none.
  await db.batch(operations, { sync: true })
  if (moved > 0) logger?.info({ dir, entries: moved, layout: LAYOUT_VERSION }, 'audit store layout upgraded: elevation and ownership entries moved into their key spaces')
  return moved
}
