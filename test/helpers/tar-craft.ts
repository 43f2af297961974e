// Tar archives built byte by byte, to hand the bundle reader what no honest tar writes: links, devices, GNU long
// names, pax records, bad checksums, malformed or base-256 sizes, entries after the end marker.

const BLOCK = 512

export interface CraftedHeader {
  name: string
  /** The content's length, written in octal unless `sizeField` gives the field's 12 bytes. */
  size?: number
  sizeField?: Buffer
  /** The type flag: '0' file, '5' directory, '1' hard link, '2' symbolic link, 'x' pax, 'L' GNU long name... */
  flag?: string
  linkname?: string
  prefix?: string
  /** 'ustar' (POSIX, the default), 'gnu' (GNU tar's "ustar  ") or 'v7' (none). */
  magic?: 'ustar' | 'gnu' | 'v7'
  /** Added to the correct checksum: anything but 0 makes it wrong. */
  checksumOff?: number
}

export function header (h: CraftedHeader): Buffer {
  const block = Buffer.alloc(BLOCK)
  block.write(h.name, 0, 100, 'utf8')
  block.write('0000644\u0000', 100, 8, 'latin1')
  block.write('0000000\u0000', 108, 8, 'latin1')
  block.write('0000000\u0000', 116, 8, 'latin1')
  if (h.sizeField !== undefined) h.sizeField.copy(block, 124)
  else block.write((h.size ?? 0).toString(8).padStart(11, '0') + '\u0000', 124, 12, 'latin1')
  block.write('00000000000\u0000', 136, 12, 'latin1')
  block.write(h.flag ?? '0', 156, 1, 'latin1')
  if (h.linkname !== undefined) block.write(h.linkname, 157, 100, 'utf8')
  const magic = h.magic ?? 'ustar'
  if (magic === 'ustar') block.write('ustar\u000000', 257, 8, 'latin1')
  if (magic === 'gnu') block.write('ustar  \u0000', 257, 8, 'latin1')
  if (h.prefix !== undefined) block.write(h.prefix, 345, 155, 'utf8')
  block.fill(0x20, 148, 156)
  let sum = 0
  for (const byte of block) sum += byte
  block.write((sum + (h.checksumOff ?? 0)).toString(8).padStart(6, '0') + '\u0000 ', 148, 8, 'latin1')
  return block
}

/** A header, its content and the padding to a whole block. */
export function entry (h: CraftedHeader, data: Buffer | string = ''): Buffer {
  const bytes = Buffer.from(data)
  const size = h.size ?? bytes.length
  return Buffer.concat([header({ ...h, size }), bytes, Buffer.alloc((BLOCK - (bytes.length % BLOCK)) % BLOCK)])
}

/** A pax header ('x', or 'g' for a global one) holding `records`. */
export function pax (records: Record<string, string>, flag: 'x' | 'g' = 'x'): Buffer {
  let text = ''
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`
    let length = Buffer.byteLength(body) + 1
    while (String(length).length + Buffer.byteLength(body) !== length) length++
    text += length + body
  }
  return entry({ name: 'PaxHeader/x', flag }, text)
}

/** A GNU long name ('L') or long link target ('K') for the entry after it. */
export function gnuLong (value: string, flag: 'L' | 'K' = 'L'): Buffer {
  return entry({ name: '././@LongLink', flag, magic: 'gnu' }, value + '\u0000')
}

/** The end marker: two zero blocks. */
export const END = Buffer.alloc(BLOCK * 2)

/** A base-256 size field (GNU tar's and bsdtar's for 8 GiB and more). */
export function base256 (value: bigint, first = 0x80): Buffer {
  const field = Buffer.alloc(12)
  let rest = value
  for (let i = 11; i > 0; i--) {
    field[i] = Number(rest & 0xffn)
    rest >>= 8n
  }
  field[0] = first
  return field
}
