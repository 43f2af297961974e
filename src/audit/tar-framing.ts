// The framing of an untrusted archive, read beside tar-stream (which reads the entries) so that what is extracted
// is what any tar would extract, and what the bundle reader refused before tar-stream is refused still. tar-stream
// is lenient where a verifier must not be: it reads on past the two zero blocks that end an archive, folds GNU long
// names and pax `path`/`size` records into the next entry without saying so, and reads a malformed number as far as
// it parses. Here every 512-byte header is looked at before tar-stream gets it: its checksum and size must be
// well-formed, only regular files and directories (and pax headers that rename or resize nothing) may be in it, and
// the archive ends at its end marker. Each entry tar-stream then reports must be one seen here, at the same offset,
// with the same name, size and type.

const BLOCK = 512
/** The largest pax header read (tar-stream's own limit): it is held in memory to be checked. */
export const MAX_PAX_BYTES = 4 * 1024 * 1024

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

/** An entry header as read from the archive's bytes. */
export interface FramedEntry {
  /** Offset of the header in the archive. */
  offset: number
  path: string
  size: number
  type: 'file' | 'directory'
}

/** pax records that would make an entry's name, link, type or content differ between readers. Matched anywhere a
 * record could start (a length, a space, the keyword), not only after a newline: tar-stream does not check that a
 * record ends where its length says. */
const RENAMING_PAX_RECORD = /\d (?:path|linkpath|size|hdrcharset|GNU\.sparse\.[^=]*|SCHILY\.(?:realsize|filetype))=/

export class TarFraming {
  /** Entry headers seen, in order, not yet matched with tar-stream's. */
  readonly entries: FramedEntry[] = []
  /** The archive's end marker (two zero blocks) has been read; what follows is not part of it. */
  ended = false
  /** Why the archive is refused, from the first header refused: nothing from that header on is passed. */
  failure: TarFormatError | null = null
  private offset = 0 // of the first byte not yet passed
  private held = Buffer.alloc(0) // bytes from `offset` not yet passed: part of a header, or a pax header's content
  private dataLeft = 0 // bytes of the current entry's content still to pass
  private paddingLeft = 0
  private pax: { size: number, padding: number } | null = null
  private zeroBlocks = 0
  private files = 0

  /** Reads the next bytes of the archive; returns those that are passed, in order (held bytes included): none
   * after the end marker, and none from the first header refused on (`failure` says why). */
  push (piece: Buffer): Buffer {
    if (this.ended || this.failure !== null) return Buffer.alloc(0)
    let rest = this.held.length === 0 ? piece : Buffer.concat([this.held, piece])
    this.held = Buffer.alloc(0)
    const passed: Buffer[] = []
    const pass = (n: number): void => {
      passed.push(rest.subarray(0, n))
      rest = rest.subarray(n)
      this.offset += n
    }
    try {
      while (!this.ended && rest.length > 0) {
        if (this.dataLeft > 0 || this.paddingLeft > 0) {
          const inData = this.dataLeft > 0
          const n = Math.min(inData ? this.dataLeft : this.paddingLeft, rest.length)
          if (inData) this.dataLeft -= n
          else this.paddingLeft -= n
          pass(n)
          continue
        }
        if (this.pax !== null) {
          // A pax header's content is checked whole, so it is held until all of it is here.
          const { size, padding } = this.pax
          if (rest.length < size) break
          if (RENAMING_PAX_RECORD.test(rest.toString('latin1', 0, size))) {
            throw new TarFormatError('a pax header renames, resizes or re-links the entry after it; tar readers disagree on such entries, and a bundle has none')
          }
          this.pax = null
          this.paddingLeft = padding
          pass(size)
          continue
        }
        if (rest.length < BLOCK) break
        const header = rest.subarray(0, BLOCK)
        if (header.every((byte) => byte === 0)) {
          // GNU tar and bsdtar end with two zero blocks; a lone one is tolerated.
          if (++this.zeroBlocks === 2) this.ended = true
          pass(BLOCK)
          continue
        }
        this.zeroBlocks = 0
        this.header(header)
        pass(BLOCK)
      }
      if (!this.ended) this.held = Buffer.from(rest)
    } catch (err) {
      if (!(err instanceof TarFormatError)) throw err
      this.failure = err
    }
    return passed.length === 1 ? passed[0]! : Buffer.concat(passed)
  }

