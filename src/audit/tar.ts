// A small ustar writer and reader, just enough for evidence bundles: regular files and directories, written by
// us and read back by us or by any tar (GNU tar, bsdtar, 7-Zip). Sizes of 8 GiB and more use the base-256 size
// field GNU tar and bsdtar both read. Anything else in an archive (links, devices, absolute or `..` paths) is
// refused on reading, so extracting a bundle cannot write outside the directory it is given.

import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Writable } from 'node:stream'

const BLOCK = 512
const MAX_OCTAL_SIZE = 0o77777777777 // 11 octal digits: 8 GiB - 1

export interface TarEntry {
  /** Relative path with '/' separators; directories end with '/'. */
  path: string
  /** Bytes, for files. */
  size: number
  mtime: Date
  type: 'file' | 'directory'
}

export class TarFormatError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'TarFormatError'
  }
}

/** A symbolic or hard link entry: refused, never made. */
export class TarLinkError extends TarFormatError {
  constructor (message: string) {
    super(message)
    this.name = 'TarLinkError'
  }
}

/** The 512-byte ustar header for an entry. Throws when the path cannot be put in a ustar header. */
export function tarHeader (entry: TarEntry): Buffer {
  const header = Buffer.alloc(BLOCK)
  const { name, prefix } = splitPath(entry.path)
  header.write(name, 0, 100, 'utf8')
  writeOctal(header, 100, 8, entry.type === 'directory' ? 0o755 : 0o644)
  writeOctal(header, 108, 8, 0) // uid
  writeOctal(header, 116, 8, 0) // gid
  const size = entry.type === 'directory' ? 0 : entry.size
  if (size <= MAX_OCTAL_SIZE) writeOctal(header, 124, 12, size)
  else writeBase256(header, 124, 12, size)
  writeOctal(header, 136, 12, Math.floor(entry.mtime.getTime() / 1000))
  header.fill(0x20, 148, 156) // the checksum is computed with its own field as spaces
  header.write(entry.type === 'directory' ? '5' : '0', 156, 1, 'latin1')
  header.write('ustar\u000000', 257, 8, 'latin1')
  header.write('root', 265, 32, 'latin1')
  header.write('root', 297, 32, 'latin1')
  header.write(prefix, 345, 155, 'utf8')
  writeOctal(header, 148, 7, checksum(header))
  header[155] = 0x20
  return header
}

/** Zero bytes that pad `size` bytes of content to a whole block. */
export function tarPadding (size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK)
}

/** Two zero blocks end an archive. */
export const TAR_END = Buffer.alloc(BLOCK * 2)

/** A file on disk to put in an archive. */
export interface TarSource {
  /** Path inside the archive. */
  path: string
  /** Where to read it from. */
  file: string
  size: number
  mtime: Date
}

/**
 * Writes an archive of `directories` and `files` to `out`, reading each file from disk as it goes (constant
 * memory), with backpressure. Does not end `out`.
 */
export async function writeTar (out: Writable, directories: string[], files: TarSource[], mtime: Date): Promise<void> {
  const write = async (chunk: Buffer): Promise<void> => {
    if (!out.write(chunk)) await drainOrClose(out)
  }
  for (const directory of directories) await write(tarHeader({ path: directory.endsWith('/') ? directory : directory + '/', size: 0, mtime, type: 'directory' }))
  for (const source of files) {
    await write(tarHeader({ path: source.path, size: source.size, mtime: source.mtime, type: 'file' }))
    let written = 0
    for await (const chunk of createReadStream(source.file)) {
      const bytes = chunk as Buffer
      // A file that grew or shrank since it was measured would break every header after it.
      if (written + bytes.length > source.size) throw new Error(`${source.file} changed while it was being archived`)
      written += bytes.length
      await write(bytes)
    }
    if (written !== source.size) throw new Error(`${source.file} changed while it was being archived`)
    await write(tarPadding(source.size))
  }
  await write(TAR_END)
}

async function drainOrClose (out: Writable): Promise<void> {
  if (out.destroyed) throw new Error('the archive\'s reader went away')
  await Promise.race([once(out, 'drain'), once(out, 'close').then(() => { throw new Error('the archive\'s reader went away') })])
}

