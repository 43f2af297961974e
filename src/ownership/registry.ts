// Which project owns each container, network and volume that portcullis let someone create: the only source of
// an object's project (labels are data users control: the daemon copies an image's labels into the containers
// the classic builder makes). Kept beside the audit records, in the audit store's `ownership` key space
// (src/audit/keys.ts declares its keys: `e!<kind>!<id>` → JSON, `adopted`), loaded into memory at start and
// written (fsync'd) before the daemon may answer the create. The audit chain is the evidence; these entries are
// only the working state.

import type { Logger } from 'pino'
import type { KeySpace } from '../audit/key-space.js'
import { OWNERSHIP_ADOPTED_KEY, OWNERSHIP_ENTRY_RANGE, ownershipEntryFromKey, ownershipEntryKey } from '../audit/keys.js'
import { parseJsonObject } from '../json-object.js'

export type OwnedKind = 'container' | 'network' | 'volume'

export interface Ownership {
  project: string
  /** `create`: a create portcullis allowed; `adopted`: an object found at the first start (see adopt.ts). */
  via: 'create' | 'adopted'
}

const KINDS: ReadonlySet<string> = new Set(['container', 'network', 'volume'])

const DEFAULT_MAX_OWNED = 200_000

export class OwnershipRegistry {
  private readonly entries = new Map<string, Ownership>()
  private changes = 0

  private constructor (private readonly space: KeySpace, private readonly logger: Logger, readonly maxEntries: number, private adoptedMarker: boolean) {}

  /** Loads the registry from `space` (the audit store's `ownership` key space). */
  static async open (space: KeySpace, logger: Logger, maxEntries = DEFAULT_MAX_OWNED): Promise<OwnershipRegistry> {
    const adopted = (await space.get(OWNERSHIP_ADOPTED_KEY)) !== undefined
    const registry = new OwnershipRegistry(space, logger, maxEntries, adopted)
    for await (const [key, value] of space.iterate(OWNERSHIP_ENTRY_RANGE)) {
      const entry = ownershipEntryFromKey(key)
      const parsed = parseJsonObject(value)
      if (entry === null || !KINDS.has(entry.kind) || parsed === null || typeof parsed.project !== 'string') {
        logger.warn({ key }, 'ignoring an unreadable ownership entry (its object belongs to no project)')
        continue
      }
      registry.entries.set(`${entry.kind}:${entry.id}`, {
        project: parsed.project,
        via: parsed.via === 'adopted' ? 'adopted' : 'create'
      })
    }
    return registry
  }

  /** Changes with every record and forget: answers derived from the registry are fresh while it stays the same. */
  get version (): number { return this.changes }

  get size (): number { return this.entries.size }
  get adopted (): boolean { return this.adoptedMarker }

  get (kind: OwnedKind, id: string): Ownership | undefined {
    return this.entries.get(`${kind}:${id}`)
  }

  /** Resolves once the entry is on disk; false when the registry is full (the object then belongs to no project). */
  async record (kind: OwnedKind, id: string, ownership: Ownership): Promise<boolean> {
    const key = `${kind}:${id}`
    if (!this.entries.has(key) && this.entries.size >= this.maxEntries) {
      this.logger.error({ kind, id, max: this.maxEntries }, 'the ownership registry is full: this object belongs to no project (remove unused containers, networks and volumes)')
      return false
    }
    await this.space.put(ownershipEntryKey(kind, id), JSON.stringify(ownership))
    this.entries.set(key, ownership)
    this.changes++
    return true
  }

  async forget (kind: OwnedKind, id: string): Promise<void> {
    if (!this.entries.delete(`${kind}:${id}`)) return
    this.changes++
    // Not synced, as before: an entry a crash brings back is dropped by the next start's reconciliation.
    await this.space.del(ownershipEntryKey(kind, id), { sync: false })
  }

  /** The IDs (volumes: names) of `kind` recorded now. */
  idsOf (kind: OwnedKind): string[] {
    const prefix = `${kind}:`
    return [...this.entries.keys()].filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length))
  }

  /**
   * Drops the entries among `recorded` (taken before the daemon was asked) whose object is not in `existing`:
   * what was removed while portcullis was not following events. Entries made since are not touched.
   */
  async keepOnly (kind: OwnedKind, recorded: readonly string[], existing: ReadonlySet<string>): Promise<number> {
    let dropped = 0
    for (const id of recorded) {
      if (existing.has(id)) continue
      await this.forget(kind, id)
      dropped++
    }
    return dropped
  }

  async markAdopted (): Promise<void> {
    await this.space.put(OWNERSHIP_ADOPTED_KEY, new Date().toISOString())
    this.adoptedMarker = true
  }
}
