// Opens the LevelDB behind a closed audit store, as someone with access to the files could, for tests that check
// what verify makes of the change, or what exactly the store holds.
import { Level } from 'level'

export async function tamper (dir: string, change: (db: Level<string, string>) => Promise<void>): Promise<void> {
  const db = new Level<string, string>(dir)
  await db.open()
  try {
    await change(db)
  } finally {
    await db.close()
  }
}

/** Every key of the store's LevelDB with its value, read with the store closed (never makes a store). */
export async function rawEntries (dir: string): Promise<Map<string, string>> {
  const db = new Level<string, string>(dir, { createIfMissing: false })
  await db.open()
  try {
    return new Map(await db.iterator().all())
  } finally {
    await db.close()
  }
}
