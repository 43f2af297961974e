// The bundle reader takes an archive someone handed over. tar-stream reads it; what tar-stream would let through
// and the reader before it refused (or read otherwise) is refused, each with the verdict verify-bundle gives.

import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyBundle } from '../../src/audit/bundle-verify.js'
import { MAX_PAX_BYTES, TarFormatError, TarFraming, TarLinkError } from '../../src/audit/tar-framing.js'
import { extractTar, writeTar } from '../../src/audit/tar.js'
import { END, base256, entry, gnuLong, header, pax } from '../helpers/tar-craft.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-bundle-tar-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let count = 0
const fresh = (name: string): string => join(root, `${name}-${++count}`)

/** A bundle made by portcullis at 4008856 (before tar-stream), with its hand-written tar writer. */
const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'bundle-4008856.tar.gz')

/** The fixture's files, as entries under the top directory `b/`, without an end marker. */
let bundle: Buffer
beforeAll(async () => {
  const dir = fresh('fixture')
  await extractTar(Readable.from([gunzipSync(readFileSync(FIXTURE))]), dir, { stripTopDirectory: true })
  const parts = [entry({ name: 'b/', flag: '5' }), entry({ name: 'b/sessions/', flag: '5' })]
  const walk = (relative: string): void => {
    for (const name of readdirSync(join(dir, relative)).sort()) {
      const path = relative === '' ? name : `${relative}/${name}`
      if (statSync(join(dir, path)).isDirectory()) walk(path)
      else parts.push(entry({ name: `b/${path}` }, readFileSync(join(dir, path))))
    }
  }
  walk('')
  bundle = Buffer.concat(parts)
})

/** verify-bundle's verdict on `tar` as a .tar.gz. */
async function verdictOf (tar: Buffer): Promise<Awaited<ReturnType<typeof verifyBundle>>> {
  const file = join(fresh('archive'), 'bundle.tar.gz')
  mkdirSync(join(file, '..'))
  writeFileSync(file, gzipSync(tar))
  return await verifyBundle(file)
}

const extractOf = async (tar: Buffer, dir = fresh('out')): Promise<string[]> => await extractTar(Readable.from([tar]), dir, { stripTopDirectory: true })

/** Refused by the reader with `message`, and by verify-bundle as `problem`. */
async function expectRefused (tar: Buffer, problem: 'archive-damaged' | 'link', message: RegExp): Promise<void> {
  const dir = fresh('out')
  const refusal = await extractOf(tar, dir).then(() => null, (err: unknown) => err)
  expect(refusal).toBeInstanceOf(problem === 'link' ? TarLinkError : TarFormatError)
  expect((refusal as Error).message).toMatch(message)
  expect(existsSync(join(dir, '..', 'evil'))).toBe(false)
  expect(await verdictOf(tar)).toMatchObject({ ok: false, records: 0, firstBad: { problem, file: 'bundle.tar.gz', detail: expect.stringMatching(message) } })
}