/**
 * Extracts an archive, given as a stream of bytes (already gunzipped), into `dir`. Only regular files and
 * directories are accepted; pax headers are skipped. With `stripTopDirectory`, a single leading directory that
 * holds every entry is removed from the paths (how `tar czf x.tar.gz x/` archives look). Resolves with the
 * extracted file paths (relative, '/' separators).
 */
export async function extractTar (input: AsyncIterable<Buffer | string>, dir: string, options: { stripTopDirectory?: boolean } = {}): Promise<string[]> {
  const files: string[] = []
  let topDirectory: string | null | undefined // undefined: not yet known; null: none to strip
  let buffered = Buffer.alloc(0)
  // Assigned in the helpers below too, which TypeScript's narrowing does not follow: hence the cast.
  let current = null as OpenEntry | null
  let zeroBlocks = 0
  let ended = false
  let writeFailure: Error | null = null

  const target = (path: string): string | null => {
    if (options.stripTopDirectory !== true) return path
    const slash = path.indexOf('/')
    const first = slash < 0 ? path : path.slice(0, slash)
    if (topDirectory === undefined) topDirectory = slash < 0 ? null : first
    if (topDirectory === null) return path
    if (first !== topDirectory) throw new TarFormatError(`entry ${JSON.stringify(path)} is outside the archive's top directory ${topDirectory}/`)
    return slash < 0 || slash === path.length - 1 ? null : path.slice(slash + 1)
  }

  const openEntry = async (header: Buffer): Promise<void> => {
    const entry = parseHeader(header)
    if (entry.type === 'pax') {
      current = { out: null, remaining: entry.size, padding: (BLOCK - (entry.size % BLOCK)) % BLOCK }
      return
    }
    // `tar -C dir .` archives the directory itself as `./`: nothing to make.
    if (entry.type === 'directory' && /^(\.\/)*\.?\/?$/.test(entry.path)) return
    const path = safePath(entry.path)
    const relative = target(path)
    if (entry.type === 'directory') {
      if (relative !== null) await mkdir(join(dir, relative), { recursive: true })
      return
    }
    if (relative === null) throw new TarFormatError(`entry ${JSON.stringify(entry.path)} is a file where a directory was expected`)
    await mkdir(dirname(join(dir, relative)), { recursive: true })
    // 'wx': an archive that names a file twice must not have the second copy replace the first unseen.
    const out = createWriteStream(join(dir, relative), { flags: 'wx' })
    await once(out, 'open')
    // A later write error (a full disk) is kept here and thrown at the end of the entry.
    out.on('error', (err) => { writeFailure ??= err })
    files.push(relative)
    current = { out, remaining: entry.size, padding: (BLOCK - (entry.size % BLOCK)) % BLOCK }
    if (entry.size === 0) await finishEntry()
  }

  const finishEntry = async (): Promise<void> => {
    const out = current?.out
    if (out !== null && out !== undefined) {
      out.end()
      await once(out, 'close')
    }
    if (writeFailure !== null) throw writeFailure
  }

  try {
    for await (const piece of input) {
      buffered = buffered.length === 0 ? Buffer.from(piece) : Buffer.concat([buffered, Buffer.from(piece)])
      while (!ended) {
        if (current !== null) {
          const entry = current
          if (entry.remaining > 0) {
            if (buffered.length === 0) break
            const take = Math.min(entry.remaining, buffered.length)
            const part = buffered.subarray(0, take)
            buffered = buffered.subarray(take)
            entry.remaining -= take
            if (entry.out !== null && !entry.out.write(part)) await once(entry.out, 'drain')
            if (entry.remaining === 0) await finishEntry()
            continue
          }
          if (buffered.length < entry.padding) break
          buffered = buffered.subarray(entry.padding)
          current = null
          continue
        }
        if (buffered.length < BLOCK) break
        const header = buffered.subarray(0, BLOCK)
        buffered = buffered.subarray(BLOCK)
        if (header.every((byte) => byte === 0)) {
          if (++zeroBlocks === 2) ended = true
          continue
        }
        zeroBlocks = 0
        await openEntry(Buffer.from(header))
      }
    }
  } finally {
    const out = current?.out
    if (out !== null && out !== undefined && !out.closed) out.destroy()
  }
  if (current !== null && current.remaining > 0) throw new TarFormatError('the archive ends in the middle of a file: it was cut short')
  // GNU tar and bsdtar end with two zero blocks; a lone one is tolerated, none means the end is missing.
  if (!ended && zeroBlocks === 0) throw new TarFormatError(files.length === 0 ? 'it is empty, or not a tar archive' : 'the archive ends without its end marker: it was cut short')
  return files
}

