// The sealed-file output: the records as JSON lines (each line the text the store holds) appended to one open file,
// which is synced and renamed, atomically, to a name carrying its first and last seq once it is big or old enough,
// and at shutdown; then the directory is synced. A file-reading agent (Fluent Bit `tail`, Vector `file`) that reads
// `*.jsonl` only ever sees whole files. What the sink holds is its own truth: the newest sealed file's last seq (or
// the output's delivered mark, when the agent removed the files), plus the whole lines of the open file that continue
// it; a torn last line left by a crash is cut off and read again from the store.

import { constants } from 'node:fs'
import { chmod, chown, lstat, mkdir, open, readdir, readFile, rename, stat, truncate, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { ChainVerifier, isChainFault } from '../audit/chain-verifier.js'
import type { StoredRecord } from '../audit/query.js'
import { parseRecord } from '../audit/record.js'
import { textLines } from '../audit/text-lines.js'
import { PortcullisError } from '../errors.js'
import type { FilesOutputSettings } from '../policy/outputs.js'
import { groupId } from './group.js'
import type { RecordSink, SinkPosition } from './record-sink.js'
import { OPEN_FILE, sealedFiles, sealedName } from './sealed-names.js'

export interface SealedFileStatus {
  /** What the delivered seq means here (each sink says; `portcullis status` shows it). */
  delivery: 'sealed in a file'
  dir: string
  /** The last seq in a sealed file (or the delivered mark, when the sealed files were removed). */
  sealedSeq: number
  /** Records in the open file, not yet sealed. */
  openRecords: number
  openBytes: number
  /** Files sealed by this run. */
  sealedFiles: number
  lastSealedAt: string | null
}

export class SealedFileSink implements RecordSink {
  readonly name = 'files'
  readonly #settings: FilesOutputSettings
  readonly #logger: Logger
  #gid: number | null = null
  #handle: FileHandle | null = null
  #bytes = 0
  #firstSeq = 0
  #lastSeq = 0
  #openedAt = 0
  #sealedSeq = 0
  #sealedCount = 0
  #lastSealedAt: string | null = null

  constructor (settings: FilesOutputSettings, logger: Logger) {
    this.#settings = settings
    this.#logger = logger
  }

  get deliveredSeq (): number {
    return this.#sealedSeq
  }

  get #openPath (): string {
    return join(this.#settings.dir, OPEN_FILE)
  }

  async open (delivered: number | null): Promise<SinkPosition> {
    this.#gid = this.#settings.group === null ? null : await groupId(this.#settings.group)
    await this.#prepareDir()
    const newest = sealedFiles(await readdir(this.#settings.dir)).at(-1)
    this.#sealedSeq = Math.max(newest?.lastSeq ?? 0, delivered ?? 0)
    const sealedHash = newest !== undefined && newest.lastSeq === this.#sealedSeq ? await this.#lastHashOf(newest.name) : null
    const recovered = await this.#recoverOpenFile(sealedHash)
    return recovered ?? { seq: this.#sealedSeq, hash: sealedHash }
  }

  async write (rows: readonly StoredRecord[]): Promise<void> {
    let pending: StoredRecord[] = []
    let pendingBytes = 0
    for (const row of rows) {
      const bytes = Buffer.byteLength(row.text) + 1
      const follows = row.record.seq === this.#lastSeq + 1
      if ((this.#handle !== null || pending.length > 0) && (!follows || this.#bytes + pendingBytes + bytes > this.#settings.maxBytes)) {
        await this.#append(textLines(pending, true), pendingBytes)
        pending = []
        pendingBytes = 0
        await this.#seal()
      }
      if (this.#handle === null) await this.#create(row.record.seq)
      pending.push(row)
      pendingBytes += bytes
      this.#lastSeq = row.record.seq
    }
    if (pending.length > 0) await this.#append(textLines(pending, true), pendingBytes)
    if (this.#handle !== null && this.#bytes >= this.#settings.maxBytes) await this.#seal()
  }

  async tick (now: number): Promise<void> {
    if (this.#handle !== null && now - this.#openedAt >= this.#settings.maxAgeMs) await this.#seal()
  }

  /** Seals the open file (shutdown). */
  async close (): Promise<void> {
    if (this.#handle !== null) await this.#seal()
  }

  /** Drops the open file handle after a failed write; open() then recovers what is on disk. */
  async abandon (): Promise<void> {
    await this.#handle?.close().catch(() => {})
    this.#handle = null
  }

  status (): SealedFileStatus {
    return {
      dir: this.#settings.dir,
      delivery: 'sealed in a file',
      sealedSeq: this.#sealedSeq,
      openRecords: this.#handle === null ? 0 : this.#lastSeq - this.#firstSeq + 1,
      openBytes: this.#bytes,
      sealedFiles: this.#sealedCount,
      lastSealedAt: this.#lastSealedAt
    }
  }

  get #dirMode (): number {
    return this.#gid === null ? 0o700 : 0o750
  }

  get #fileMode (): number {
    return this.#gid === null ? 0o600 : 0o640
  }

  async #prepareDir (): Promise<void> {
    const dir = this.#settings.dir
    try {
      await mkdir(dir, { recursive: true, mode: this.#dirMode })
      const found = await lstat(dir)
      if (found.isSymbolicLink() || !found.isDirectory()) throw new Error('it is not a directory')
      // Another owner could replace or edit the files after they are sealed.
      if (process.getuid !== undefined && found.uid !== process.getuid()) throw new Error(`it is owned by uid ${found.uid}, not by this process's uid ${process.getuid()}`)
      await chmod(dir, this.#dirMode)
      if (this.#gid !== null) await chown(dir, found.uid, this.#gid)
    } catch (err) {
      throw new PortcullisError('PORTCULLIS_OUTPUT_DIR', dir, (err as Error).message)
    }
  }

  async #lastHashOf (name: string): Promise<string | null> {
    const text = await readFile(join(this.#settings.dir, name), 'utf8').catch(() => '')
    const lines = text.split('\n').filter((line) => line !== '')
    return parseRecord(lines.at(-1) ?? '')?.hash ?? null
  }

  /** Keeps the whole lines of a leftover open file that continue the chain after the sealed seq (a crash left
   * them), cuts off the rest, and opens it for appending; null when nothing of it is kept. */
  async #recoverOpenFile (sealedHash: string | null): Promise<SinkPosition | null> {
    const path = this.#openPath
    let text: Buffer
    try {
      const found = await lstat(path)
      if (!found.isFile()) throw new PortcullisError('PORTCULLIS_OUTPUT_DIR', this.#settings.dir, `${OPEN_FILE} is not a regular file`)
      text = await readFile(path)
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return null
      throw err
    }
    let kept = 0
    let verifier: ChainVerifier | null = null
    let last: SinkPosition | null = null
    let first = 0
    for (let start = 0; start < text.length;) {
      const end = text.indexOf(0x0a, start)
      if (end < 0) break // a torn last line
      const line = text.toString('utf8', start, end)
      const record = parseRecord(line)
      if (record === null || record.seq <= this.#sealedSeq) break
      // The first line continues the sealed files, or (after a gap the output recorded) starts later.
      verifier ??= new ChainVerifier({ seq: record.seq, prevHash: record.seq === this.#sealedSeq + 1 && sealedHash !== null ? sealedHash : record.prevHash })
      const checked = verifier.next({ seq: record.seq, text: line })
      if (isChainFault(checked)) break
      if (first === 0) first = record.seq
      last = { seq: record.seq, hash: record.hash }
      kept = end + 1
      start = end + 1
    }
    if (kept < text.length) this.#logger.warn({ file: path, bytes: text.length, kept }, 'SIEM output: the open file ends in a torn or unreadable line (a crash); cut off there, the rest is read again from the store')
    if (last === null) {
      await unlink(path)
      return null
    }
    if (kept < text.length) await truncate(path, kept)
    this.#handle = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW)
    this.#bytes = kept
    this.#firstSeq = first
    this.#lastSeq = last.seq
    this.#openedAt = Date.now()
    return last
  }

  async #create (firstSeq: number): Promise<void> {
    const path = this.#openPath
    const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND | constants.O_NOFOLLOW, this.#fileMode)
    try {
      // The mode is set again: the umask may have taken bits the group needs.
      await handle.chmod(this.#fileMode)
      if (this.#gid !== null) await handle.chown((await handle.stat()).uid, this.#gid)
    } catch (err) {
      await handle.close()
      await unlink(path).catch(() => {})
      throw err
    }
    this.#handle = handle
    this.#bytes = 0
    this.#firstSeq = firstSeq
    this.#lastSeq = firstSeq - 1
    this.#openedAt = Date.now()
  }

  async #append (lines: Buffer, bytes: number): Promise<void> {
    if (bytes === 0) return
    await this.#handle!.appendFile(lines)
    this.#bytes += bytes
  }

  async #seal (): Promise<void> {
    const handle = this.#handle!
    this.#handle = null
    await handle.sync()
    await handle.close()
    if (this.#bytes === 0) {
      await unlink(this.#openPath)
      return
    }
    const name = sealedName(this.#firstSeq, this.#lastSeq)
    await rename(this.#openPath, join(this.#settings.dir, name))
    await syncDir(this.#settings.dir)
    this.#sealedSeq = this.#lastSeq
    this.#sealedCount++
    this.#lastSealedAt = new Date().toISOString()
    this.#bytes = 0
    await this.#prune().catch((err: unknown) => this.#logger.warn({ err, dir: this.#settings.dir }, 'SIEM output: could not remove old sealed files'))
  }

  /** Removes the oldest sealed files past keepFor or keepBytes (when set); the newest always stays. */
  async #prune (): Promise<void> {
    const { keepForMs, keepBytes, dir } = this.#settings
    if (keepForMs === null && keepBytes === null) return
    const files = sealedFiles(await readdir(dir))
    const sized = await Promise.all(files.map(async (file) => ({ ...file, stat: await stat(join(dir, file.name)) })))
    let total = sized.reduce((sum, file) => sum + file.stat.size, 0)
    const now = Date.now()
    for (const file of sized.slice(0, -1)) {
      const tooOld = keepForMs !== null && now - file.stat.mtimeMs > keepForMs
      const tooMuch = keepBytes !== null && total > keepBytes
      if (!tooOld && !tooMuch) break
      await unlink(join(dir, file.name))
      total -= file.stat.size
      this.#logger.info({ file: file.name, tooOld, tooMuch }, 'SIEM output: removed an old sealed file (outputs.files.keepFor / keepBytes)')
    }
  }
}

/** Makes a rename in `dir` durable. */
async function syncDir (dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY)
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