describe('bundle archives', () => {
  it('a bundle made before tar-stream still verifies', async () => {
    expect(await verifyBundle(FIXTURE)).toMatchObject({ ok: true, records: 4, sessions: 1, checkpoints: 1, problems: [] })
  })

  it('a bundle unpacked and packed again with GNU tar verifies, in every format it writes (pax headers of times included)', async () => {
    const work = fresh('repacked')
    mkdirSync(work)
    execFileSync('tar', ['xzf', FIXTURE, '-C', work])
    for (const format of ['gnu', 'oldgnu', 'pax', 'ustar', 'v7']) {
      const file = join(work, `bundle-${format}.tar.gz`)
      execFileSync('tar', ['czf', file, `--format=${format}`, '-C', work, 'evidence-main'])
      expect(await verifyBundle(file), format).toMatchObject({ ok: true, records: 4, sessions: 1 })
    }
  })

  it('the fixture rebuilt entry by entry verifies: the crafted archives below start from a good bundle', async () => {
    expect(await verdictOf(Buffer.concat([bundle, END]))).toMatchObject({ ok: true, records: 4, sessions: 1 })
  })

  it('what the writer makes is plain ustar: files and directories, no pax or GNU headers, two zero blocks at the end', async () => {
    const dir = fresh('src')
    mkdirSync(dir)
    writeFileSync(join(dir, 'a'), 'x'.repeat(513))
    writeFileSync(join(dir, 'empty'), '')
    const out = new PassThrough()
    const chunks: Buffer[] = []
    out.on('data', (chunk: Buffer) => chunks.push(chunk))
    const mtime = new Date('2026-01-02T03:04:05Z')
    const long = 'top/sessions/' + 'd/'.repeat(60) + 'e'
    await writeTar(out, ['top', 'top/sessions/'], [{ path: 'top/a', file: join(dir, 'a'), size: 513, mtime }, { path: long, file: join(dir, 'empty'), size: 0, mtime }], mtime)
    const tar = Buffer.concat(chunks)
    const framing = new TarFraming()
    framing.push(tar)
    expect(framing.failure).toBeNull()
    expect(framing.ended).toBe(true)
    expect(framing.entries.map(({ path, size, type }) => ({ path, size, type }))).toEqual([
      { path: 'top/', size: 0, type: 'directory' },
      { path: 'top/sessions/', size: 0, type: 'directory' },
      { path: 'top/a', size: 513, type: 'file' },
      { path: long, size: 0, type: 'file' }
    ])
    for (const { offset } of framing.entries) {
      expect(tar.toString('latin1', offset + 257, offset + 265)).toBe('ustar\u000000')
      expect(tar.toString('latin1', offset + 265, offset + 269)).toBe('root')
    }
    expect(tar.subarray(-1024).every((byte) => byte === 0)).toBe(true)
    const listed = execFileSync('tar', ['tvf', '-'], { input: tar }).toString()
    expect(listed).toMatch(/^-rw-r--r-- root\/root\s+513 2026-01-02 \d\d:\d\d top\/a$/m)
  })

  it('a path that needs a pax header (a name part over 100 bytes, or not ASCII) is refused by the writer, as before', async () => {
    const dir = fresh('src')
    mkdirSync(dir)
    writeFileSync(join(dir, 'a'), 'a')
    for (const path of ['top/' + 's'.repeat(101), 'top/ü']) {
      const out = new PassThrough()
      out.resume()
      await expect(writeTar(out, [], [{ path, file: join(dir, 'a'), size: 1, mtime: new Date() }], new Date())).rejects.toThrow(/does not fit a plain ustar header/)
    }
  })

  it('a reader that goes away mid-archive fails the writer instead of leaving it waiting', async () => {
    const dir = fresh('src')
    mkdirSync(dir)
    writeFileSync(join(dir, 'big'), Buffer.alloc(4 * 1024 * 1024))
    const out = new PassThrough({ highWaterMark: 1024 })
    out.once('data', () => out.destroy())
    await expect(writeTar(out, [], [{ path: 'big', file: join(dir, 'big'), size: 4 * 1024 * 1024, mtime: new Date() }], new Date())).rejects.toThrow(/the archive's reader went away/)
  })

  it('a file that changes while it is archived fails the writer', async () => {
    const dir = fresh('src')
    mkdirSync(dir)
    writeFileSync(join(dir, 'a'), 'abc')
    const out = new PassThrough()
    out.resume()
    await expect(writeTar(out, [], [{ path: 'a', file: join(dir, 'a'), size: 2, mtime: new Date() }], new Date())).rejects.toThrow(/changed while it was being archived/)
  })

  it('an entry is streamed to disk, not held: a 64 MiB entry never has more than a few MiB read ahead of the disk', async () => {
    const dir = fresh('big')
    const SIZE = 64 * 1024 * 1024
    const piece = Buffer.alloc(64 * 1024)
    let fed = 0
    let ahead = 0
    async function * archive (): AsyncIterable<Buffer> {
      yield header({ name: 'big', size: SIZE })
      while (fed < SIZE) {
        const written = existsSync(join(dir, 'big')) ? statSync(join(dir, 'big')).size : 0
        ahead = Math.max(ahead, fed - written)
        fed += piece.length
        yield piece
      }
      yield END
    }
    expect(await extractTar(archive(), dir)).toEqual(['big'])
    expect(statSync(join(dir, 'big')).size).toBe(SIZE)
    expect(ahead).toBeLessThan(8 * 1024 * 1024)
  })
})

describe('a crafted archive is refused as the reader before tar-stream refused it', () => {
  it('a path that leaves the directory: by name, by ustar prefix, absolute, with a backslash', async () => {
    for (const h of [{ name: '../evil' }, { name: 'b/../../evil' }, { name: 'evil', prefix: '..' }, { name: '/etc/evil' }, { name: 'b\\..\\evil' }]) {
      await expectRefused(Buffer.concat([entry(h, 'x'), END]), 'archive-damaged', /has an unsafe path/)
    }
  })

  it('a symbolic link and a hard link: refused as links, never made', async () => {
    await expectRefused(Buffer.concat([bundle, entry({ name: 'b/shadow', flag: '2', linkname: '/etc/shadow' }), END]), 'link', /"b\/shadow" is a symbolic link to "\/etc\/shadow"/)
    await expectRefused(Buffer.concat([bundle, entry({ name: 'b/second', flag: '1', linkname: 'b/records.csv' }), END]), 'link', /is a hard link to "b\/records.csv"/)
  })

  it('a character device, a block device, a FIFO and an unknown type', async () => {
    for (const flag of ['3', '4', '6', 'V']) {
      await expectRefused(Buffer.concat([bundle, entry({ name: 'b/dev', flag }), END]), 'archive-damaged', new RegExp(`is not a regular file or directory \\(type "${flag}"\\)`))
    }
  })

  it('a GNU long name and a GNU long link target (which tar-stream would fold into the next entry)', async () => {
    await expectRefused(Buffer.concat([bundle, gnuLong('b/../../evil'), entry({ name: 'b/short' }, 'x'), END]), 'archive-damaged', /"\.\/\.\/@LongLink" is not a regular file or directory \(type "L"\)/)
    await expectRefused(Buffer.concat([bundle, gnuLong('/etc/shadow', 'K'), entry({ name: 'b/short' }, 'x'), END]), 'archive-damaged', /\(type "K"\)/)
  })

  it('a pax header that renames, resizes or re-links the next entry (the reader before tar-stream skipped pax headers)', async () => {
    const file = entry({ name: 'b/extra' }, 'x')
    for (const records of [{ path: '../../evil' }, { path: 'b/records.jsonl' }, { size: '100000' }, { linkpath: '/etc/shadow' }, { 'GNU.sparse.name': 'b/x', 'GNU.sparse.realsize': '10' }] as Array<Record<string, string>>) {
      await expectRefused(Buffer.concat([bundle, pax(records), file, END]), 'archive-damaged', /a pax header renames, resizes or re-links/)
    }
    // A record hidden where the one before it does not end with a newline (tar-stream reads records by their length).
    const hidden = Buffer.from('7 a=bcX12 path=b/x\n')
    await expectRefused(Buffer.concat([bundle, entry({ name: 'PaxHeader/x', flag: 'x' }, hidden), file, END]), 'archive-damaged', /a pax header renames/)
    // A global one would apply to every entry after it.
    await expectRefused(Buffer.concat([pax({ path: 'b/manifest.json' }, 'g'), bundle, END]), 'archive-damaged', /a pax header renames/)
  })

  it('a pax header that only adds metadata (bsdtar\'s times and extended attributes, git archive\'s comment) is skipped, as before', async () => {
    const tar = Buffer.concat([pax({ comment: '4008856' }, 'g'), bundle.subarray(0, 1024), pax({ mtime: '1700000000.5', 'LIBARCHIVE.xattr.user.x': 'eA' }), bundle.subarray(1024), END])
    expect(await verdictOf(tar)).toMatchObject({ ok: true, records: 4 })
  })

  it('a pax header larger than 4 MiB is refused before it is held in memory', async () => {
    const big = header({ name: 'PaxHeader/x', flag: 'x', size: MAX_PAX_BYTES + 1 })
    await expectRefused(Buffer.concat([bundle, big, END]), 'archive-damaged', /a pax header of 4194305 bytes is larger/)
  })

  it('a directory that declares content (which one tar skips and another reads as headers)', async () => {
    for (const h of [{ name: 'b/dir/', flag: '5' }, { name: 'b/dir/', flag: '0' }]) {
      await expectRefused(Buffer.concat([bundle, entry(h, entry({ name: 'b/hidden' }, 'x')), END]), 'archive-damaged', /is a directory that declares 1024 bytes of content/)
    }
  })

  it('a header whose checksum is wrong', async () => {
    await expectRefused(Buffer.concat([bundle, header({ name: 'b/extra', checksumOff: 1 }), END]), 'archive-damaged', /checksum is wrong/)
  })

  it('a size field that is not octal (tar-stream would read as far as it parses), and a negative base-256 size', async () => {
    await expectRefused(Buffer.concat([bundle, entry({ name: 'b/extra', sizeField: Buffer.from('0000000001x7\u0000', 'latin1') }), END]), 'archive-damaged', /malformed number/)
    await expectRefused(Buffer.concat([bundle, entry({ name: 'b/extra', sizeField: base256(1n, 0xff) }), END]), 'archive-damaged', /malformed number/)
  })

  it('a base-256 size: read when it fits, refused when it is too large to read', async () => {
    const dir = fresh('out')
    expect(await extractOf(Buffer.concat([entry({ name: 'five', sizeField: base256(5n) }, 'hello'), END]), dir)).toEqual(['five'])
    expect(readFileSync(join(dir, 'five'), 'utf8')).toBe('hello')
    await expectRefused(Buffer.concat([bundle, entry({ name: 'b/huge', sizeField: base256(1n << 60n) }), END]), 'archive-damaged', /size too large to read/)
  })

  it('a huge declared size with little behind it: cut short, and only what is there was written', async () => {
    const dir = fresh('out')
    const tar = Buffer.concat([header({ name: 'huge', sizeField: base256(1n << 50n) }), Buffer.alloc(4096, 0x61)])
    await expect(extractOf(tar, dir)).rejects.toThrow(/ends in the middle of a file: it was cut short/)
    await expectRefused(tar, 'archive-damaged', /cut short/)
  })

  it('a name that reads differently to tar-stream and to the header\'s bytes (a GNU header with a ustar prefix)', async () => {
    await expectRefused(Buffer.concat([bundle, entry({ name: 'extra', prefix: 'b/sessions', magic: 'gnu' }, 'x'), END]), 'archive-damaged', /reads differently from its header's bytes/)
  })

  it('a block that tar-stream takes for a zero block but is not one', async () => {
    const block = Buffer.alloc(512)
    block.write('000400\u0000 ', 148, 8, 'latin1') // the checksum of a block of zeros with its field as spaces
    await expectRefused(Buffer.concat([bundle, block, entry({ name: 'b/extra' }, 'x'), END]), 'archive-damaged', /reads differently|was not read as an entry/)
  })

  it('an archive cut short: in a file, before its end marker, or empty', async () => {
    const whole = Buffer.concat([bundle, END])
    await expectRefused(Buffer.concat([bundle, header({ name: 'b/extra', size: 1000 }), Buffer.alloc(500)]), 'archive-damaged', /ends in the middle of a file: it was cut short/)
    await expectRefused(whole.subarray(0, bundle.length), 'archive-damaged', /ends without its end marker: it was cut short/)
    await expectRefused(Buffer.alloc(0), 'archive-damaged', /it is empty, or not a tar archive/)
    await expectRefused(Buffer.from('not a tar archive at all'), 'archive-damaged', /it is empty, or not a tar archive/)
  })

  it('a file named twice: the second copy does not replace the first (refused as the bundle unreadable, as before)', async () => {
    const tar = Buffer.concat([bundle, entry({ name: 'b/records.jsonl' }, 'forged'), END])
    await expect(extractOf(tar)).rejects.toMatchObject({ code: 'EEXIST' })
    await expect(verdictOf(tar)).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_BUNDLE_UNREADABLE' })
  })

  it('an entry outside the top directory', async () => {
    await expectRefused(Buffer.concat([bundle, entry({ name: 'c/extra' }, 'x'), END]), 'archive-damaged', /is outside the archive's top directory b\//)
  })
})

describe('what follows the end marker is not part of the archive', () => {
  it('an entry after the two zero blocks is not extracted (it would be an unlisted file, or replace one)', async () => {
    const tar = Buffer.concat([bundle, END, entry({ name: 'b/extra.txt' }, 'added'), entry({ name: 'b/../../evil' }, 'x'), END])
    expect(await verdictOf(tar)).toMatchObject({ ok: true, records: 4, problems: [] })
    const dir = fresh('out')
    expect(await extractOf(tar, dir)).not.toContain('b/extra.txt')
    expect(existsSync(join(dir, 'b', 'extra.txt'))).toBe(false)
  })

  it('trailing bytes after the end marker, and a lone zero block at the end, are tolerated', async () => {
    expect(await verdictOf(Buffer.concat([bundle, END, Buffer.from('garbage that is no header'.repeat(50))]))).toMatchObject({ ok: true })
    expect(await verdictOf(Buffer.concat([bundle, Buffer.alloc(512)]))).toMatchObject({ ok: true })
  })

  it('a gzip stream damaged after the end marker is still found damaged', async () => {
    const file = join(fresh('archive'), 'bundle.tar.gz')
    mkdirSync(join(file, '..'))
    const gz = gzipSync(Buffer.concat([bundle, END, Buffer.alloc(8192)]))
    writeFileSync(file, gz.subarray(0, gz.length - 6))
    expect(await verifyBundle(file)).toMatchObject({ ok: false, firstBad: { problem: 'archive-damaged', detail: expect.stringMatching(/not gzip-compressed, or is damaged/) } })
  })
})
