// Opens the LevelDB behind a closed audit store, as someone with access to the files could, for tests that check
// what verify makes of the change.
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
