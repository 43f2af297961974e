// Keeps the current policy: loads it at start (refusing to start on an invalid one), reloads it when the file
// changes or on SIGHUP, and keeps the last good policy when an edit is invalid.

import { EventEmitter } from 'node:events'
import { readFileSync, realpathSync, watch, type FSWatcher } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { PortcullisError } from '../errors.js'
import { compilePolicy, PolicyValidationError, type CompiledPolicy } from './compile.js'
import { findJsonSyntaxError } from './json-syntax.js'

export function loadPolicyFile (path: string, knownActions?: readonly string[]): CompiledPolicy {
  return compilePolicyText(path, readPolicyText(path), knownActions)
}

function readPolicyText (path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_POLICY_READ', path, (err as Error).message)
  }
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

export interface ReloadOutcome {
  ok: boolean
  digest: string
  /** Why the new file was refused (the old policy stays). */
  error?: string
  changed: boolean
}

export class PolicySource extends EventEmitter<{ reload: [ReloadOutcome] }> {
  readonly path: string
  private policy: CompiledPolicy
  private readonly watchers = new Map<string, FSWatcher>()
  private watching = false
  private debounce: NodeJS.Timeout | undefined
  /** The file text last looked at, good or bad: a watch event that changed nothing is not worth a report. */
  private lastText: string | null
  loadedAt = new Date()

  constructor (path: string, private readonly knownActions?: readonly string[]) {
    super()
    this.path = resolve(path)
    this.lastText = readPolicyText(this.path)
    this.policy = compilePolicyText(this.path, this.lastText, knownActions)
  }

  get current (): CompiledPolicy {
    return this.policy
  }

  /** Reload now (SIGHUP, `portcullis policy reload`): always reports. */
  reload (): ReloadOutcome {
    return this.load(undefined)
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

  private load (given: string | undefined): ReloadOutcome {
    let outcome: ReloadOutcome
    try {
      const text = given ?? readPolicyText(this.path)
      this.lastText = text
      const next = compilePolicyText(this.path, text, this.knownActions)
      const changed = next.digest !== this.policy.digest
      this.policy = next
      this.loadedAt = new Date()
      outcome = { ok: true, digest: next.digest, changed }
    } catch (err) {
      outcome = { ok: false, digest: this.policy.digest, error: (err as Error).message, changed: false }
    }
    this.watchDirs()
    this.emit('reload', outcome)
    return outcome
  }

  /**
   * Watch directories, not the file: editors and `mv` replace the file, which ends a watch on it. Both the
   * named path's directory and, for a symlink, the target's (a Kubernetes ConfigMap swaps a `..data` link), and
   * any change there triggers a reload; an unchanged file reloads to the same digest and is not reported.
   */
  watch (): void {
    this.watching = true
    this.watchDirs()
  }

  /** Called again after every load: the file may have become a link to somewhere new. */
  private watchDirs (): void {
    if (!this.watching) return
    const dirs = [dirname(this.path)]
    try {
      dirs.push(dirname(realpathSync(this.path)))
    } catch {}
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue
      try {
        const watcher = watch(dir, () => {
          clearTimeout(this.debounce)
          this.debounce = setTimeout(() => this.reloadIfChanged(), 100)
        })
        watcher.unref()
        this.watchers.set(dir, watcher)
      } catch {}
    }
  }

  close (): void {
    clearTimeout(this.debounce)
    for (const watcher of this.watchers.values()) watcher.close()
    this.watchers.clear()
  }
}
