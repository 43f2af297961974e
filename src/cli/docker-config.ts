// The docker CLI config a token goes into (DIR/config.json): its HttpHeaders entry X-Portcullis-Token, merged so
// every other key and header stays. Root often writes into a user's directory, so the file keeps its owner (a new
// one takes the directory's), is never read or replaced through a symlink, and is 0600 (it holds a secret).

import { randomBytes } from 'node:crypto'
import { chownSync, closeSync, constants, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, type Stats } from 'node:fs'
import { dirname, join } from 'node:path'
import { PortcullisError } from '../errors.js'
import { TOKEN_HEADER } from '../identity/resolve.js'

export interface DockerConfigWrite {
  file: string
  /** False when the file was made here. */
  existed: boolean
}

/** Sets the token header in DIR/config.json, making DIR (0700) and the file (0600) when missing. */
export function writeTokenHeader (dir: string, token: string): DockerConfigWrite {
  const file = join(dir, 'config.json')
  const dirStat = ensureDir(dir)
  const current = readConfig(file)
  const config = current?.config ?? {}
  const headers = config.HttpHeaders === undefined ? {} : config.HttpHeaders
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) throw new PortcullisError('PORTCULLIS_DOCKER_CONFIG_INVALID', file, 'its HttpHeaders is not an object')
  // One header, however an earlier one was spelt: the plugin matches the name in any case.
  const kept = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== TOKEN_HEADER.toLowerCase()))
  config.HttpHeaders = { ...kept, [TOKEN_HEADER]: token }
  const owner = current?.stat ?? dirStat
  replaceFile(file, JSON.stringify(config, null, '\t') + '\n', owner)
  return { file, existed: current !== null }
}

function ensureDir (dir: string): Stats {
  try {
    return statSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new PortcullisError('PORTCULLIS_DOCKER_CONFIG_INVALID', dir, (err as Error).message)
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_DOCKER_CONFIG_INVALID', dir, (err as Error).message)
  }
  // Made by root for a user: theirs, as the directory above it is.
  chownLike(dir, statSync(dirname(dir)))
  return statSync(dir)
}

function readConfig (file: string): { config: Record<string, unknown>, stat: Stats } | null {
  let stat: Stats
  try {
    stat = lstatSync(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new PortcullisError('PORTCULLIS_DOCKER_CONFIG_INVALID', file, (err as Error).message)
  }
  if (!stat.isFile()) throw new PortcullisError('PORTCULLIS_DOCKER_CONFIG_INVALID', file, 'it is not a regular file (a symlink or other)')
  let text: string
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW)
    try { text = readFileSync(fd, 'utf8') } finally { closeSync(fd) }
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_DOCKER_CONFIG_INVALID', file, (err as Error).message)
  }
  let parsed: unknown
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text)
  } catch {
    // The parser's message quotes the file's bytes: say only that it is not JSON.
    throw new PortcullisError('PORTCULLIS_DOCKER_CONFIG_INVALID', file, 'it is not JSON')
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new PortcullisError('PORTCULLIS_DOCKER_CONFIG_INVALID', file, 'it is not a JSON object')
  return { config: parsed as Record<string, unknown>, stat }
}

/** Writes a new file next to `file` (created exclusively, 0600, owned like `owner`) and renames it over `file`. */
function replaceFile (file: string, text: string, owner: Stats): void {
  const partial = `${file}.${randomBytes(6).toString('hex')}.tmp`
  const fd = openSync(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    chownLike(partial, owner)
    renameSync(partial, file)
  } catch (err) {
    rmSync(partial, { force: true })
    throw new PortcullisError('PORTCULLIS_DOCKER_CONFIG_INVALID', file, (err as Error).message)
  }
}

/** Gives `path` the owner of `like` when this process may (root) and it differs; otherwise leaves it. */
function chownLike (path: string, like: Stats): void {
  if (process.getuid?.() !== 0) return
  const mine = lstatSync(path)
  if (mine.uid !== like.uid || mine.gid !== like.gid) chownSync(path, like.uid, like.gid)
}