  /** The input has ended: throws unless the archive was whole. */
  finish (): void {
    if (this.ended) return
    if (this.dataLeft > 0 || this.pax !== null) throw new TarFormatError('the archive ends in the middle of a file: it was cut short')
    // A lone zero block is tolerated as the end; none means the end is missing.
    if (this.zeroBlocks === 0) throw new TarFormatError(this.files === 0 ? 'it is empty, or not a tar archive' : 'the archive ends without its end marker: it was cut short')
  }

  private header (header: Buffer): void {
    const stored = readOctal(header, 148, 8)
    if (stored !== checksum(header)) throw new TarFormatError('a header\'s checksum is wrong: the archive is damaged or not a tar archive')
    const name = readString(header, 0, 100)
    const isUstar = header.toString('latin1', 257, 262) === 'ustar'
    const prefix = isUstar ? readString(header, 345, 155) : ''
    const path = prefix !== '' ? prefix + '/' + name : name
    const size = (header[124]! & 0x80) !== 0 ? readBase256(header, 124, 12) : readOctal(header, 124, 12)
    const flag = String.fromCharCode(header[156]!)
    const padding = (BLOCK - (size % BLOCK)) % BLOCK
    if (flag === 'x' || flag === 'g') {
      if (size > MAX_PAX_BYTES) throw new TarFormatError(`a pax header of ${size} bytes is larger than the ${MAX_PAX_BYTES} bytes read; a bundle has none so large`)
      this.pax = { size, padding }
      return
    }
    if (flag === '1' || flag === '2') {
      const target = readString(header, 157, 100)
      throw new TarLinkError(`entry ${JSON.stringify(path)} is a ${flag === '1' ? 'hard' : 'symbolic'} link to ${JSON.stringify(target)}; a bundle holds only regular files and directories, and links are never followed`)
    }
    const isFile = flag === '0' || flag === '\u0000' || flag === '7'
    if (flag === '5' || (isFile && path.endsWith('/'))) {
      // tar-stream (and the reader before it) read no content for a directory, where another tar may skip it:
      // what one reads as entries the other would not.
      if (size > 0) throw new TarFormatError(`entry ${JSON.stringify(path)} is a directory that declares ${size} bytes of content; tar readers disagree on such entries, and a bundle has none`)
      this.entries.push({ offset: this.offset, path, size: 0, type: 'directory' })
      return
    }
    if (isFile) {
      this.entries.push({ offset: this.offset, path, size, type: 'file' })
      this.files++
      this.dataLeft = size
      this.paddingLeft = padding
      return
    }
    throw new TarFormatError(`entry ${JSON.stringify(path)} is not a regular file or directory (type ${JSON.stringify(flag)}); a bundle holds only those`)
  }
}

function checksum (header: Buffer): number {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!
  return sum
}

function readOctal (header: Buffer, offset: number, length: number): number {
  const text = header.toString('latin1', offset, offset + length).replace(/[\u0000 ]+$/g, '').replace(/^ +/, '')
  if (!/^[0-7]*$/.test(text)) throw new TarFormatError('a header holds a malformed number: the archive is damaged or not a tar archive')
  return text === '' ? 0 : Number.parseInt(text, 8)
}

/** GNU tar's and bsdtar's base-256 size (0x80, then the value big-endian); a negative one (0xff) is refused. */
function readBase256 (header: Buffer, offset: number, length: number): number {
  if (header[offset] !== 0x80) throw new TarFormatError('a header holds a malformed number: the archive is damaged or not a tar archive')
  let value = 0
  for (let i = offset + 1; i < offset + length; i++) value = value * 256 + header[i]!
  if (!Number.isSafeInteger(value)) throw new TarFormatError('a header holds a size too large to read')
  return value
}

function readString (header: Buffer, offset: number, length: number): string {
  const end = header.indexOf(0, offset)
  return header.toString('utf8', offset, end >= 0 && end < offset + length ? end : offset + length)
}
