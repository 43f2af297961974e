// What the daemon does for the audit trail on its own: sign the newest record every `audit.checkpointInterval`, or
// sooner once `audit.checkpointRecords` records came in (so a busy host's trail is pinned more often than every
// few minutes), when records came in since, and once more when it stops, and expire old records daily when `audit.retention`
// is set. Both read the policy at each run, so a reload applies from the next one.

import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Logger } from 'pino'
import { systemClock, type Clock } from '../core/clock.js'
import type { AuditSettings } from '../policy/compile.js'
import type { Checkpoint } from './checkpoint-format.js'
import { signCheckpoint } from './checkpoints.js'
import { messageOf } from './errors.js'
import { noteHead } from './head-file.js'
import { expireRecords, type ExpiryResult } from './retention.js'
import { ensureAuditKey, readAuditSigningKey, type AuditSigningKey } from './signing-key.js'
import type { AuditStore } from './store.js'

export interface AuditUpkeepOptions {
  store: AuditStore
  key: AuditSigningKey
  /** The current policy's audit settings. */
  settings: () => AuditSettings
  logger: Logger
  /** When a checkpoint is due is counted on it; default the system clock. */
  clock?: Clock
  /** Told after each checkpoint run that had a record to sign (the alerts listen). */
  onCheckpoint?: (outcome: CheckpointOutcome) => void
}

/** One checkpoint run: what was signed, or why not, and whether the key file still holds the key in use. */
export interface CheckpointOutcome {
  seq: number
  signed: Checkpoint | null
  error?: unknown
  /** Set when audit_ed25519.key is gone, unreadable or another key: the next start would have no key (or a new one). */
  keyProblem?: string
}

const DAY_MS = 86_400_000
/** How often the cadence is looked at: reading the head and the clock, no I/O. */
const CADENCE_TICK_MS = 1000

export interface CheckpointCadence {
  /** Now, and when the last checkpoint was signed (or tried, or the daemon started), in ms. */
  now: number
  lastAt: number
  /** Records appended since then. */
  newRecords: number
  intervalMs: number
  /** Sign sooner once this many records came in. */
  recordLimit: number
}

/** Whether a checkpoint is due: records came in, and the interval passed or enough of them came in. */
export function checkpointDue ({ now, lastAt, newRecords, intervalMs, recordLimit }: CheckpointCadence): boolean {
  return newRecords > 0 && (now - lastAt >= intervalMs || newRecords >= recordLimit)
}
/** The first expiry runs this long after start, out of the way of start-up. */
const FIRST_EXPIRY_DELAY_MS = 60_000

export class AuditUpkeep {
  readonly #options: AuditUpkeepOptions
  readonly #clock: Clock
  #checkpointTimer: NodeJS.Timeout | null = null
  #expiryTimer: NodeJS.Timeout | null = null
  /** The last seq signed by this process; a tick with nothing new signs nothing. */
  #signedSeq = 0
  /** When the last checkpoint was tried, and the head then: the cadence counts from it. */
  #last: { at: number, seq: number }
  /** The run in progress, which close() waits for. */
  #running: Promise<unknown> = Promise.resolve()
  #closed = false

  constructor (options: AuditUpkeepOptions) {
    this.#options = options
    this.#clock = options.clock ?? systemClock
    this.#last = { at: this.#clock.now(), seq: 0 }
  }

  start (): void {
    this.#last = { at: this.#clock.now(), seq: this.#options.store.head().seq }
    this.#scheduleCheckpoint()
    this.#expiryTimer = setTimeout(() => this.#expiryTick(), FIRST_EXPIRY_DELAY_MS).unref()
  }

  /** Signs the newest record unless this process already did. Logs failures rather than throwing. */
  async checkpoint (): Promise<Checkpoint | null> {
    const run = this.#running.then(async () => await this.#checkpointNow())
    this.#running = run
    return await run
  }

  /** Stops the timers, waits for a run in progress, and signs the newest record (portcullis.stop, usually). */
  async close (): Promise<void> {
    this.#closed = true
    if (this.#checkpointTimer !== null) clearTimeout(this.#checkpointTimer)
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer)
    await this.checkpoint()
  }

