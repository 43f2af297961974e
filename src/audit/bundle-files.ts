// Reading the files of a bundle someone handed over, without following links. A bundle directory is not ours: a
// symbolic link in it (to /etc/shadow, say) would make a verifier running as root read, hash and report on a
// file the bundle's author could not read, and a FIFO would stall it. So every path inside a bundle is walked
// part by part with lstat, only real directories and regular files with one link are accepted, and the file is
// opened with O_NOFOLLOW and checked to be the very file that was looked at.

import { constants } from 'node:fs'
import { lstat, open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'

export type BundleEntryProblem = 'link' | 'not-regular' | 'missing'

export class BundleEntryError extends Error {
  constructor (readonly problem: BundleEntryProblem, readonly file: string, message: string) {
    super(message)
    this.name = 'BundleEntryError'
  }
}

/** Why a directory entry's lstat makes it no bundle file, or null for a regular file with one link. */
export function entryProblem (info: { isFile: () => boolean, isSymbolicLink: () => boolean, nlink: number }): { problem: BundleEntryProblem, detail: string } | null {
  if (info.isSymbolicLink()) return { problem: 'link', detail: 'it is a symbolic link; a bundle holds only regular files, and links are not followed' }
  if (!info.isFile()) return { problem: 'not-regular', detail: 'it is not a regular file (a FIFO, socket or device); a bundle holds only regular files' }
  if (info.nlink > 1) return { problem: 'link', detail: `it is a hard link (${info.nlink} names for one file); a bundle holds only files of its own (copy it with cp -r, or verify the .tar.gz)` }
  return null
}

/** Opens `relative` ('/'-separated, already checked to stay inside) under `dir` for reading, following no link. */
async function openBundleFile (dir: string, relative: string): Promise<FileHandle> {
  const parts = relative.split('/')
  let path = dir
  for (const [i, part] of parts.entries()) {
    path = join(path, part)
    let info
    try {
      info = await lstat(path)
    } catch {
      throw new BundleEntryError('missing', relative, `${relative} is not in the bundle`)
    }
    const last = i === parts.length - 1
    if (!last) {
      if (info.isSymbolicLink()) throw new BundleEntryError('link', relative, `${parts.slice(0, i + 1).join('/')} is a symbolic link; links in a bundle are not followed`)
      if (!info.isDirectory()) throw new BundleEntryError('missing', relative, `${relative} is not in the bundle`)
      continue
    }
    const problem = entryProblem(info)
    if (problem !== null) throw new BundleEntryError(problem.problem, relative, problem.detail)
    // O_NONBLOCK: a FIFO swapped in after the lstat must not hang the verifier; fstat then tells.
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => {
      throw new BundleEntryError('link', relative, 'it changed while it was being opened (a link was put in its place)')
    })
    const opened = await handle.stat()
    if (!opened.isFile() || opened.ino !== info.ino || opened.dev !== info.dev || opened.nlink > 1) {
      await handle.close()
      throw new BundleEntryError('link', relative, 'it changed while it was being opened (a link was put in its place)')
    }
    return handle
  }
  throw new BundleEntryError('missing', relative, `${relative} is not in the bundle`)
}

/** The whole file as UTF-8 text. */
export async function readBundleText (dir: string, relative: string): Promise<string> {
  const handle = await openBundleFile(dir, relative)
  try {
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}

/** The file's bytes, as a stream that closes the file when done. */
export async function * readBundleChunks (dir: string, relative: string): AsyncIterable<Buffer> {
  const handle = await openBundleFile(dir, relative)
  try {
    for await (const chunk of handle.createReadStream({ autoClose: false })) yield chunk as Buffer
  } finally {
    await handle.close()
  }
}