/** The entry whose content is being read (out is null for skipped pax headers), and how much of it is left. */
interface OpenEntry {
  out: Writable | null
  remaining: number
  padding: number
}

interface ParsedHeader {
  path: string
  size: number
  type: 'file' | 'directory' | 'pax'
}

function parseHeader (header: Buffer): ParsedHeader {
  const stored = readOctal(header, 148, 8)
  if (stored !== checksum(header)) throw new TarFormatError('a header\'s checksum is wrong: the archive is damaged or not a tar archive')
  const name = readString(header, 0, 100)
  const isUstar = header.toString('latin1', 257, 262) === 'ustar'
  const prefix = isUstar ? readString(header, 345, 155) : ''
  const path = prefix !== '' ? prefix + '/' + name : name
  const size = (header[124]! & 0x80) !== 0 ? readBase256(header, 124, 12) : readOctal(header, 124, 12)
  const flag = String.fromCharCode(header[156]!)
  if (flag === '0' || flag === '\u0000' || flag === '7') return { path, size, type: path.endsWith('/') ? 'directory' : 'file' }
  if (flag === '5') return { path, size: 0, type: 'directory' }
  if (flag === 'x' || flag === 'g') return { path, size, type: 'pax' }
  if (flag === '1' || flag === '2') {
    const target = readString(header, 157, 100)
    throw new TarLinkError(`entry ${JSON.stringify(path)} is a ${flag === '1' ? 'hard' : 'symbolic'} link to ${JSON.stringify(target)}; a bundle holds only regular files and directories, and links are never followed`)
  }
  throw new TarFormatError(`entry ${JSON.stringify(path)} is not a regular file or directory (type ${JSON.stringify(flag)}); a bundle holds only those`)
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

/** Splits a path into ustar's name (100 bytes) and prefix (155 bytes) at a '/'. */
function splitPath (path: string): { name: string, prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' }
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i)
    const name = path.slice(i + 1)
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { name, prefix }
  }
  throw new Error(`the path ${path} is too long for a ustar header`)
}

function checksum (header: Buffer): number {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!
  return sum
}

/** Octal digits, zero-padded, then a NUL, filling `length` bytes. */
function writeOctal (header: Buffer, offset: number, length: number, value: number): void {
  header.write(value.toString(8).padStart(length - 1, '0') + '\u0000', offset, length, 'latin1')
}

function writeBase256 (header: Buffer, offset: number, length: number, value: number): void {
  let rest = value
  for (let i = offset + length - 1; i > offset; i--) {
    header[i] = rest % 256
    rest = Math.floor(rest / 256)
  }
  header[offset] = 0x80
}

function readOctal (header: Buffer, offset: number, length: number): number {
  const text = header.toString('latin1', offset, offset + length).replace(/[\u0000 ]+$/g, '').replace(/^ +/, '')
  if (!/^[0-7]*$/.test(text)) throw new TarFormatError('a header holds a malformed number: the archive is damaged or not a tar archive')
  return text === '' ? 0 : Number.parseInt(text, 8)
}

function readBase256 (header: Buffer, offset: number, length: number): number {
  let value = header[offset]! & 0x7f
  for (let i = offset + 1; i < offset + length; i++) value = value * 256 + header[i]!
  if (!Number.isSafeInteger(value)) throw new TarFormatError('a header holds a size too large to read')
  return value
}

function readString (header: Buffer, offset: number, length: number): string {
  const end = header.indexOf(0, offset)
  return header.toString('utf8', offset, end >= 0 && end < offset + length ? end : offset + length)
}
