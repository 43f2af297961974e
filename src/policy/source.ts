// Keeps the current policy: loads it at start (refusing to start on an invalid one), reloads it when the file
// changes or on SIGHUP, and keeps the last good policy when an edit is invalid. With `serve --policy-from fleet` the
// bytes come from the fleet's signed revisions instead (src/fleet/policy-follower.ts) and the file is not watched.

import { EventEmitter } from 'node:events'
import { closeSync, constants, fstatSync, openSync, readFileSync, readlinkSync, realpathSync, watch, type FSWatcher, type Stats } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { hasPortcullisCode, PortcullisError } from '../errors.js'
import { compilePolicy, PolicyValidationError, type CompiledPolicy } from './compile.js'
import { findJsonSyntaxError } from './json-syntax.js'
import { diffPolicies, type PolicyChange } from './policy-diff.js'

export function loadPolicyFile (path: string, knownActions?: readonly string[]): CompiledPolicy {
  return compilePolicyText(path, readPolicyText(path), knownActions)
}

/** A policy's exact bytes (what `policy publish` signs), compiled as the text they are; bytes that are not UTF-8
 * are refused, since a host would read different text from them. */
export function compilePolicyBytes (path: string, bytes: Buffer, knownActions?: readonly string[]): CompiledPolicy {
  if (bytes.length > MAX_POLICY_BYTES) throw new PortcullisError('PORTCULLIS_POLICY_READ', path, `it holds ${bytes.length} bytes, more than the ${MAX_POLICY_BYTES} a policy may have`)
  const text = bytes.toString('utf8')
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw new PortcullisError('PORTCULLIS_POLICY_INVALID', path, '  $: not UTF-8 text', path)
  return compilePolicyText(path, text, knownActions)
}

/** Larger than any policy a person writes; a bigger file is a mistake, not something to parse on the event loop. */
const MAX_POLICY_BYTES = 16 * 1024 * 1024

/**
 * Reads the policy from a regular file only. The open does not wait (O_NONBLOCK: a FIFO opens at once) and the
 * kind is checked on the open descriptor, so a FIFO, socket or device at the path is refused rather than read:
 * a read from a FIFO would block the event loop and stall every decision.
 */
function readPolicyText (path: string): string {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_POLICY_READ', path, (err as Error).message)
  }
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) throw new PortcullisError('PORTCULLIS_POLICY_NOT_FILE', path, kindOf(stat))
    if (stat.size > MAX_POLICY_BYTES) throw new PortcullisError('PORTCULLIS_POLICY_READ', path, `it holds ${stat.size} bytes, more than the ${MAX_POLICY_BYTES} a policy may have`)
    return readFileSync(fd, 'utf8')
  } catch (err) {
    if (err instanceof PortcullisError) throw err
    throw new PortcullisError('PORTCULLIS_POLICY_READ', path, (err as Error).message)
  } finally {
    closeSync(fd)
  }
}

function kindOf (stat: Stats): string {
  if (stat.isFIFO()) return 'a FIFO (named pipe)'
  if (stat.isDirectory()) return 'a directory'
  if (stat.isSocket()) return 'a socket'
  if (stat.isCharacterDevice()) return 'a character device'
  if (stat.isBlockDevice()) return 'a block device'
  return 'not a regular file'
}

function compilePolicyText (path: string, text: string, knownActions?: readonly string[]): CompiledPolicy {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    // file:line:column, the form editors jump to.
    const found = findJsonSyntaxError(text)
    const where = found === null ? `  $: not valid JSON (${(err as Error).message})` : `  ${path}:${found.line}:${found.column}: not valid JSON: ${found.message}`
    throw new PortcullisError('PORTCULLIS_POLICY_INVALID', path, where, path)
  }
  try {
    return compilePolicy(parsed, knownActions)
  } catch (err) {
    if (err instanceof PolicyValidationError) throw new PortcullisError('PORTCULLIS_POLICY_INVALID', path, err.message, path)
    throw err
  }
}

/** How long the watcher waits after the last change event before reading the file… */
const SETTLE_MS = 100
/** …and at most this long after the first one. */
const MAX_SETTLE_MS = 500