  async #checkpointNow (): Promise<Checkpoint | null> {
    const { store, key, logger } = this.#options
    const head = store.head()
    if (head.seq === 0 || head.seq === this.#signedSeq) return null
    this.#last = { at: this.#clock.now(), seq: head.seq }
    // Signing goes on with the key read at start; a key file that went away is for an operator to restore now.
    const keyProblem = keyFileProblem(key)
    if (keyProblem !== null) logger.error({ path: key.path, keyId: key.keyId }, `the audit signing key file ${keyProblem}`)
    const report = (outcome: Omit<CheckpointOutcome, 'seq' | 'keyProblem'>): void => {
      this.#options.onCheckpoint?.({ seq: head.seq, ...outcome, ...(keyProblem !== null ? { keyProblem } : {}) })
    }
    try {
      const checkpoint = await signCheckpoint(store, key, { seq: head.seq, logger })
      this.#signedSeq = checkpoint.seq
      noteHead(store.dir, { seq: checkpoint.seq, hash: checkpoint.hash }, this.#closed ? 'stop' : 'checkpoint', logger)
      report({ signed: checkpoint })
      return checkpoint
    } catch (err) {
      logger.error({ err, seq: head.seq }, 'could not sign an audit checkpoint')
      report({ signed: null, error: err })
      return null
    }
  }

  /** Looks every second (or every interval, when shorter) whether a checkpoint is due. */
  #scheduleCheckpoint (): void {
    if (this.#closed) return
    const settings = this.#options.settings()
    this.#checkpointTimer = setTimeout(() => {
      const { checkpointIntervalMs: intervalMs, checkpointRecords: recordLimit } = this.#options.settings()
      const due = checkpointDue({ now: this.#clock.now(), lastAt: this.#last.at, newRecords: this.#options.store.head().seq - this.#last.seq, intervalMs, recordLimit })
      if (!due) {
        this.#scheduleCheckpoint()
        return
      }
      void this.checkpoint().finally(() => this.#scheduleCheckpoint())
    }, Math.min(CADENCE_TICK_MS, settings.checkpointIntervalMs)).unref()
  }

  #expiryTick (): void {
    if (this.#closed) return
    const run = this.#running.then(async () => await this.#expireNow())
    this.#running = run
    void run.finally(() => {
      if (!this.#closed) this.#expiryTimer = setTimeout(() => this.#expiryTick(), DAY_MS).unref()
    })
  }

  async #expireNow (): Promise<ExpiryResult | null> {
    const { store, key, logger } = this.#options
    const retentionMs = this.#options.settings().retentionMs
    if (retentionMs === null) return null
    try {
      const result = await expireRecords(store, { retentionMs, key, logger })
      if (result.held !== null) {
        logger.warn({ held: result.held, bundledSeq: result.bundledSeq },
          `audit records ${result.held.fromSeq} to ${result.held.toSeq} are past the retention but in no evidence bundle, so they are kept: ` +
          'run `portcullis audit bundle` for them (or `portcullis audit expire --force` to remove them anyway)')
      }
      return result
    } catch (err) {
      logger.error({ err }, 'audit expiry failed; nothing was removed past the last segment reported')
      return null
    }
  }
}

/** Why the key file no longer holds `key` (`is gone`, `cannot be read: …`, `holds another key …`), or null when it does. */
function keyFileProblem (key: AuditSigningKey): string | null {
  try {
    const onDisk = readAuditSigningKey(dirname(key.path))
    return onDisk.keyId === key.keyId ? null : `holds another key (${onDisk.keyId}) than the one in use (${key.keyId})`
  } catch (err) {
    return existsSync(key.path) ? `cannot be read: ${messageOf(err)}` : 'is gone'
  }
}

/** The daemon's signing key: made when the keys directory has none (logged), null when it cannot be read or made
 * (logged: the daemon runs on, without checkpoints). */
export function loadAuditSigningKey (dir: string, logger: Logger): AuditSigningKey | null {
  try {
    const { key, created } = ensureAuditKey(dir)
    if (created) logger.info({ keyId: key.keyId, path: key.path }, 'made the audit checkpoint signing key; publish audit_ed25519.pub to whoever reviews the audit trail')
    return key
  } catch (err) {
    logger.error({ err, keys: dir }, `no audit signing key (${messageOf(err)}): the audit trail gets no signed checkpoints and records are not expired`)
    return null
  }
}
