// Keeps the current policy: loads it at start (refusing to start on an invalid one), reloads it when the file
// changes or on SIGHUP, and keeps the last good policy when an edit is invalid.

import { EventEmitter } from 'node:events'
import { readFileSync, watch, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { PortcullisError } from '../errors.js'
import { compilePolicy, PolicyValidationError, type CompiledPolicy } from './compile.js'

export function loadPolicyFile (path: string, knownActions?: readonly string[]): CompiledPolicy {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_POLICY_READ', path, (err as Error).message)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_POLICY_INVALID', path, `  $: not valid JSON (${(err as Error).message})`, path)
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
  private watcher: FSWatcher | undefined
  private debounce: NodeJS.Timeout | undefined
  loadedAt = new Date()

  constructor (path: string, private readonly knownActions?: readonly string[]) {
    super()
    this.path = resolve(path)
    this.policy = loadPolicyFile(this.path, knownActions)
  }

  get current (): CompiledPolicy {
    return this.policy
  }

  reload (): ReloadOutcome {
    let outcome: ReloadOutcome
    try {
      const next = loadPolicyFile(this.path, this.knownActions)
      const changed = next.digest !== this.policy.digest
      this.policy = next
      this.loadedAt = new Date()
      outcome = { ok: true, digest: next.digest, changed }
    } catch (err) {
      outcome = { ok: false, digest: this.policy.digest, error: (err as Error).message, changed: false }
    }
    this.emit('reload', outcome)
    return outcome
  }

  /** Watch the directory, not the file: editors and `mv` replace the file, which ends a watch on it. */
  watch (): void {
    const file = basename(this.path)
    this.watcher = watch(dirname(this.path), (_event, name) => {
      if (name !== null && name !== file) return
      clearTimeout(this.debounce)
      this.debounce = setTimeout(() => this.reload(), 100)
    })
    this.watcher.unref()
  }

  close (): void {
    clearTimeout(this.debounce)
    this.watcher?.close()
  }
}
