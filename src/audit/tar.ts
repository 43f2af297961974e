// Evidence bundles as tar archives, written and read with tar-stream: regular files and directories, readable by
// any tar (GNU tar, bsdtar, 7-Zip). Sizes of 8 GiB and more use the base-256 size field GNU tar and bsdtar both
// read. Reading, an archive is untrusted: its framing is checked beside tar-stream (tar-framing.ts), and anything
// but regular files and directories at relative paths is refused, so extracting a bundle cannot write outside the
// directory it is given.

import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Writable } from 'node:stream'
import { extract as tarExtract, pack as tarPack, type Header, type Pack } from 'tar-stream'
import { TarFormatError, TarFraming, type FramedEntry } from './tar-framing.js'

export { TarFormatError, TarLinkError } from './tar-framing.js'

/** An entry's content as tar-stream gives it, with the offset of its header in the archive. */
interface EntryContent extends AsyncIterable<unknown> {
  offset: number
}

/** A file on disk to put in an archive. */
export interface TarSource {
  /** Path inside the archive. */
  path: string
  /** Where to read it from. */
  file: string
  size: number
  mtime: Date
}

/** Resolves on `event`, rejects with `gone` if the stream (node's or tar-stream's streamx) closes first. */
async function eventOrClose (stream: object, event: string, gone: () => Error): Promise<void> {
  const emitter = stream as { once: (event: string, listener: () => void) => unknown, off: (event: string, listener: () => void) => unknown, destroyed?: boolean, destroying?: boolean }
  // Closed already: its 'close' has been emitted, and would be waited for in vain.
  if (emitter.destroyed === true || emitter.destroying === true) throw gone()
  await new Promise<void>((resolve, reject) => {
    const onEvent = (): void => { emitter.off('close', onClose); resolve() }
    const onClose = (): void => { emitter.off(event, onEvent); reject(gone()) }
    emitter.once(event, onEvent)
    emitter.once('close', onClose)
  })
}

const readerGone = (): Error => new Error('the archive\'s reader went away')

/**
 * Writes an archive of `directories` and `files` to `out`, reading each file from disk as it goes (constant
 * memory), with backpressure. Does not end `out`.
 */
export async function writeTar (out: Writable, directories: string[], files: TarSource[], mtime: Date): Promise<void> {
  const pack = tarPack()
  const pumped = (async () => {
    for await (const chunk of pack) {
      if (out.destroyed) throw readerGone()
      if (!out.write(chunk)) await eventOrClose(out, 'drain', readerGone)
    }
  })()
  pumped.catch((err: unknown) => pack.destroy(err as Error))
  try {
    for (const path of [...directories, ...files.map((source) => source.path)]) {
      if (!fitsUstar(path)) throw new Error(`the path ${path} does not fit a plain ustar header (too long, or not ASCII)`)
    }
    for (const directory of directories) {
      await addEntry(pack, { name: directory.endsWith('/') ? directory : directory + '/', type: 'directory', mode: 0o755, mtime, uname: 'root', gname: 'root' })
    }
    for (const source of files) await addFile(pack, source)
    pack.finalize()
  } catch (err) {
    pack.destroy(err as Error)
  }
  await pumped
}

/** A plain ustar header holds the path (ASCII, split at a '/' into a prefix of 155 bytes and a name of 100):
 * otherwise tar-stream would write a pax header, which the reader refuses. */
function fitsUstar (raw: string): boolean {
  const path = raw.endsWith('/') ? raw.slice(0, -1) : raw
  if (!/^[\x20-\x7e]*$/.test(path)) return false
  if (raw.length <= 100) return true
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    if (i <= 155 && raw.length - i - 1 <= 100 && i < path.length - 1) return true
  }
  return false
}

async function addEntry (pack: Pack, header: Header | (Partial<Header> & Pick<Header, 'name'>)): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    pack.entry(header, (err) => { if (err !== null && err !== undefined) reject(err); else resolve() })
  })
}

async function addFile (pack: Pack, source: TarSource): Promise<void> {
  const changed = (): Error => new Error(`${source.file} changed while it was being archived`)
  let sink!: ReturnType<Pack['entry']>
  const entered = new Promise<void>((resolve, reject) => {
    sink = pack.entry({ name: source.path, type: 'file', size: source.size, mode: 0o644, mtime: source.mtime, uname: 'root', gname: 'root' }, (err) => { if (err !== null && err !== undefined) reject(err); else resolve() })
  })
  // A failure before the end is awaited is the pack's too, and reaches the caller through it.
  entered.catch(() => {})
  sink.on('error', () => {})
  let written = 0
  for await (const chunk of createReadStream(source.file)) {
    const bytes = chunk as Buffer
    // A file that grew or shrank since it was measured would break every header after it.
    if (written + bytes.length > source.size) throw changed()
    written += bytes.length
    if (!sink.write(bytes)) await eventOrClose(sink, 'drain', readerGone)
  }
  if (written !== source.size) throw changed()
  sink.end(undefined)
  await entered
}

/**
 * Extracts an archive, given as a stream of bytes (already gunzipped), into `dir`. Only regular files and
 * directories are accepted; pax headers that only add metadata are skipped. With `stripTopDirectory`, a single
 * leading directory that holds every entry is removed from the paths (how `tar czf x.tar.gz x/` archives look).
 * Resolves with the extracted file paths (relative, '/' separators). Reads the input to its end, also past the
 * archive's end marker.
 */