export interface ReloadOutcome {
  ok: boolean
  digest: string
  /** Why the new file was refused (the old policy stays). */
  error?: string
  /** The refusal's code (PORTCULLIS_POLICY_READ, _NOT_FILE, _INVALID). */
  code?: string
  changed: boolean
  /** What the applied policy changed from the one before it (src/policy/policy-diff.ts); empty when nothing did. */
  changes?: PolicyChange[]
  /** From the fleet: the revision applied or refused, and who published it. */
  revision?: number
  publisher?: string
  /** Who asked for this reload, when it was asked for on the admin socket: its peer as the kernel reports it. */
  requestedBy?: Record<string, unknown>
}

/** The fleet revision a policy came from. */
export interface FleetRevision {
  revision: number
  publisher: string
  publishedAt: string
  rollback: boolean
}

/** Where a decision reads the policy in force: a file watched on this host (PolicySource), or (issue 14) the fleet's
 * signed policy. */
export interface PolicyProvider {
  readonly current: CompiledPolicy
}

export class PolicySource extends EventEmitter<{ reload: [ReloadOutcome] }> implements PolicyProvider {
  readonly path: string
  private policy: CompiledPolicy
  private readonly watchers = new Map<string, { watcher: FSWatcher, names: Set<string> }>()
  private watching = false
  private debounce: NodeJS.Timeout | undefined
  private pendingSince: number | null = null
  /** The file text last looked at, good or bad: a watch event that changed nothing is not worth a report. */
  private lastText: string | null
  loadedAt = new Date()
  /** The fleet revision in force; null for a policy read from a file. */
  revision: FleetRevision | null = null
  /** Asked by reload() in fleet mode: fetch the newest revision now. */
  private fetchNow: (() => void) | null = null

  /** From the file at `path`; or, given `fleet`, from a verified fleet revision (`path` then only names its source). */
  constructor (path: string, private readonly knownActions?: readonly string[], fleet?: { text: string, revision: FleetRevision }) {
    super()
    if (fleet !== undefined) {
      this.path = path
      this.lastText = fleet.text
      this.policy = compilePolicyText(`${path} revision ${fleet.revision.revision}`, fleet.text, knownActions)
      this.revision = fleet.revision
      return
    }
    this.path = resolve(path)
    this.lastText = readPolicyText(this.path)
    this.policy = compilePolicyText(this.path, this.lastText, knownActions)
  }

  get current (): CompiledPolicy {
    return this.policy
  }

  /** Reload now (SIGHUP, `portcullis policy reload`): always reports. From the fleet: asks for the newest revision. */
  reload (requestedBy?: Record<string, unknown>): ReloadOutcome {
    if (this.revision !== null) {
      this.fetchNow?.()
      return { ok: true, digest: this.policy.digest, changed: false, revision: this.revision.revision, publisher: this.revision.publisher }
    }
    return this.load(undefined, requestedBy)
  }

  /** Fleet mode: what reload() asks for. */
  onReloadRequest (fetch: () => void): void {
    this.fetchNow = fetch
  }

  /**
   * Fleet mode: applies a verified revision's text in one step (every decision after this sees all of it), or, when
   * it is not a valid policy, keeps the one in force. Reports either way.
   */
  applyRevision (text: string, revision: FleetRevision): ReloadOutcome {
    let next: CompiledPolicy
    try {
      next = compilePolicyText(`${this.path} revision ${revision.revision}`, text, this.knownActions)
    } catch (err) {
      return this.refuseRevision(revision, hasPortcullisCode(err) ? err.code : 'PORTCULLIS_POLICY_INVALID', (err as Error).message)
    }
    const changed = next.digest !== this.policy.digest || revision.revision !== this.revision?.revision
    const changes = diffPolicies(this.policy.document, next.document)
    this.policy = next
    this.revision = revision
    this.lastText = text
    this.loadedAt = new Date()
    const outcome: ReloadOutcome = { ok: true, digest: next.digest, changed, changes, revision: revision.revision, publisher: revision.publisher }
    this.emit('reload', outcome)
    return outcome
  }

