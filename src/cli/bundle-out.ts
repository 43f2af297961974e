// Writing a bundle to its --out without leaving a half one behind, whichever side collected it.
import { readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'

/** Writes `path` under a temporary name and renames it once complete, so a failed run leaves no bundle-looking
 * file behind. */
export async function writeFileAtomically (path: string, write: (file: string) => Promise<void>): Promise<void> {
  const partial = `${path}.partial`
  try {
    await write(partial)
    await rename(partial, path)
  } catch (err) {
    await rm(partial, { force: true })
    throw err
  }
}

/** Runs `write` into directory `dir`; when it fails, removes what it wrote (the directory was empty or missing). */
export async function removingOnFailure<T> (dir: string, write: () => Promise<T>): Promise<T> {
  const existed = await stat(dir).then(() => true, () => false)
  try {
    return await write()
  } catch (err) {
    if (existed) {
      for (const entry of await readdir(dir).catch(() => [])) await rm(join(dir, entry), { recursive: true, force: true })
    } else {
      await rm(dir, { recursive: true, force: true })
    }
    throw err
  }
}