export async function extractTar (input: AsyncIterable<Buffer | string>, dir: string, options: { stripTopDirectory?: boolean } = {}): Promise<string[]> {
  const files: string[] = []
  const framing = new TarFraming()
  // A header without ustar's magic (an old v7 tar's) is read, as before; its checksum still has to hold.
  const extract = tarExtract({ allowUnknownFormat: true } as Parameters<typeof tarExtract>[0])
  let topDirectory: string | null | undefined // undefined: not yet known; null: none to strip
  let entryFailure: unknown = null // ours, thrown as it is
  let libraryFailure: Error | null = null // tar-stream's: the archive is damaged
  let open: Writable | null = null

  const target = (path: string): string | null => {
    if (options.stripTopDirectory !== true) return path
    const slash = path.indexOf('/')
    const first = slash < 0 ? path : path.slice(0, slash)
    if (topDirectory === undefined) topDirectory = slash < 0 ? null : first
    if (topDirectory === null) return path
    if (first !== topDirectory) throw new TarFormatError(`entry ${JSON.stringify(path)} is outside the archive's top directory ${topDirectory}/`)
    return slash < 0 || slash === path.length - 1 ? null : path.slice(slash + 1)
  }

  const take = async (header: Header, content: EntryContent): Promise<void> => {
    const framed = agreed(framing.entries.shift(), header, content.offset)
    // `tar -C dir .` archives the directory itself as `./`: nothing to make.
    if (framed.type === 'directory' && /^(\.\/)*\.?\/?$/.test(framed.path)) return
    const path = safePath(framed.path)
    const relative = target(path)
    if (framed.type === 'directory') {
      if (relative !== null) await mkdir(join(dir, relative), { recursive: true })
      return
    }
    if (relative === null) throw new TarFormatError(`entry ${JSON.stringify(framed.path)} is a file where a directory was expected`)
    await mkdir(dirname(join(dir, relative)), { recursive: true })
    // 'wx': an archive that names a file twice must not have the second copy replace the first unseen.
    const out = createWriteStream(join(dir, relative), { flags: 'wx' })
    open = out
    await once(out, 'open')
    // A later write error (a full disk) is kept here and thrown at the end of the entry.
    let writeFailure: Error | null = null
    out.on('error', (err) => { writeFailure ??= err })
    files.push(relative)
    for await (const chunk of content) {
      if (!out.write(chunk as Buffer)) await once(out, 'drain')
    }
    out.end()
    await once(out, 'close')
    open = null
    if (writeFailure !== null) throw writeFailure
  }

  extract.on('entry', (header: Header, content: EntryContent, next: (err?: Error) => void) => {
    take(header, content).then(() => next(), (err: unknown) => {
      entryFailure ??= err
      next(err instanceof Error ? err : new Error(String(err)))
    })
  })
  extract.on('error', (err: Error) => { if (entryFailure === null) libraryFailure ??= err })
  // Not events.once: that rejects on 'error', which is read from the listener above.
  const closed = new Promise<void>((resolve) => extract.once('close', () => resolve()))
  const writeExtract = async (bytes: Buffer): Promise<void> => {
    if (bytes.length === 0 || extract.destroyed) return
    if (!extract.write(bytes)) await eventOrClose(extract, 'drain', () => new Error('closed')).catch(() => {})
  }

  try {
    for await (const piece of input) {
      if (framing.ended) continue // the rest is not part of the archive, but is read (a damaged gzip still shows)
      await writeExtract(framing.push(typeof piece === 'string' ? Buffer.from(piece) : piece))
      if (framing.failure !== null || entryFailure !== null || libraryFailure !== null) break
      if (framing.ended) extract.end(undefined)
    }
    if (!framing.ended) {
      if (framing.failure === null && entryFailure === null && libraryFailure === null) framing.finish()
      extract.end(undefined)
    }
    await closed
  } catch (err) {
    // What was read before the failure still counts first: its entries come earlier in the archive.
    if (!extract.destroyed) extract.destroy()
    await closed
    throw entryFailure ?? err
  } finally {
    const out = open as Writable | null
    if (out !== null && !out.closed) out.destroy()
  }
  // In the archive's order: an entry refused or not writable, a header refused, then tar-stream's own complaint.
  if (entryFailure !== null) throw entryFailure
  if (framing.failure !== null) throw framing.failure
  if (libraryFailure !== null) throw new TarFormatError(`the archive is damaged or not a tar archive (${(libraryFailure as Error).message})`)
  if (framing.entries.length > 0) throw new TarFormatError(`entry ${JSON.stringify(framing.entries[0]!.path)} was not read as an entry: the archive is damaged or crafted`)
  return files
}

/** The entry tar-stream read, as long as it is the one the framing saw: same place, name, size and type. */
function agreed (framed: FramedEntry | undefined, header: Header, offset: number): FramedEntry {
  const type = header.type === 'directory' ? 'directory' : header.type === 'file' || header.type === 'contiguous-file' ? 'file' : null
  const size = type === 'directory' ? 0 : header.size
  if (framed === undefined || framed.offset !== offset || framed.path !== header.name || framed.type !== type || framed.size !== size) {
    throw new TarFormatError(`entry ${JSON.stringify(header.name)} reads differently from its header's bytes (the archive is damaged or crafted for one reader)`)
  }
  return framed
}

/** The path made relative and checked: no absolute paths, no `..`, no empty parts. */
function safePath (raw: string): string {
  const path = raw.replace(/^(\.\/)+/, '')
  const parts = path.replace(/\/$/, '').split('/')
  if (path.startsWith('/') || path.includes('\\') || parts.some((part) => part === '..' || part === '') || path.includes('\u0000')) {
    throw new TarFormatError(`entry ${JSON.stringify(raw)} has an unsafe path; a bundle's paths are relative and stay inside it`)
  }
  return parts.join('/') + (path.endsWith('/') ? '/' : '')
}