  /** Fleet mode: reports a revision that was not applied (the policy in force stays). */
  refuseRevision (revision: { revision: number, publisher: string }, code: string, error: string): ReloadOutcome {
    const outcome: ReloadOutcome = { ok: false, digest: this.policy.digest, error, code, changed: false, revision: revision.revision, publisher: revision.publisher }
    this.emit('reload', outcome)
    return outcome
  }

  /** A watch event: reload only when the file text differs from what was last looked at. */
  private reloadIfChanged (): void {
    let text: string
    try {
      text = readPolicyText(this.path)
    } catch {
      // Unreadable (mid-replace, or removed): report it once, with the read error.
      if (this.lastText !== null) {
        this.load(undefined)
        this.lastText = null
      }
      return
    }
    if (text !== this.lastText) this.load(text)
  }

  private load (given: string | undefined, requestedBy?: Record<string, unknown>): ReloadOutcome {
    let outcome: ReloadOutcome
    try {
      const text = given ?? readPolicyText(this.path)
      this.lastText = text
      const next = compilePolicyText(this.path, text, this.knownActions)
      const changed = next.digest !== this.policy.digest
      const changes = diffPolicies(this.policy.document, next.document)
      this.policy = next
      this.loadedAt = new Date()
      outcome = { ok: true, digest: next.digest, changed, changes }
    } catch (err) {
      outcome = { ok: false, digest: this.policy.digest, error: (err as Error).message, ...(hasPortcullisCode(err) ? { code: err.code } : {}), changed: false }
    }
    if (requestedBy !== undefined) outcome.requestedBy = requestedBy
    this.watchDirs()
    this.emit('reload', outcome)
    return outcome
  }

  /**
   * Watch the policy file through its directories: editors and `mv` replace the file, which ends a watch on the
   * file itself. Only events for the policy's own names count (the file, the first step of its symlink: a
   * Kubernetes ConfigMap swaps a `..data` link, and the link target's name), so a busy neighbour file never
   * delays a reload. An unchanged file reloads to the same digest and is not reported.
   */
  watch (): void {
    if (this.revision !== null) return
    this.watching = true
    this.watchDirs()
  }

  /** Called again after every load: the file may have become a link to somewhere new. */
  private watchDirs (): void {
    if (!this.watching) return
    for (const [dir, names] of this.watchedNames()) {
      const known = this.watchers.get(dir)
      if (known !== undefined) {
        for (const name of names) known.names.add(name)
        continue
      }
      try {
        const entry = { names, watcher: watch(dir, (_event, filename) => {
          if (filename === null || entry.names.has(filename)) this.changed()
        }) }
        entry.watcher.unref()
        this.watchers.set(dir, entry)
      } catch {}
    }
  }

  /** Directory → the names in it whose change can change what the policy path reads. */
  private watchedNames (): Map<string, Set<string>> {
    const names = new Map<string, Set<string>>([[dirname(this.path), new Set([basename(this.path)])]])
    try {
      const link = readlinkSync(this.path)
      const first = link.split('/')[0]
      if (first !== undefined && first !== '' && first !== '.' && first !== '..') names.get(dirname(this.path))!.add(first)
    } catch {}
    try {
      const target = realpathSync(this.path)
      const dir = dirname(target)
      names.set(dir, new Set([...(names.get(dir) ?? []), basename(target)]))
    } catch {}
    return names
  }

  /**
   * Waits for writes to settle (SETTLE_MS after the last event) before reading, but never longer than
   * MAX_SETTLE_MS after the first: a file rewritten without pause still reloads promptly.
   */
  private changed (): void {
    const now = Date.now()
    this.pendingSince ??= now
    clearTimeout(this.debounce)
    const wait = Math.max(0, Math.min(SETTLE_MS, this.pendingSince + MAX_SETTLE_MS - now))
    this.debounce = setTimeout(() => {
      this.pendingSince = null
      this.reloadIfChanged()
    }, wait)
  }

  close (): void {
    clearTimeout(this.debounce)
    for (const { watcher } of this.watchers.values()) watcher.close()
    this.watchers.clear()
  }
}
