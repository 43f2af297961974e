// Audit stores in a temp dir for unit tests: each test gets fresh directories, every store a test opened is
// closed after it, and the whole dir goes at the end of the file.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach } from 'vitest'
import { AuditStore } from '../../src/audit/store.js'

export interface TempStores {
  root: string
  freshDir: () => string
  openStore: (dir?: string) => Promise<AuditStore>
}

export function tempStores (prefix: string): TempStores {
  const root = mkdtempSync(join(tmpdir(), prefix))
  let count = 0
  const open: AuditStore[] = []
  const freshDir = (): string => join(root, `store-${++count}`)
  afterEach(async () => {
    await Promise.all(open.splice(0).map(async (store) => await store.close().catch(() => {})))
  })
  afterAll(() => rmSync(root, { recursive: true, force: true }))
  return {
    root,
    freshDir,
    async openStore (dir = freshDir()) {
      const store = await AuditStore.open(dir)
      open.push(store)
      return store
    }
  }
}
