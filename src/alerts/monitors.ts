// What the daemon watches to raise alerts: the audit store's write failure (polled each second, so the sinks hear
// of it while the store cannot record it), free disk space of the store's file system (statfs, every
// alerts.diskCheckInterval), policy reloads, the fleet shippers' lag and alarm records, and the SIEM outputs' failures.

import { statfs } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { AuditRecord } from '../audit/record.js'
import type { AuditStore } from '../audit/store.js'
import type { DiskThreshold } from '../policy/alerts.js'
import type { PolicySource, ReloadOutcome } from '../policy/source.js'
import type { Alerts } from './alerts.js'

export interface AlertMonitorsOptions {
  alerts: Alerts
  audit: AuditStore
  policy: PolicySource
  logger: Logger
}

const TICK_MS = 1000

export class AlertMonitors {
  readonly #options: AlertMonitorsOptions
  #timer: NodeJS.Timeout | null = null
  /** The SIEM outputs whose last record is output.failed. */
  readonly #failingOutputs = new Set<string>()
  #lastDiskCheck = 0
  #diskChecking = false
  #unsubscribe: (() => void) | null = null
  readonly #onReload = (outcome: ReloadOutcome): void => this.#reloaded(outcome)

  constructor (options: AlertMonitorsOptions) {
    this.#options = options
  }

  start (): void {
    this.#options.policy.on('reload', this.#onReload)
    this.#unsubscribe = this.#options.audit.subscribe((record) => this.#recorded(record))
    this.#tick()
  }

  stop (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#options.policy.off('reload', this.#onReload)
    this.#unsubscribe?.()
  }

  /** Looks at the free disk space now (tests; the tick calls it every alerts.diskCheckInterval). */
  async checkDisk (): Promise<void> {
    const { audit, alerts, policy, logger } = this.#options
    this.#lastDiskCheck = Date.now()
    let space: { free: number, total: number }
    try {
      const stats = await statfs(audit.dir)
      space = { free: stats.bavail * stats.bsize, total: stats.blocks * stats.bsize }
    } catch (err) {
      logger.warn({ err, dir: audit.dir }, 'cannot read the free space of the audit store\'s file system')
      return
    }
    const threshold = policy.current.alerts.diskFreeBelow
    const fields = { dir: audit.dir, freeBytes: space.free, totalBytes: space.total, threshold: thresholdText(threshold) }
    const low = 'bytes' in threshold ? space.free < threshold.bytes : space.free < space.total * threshold.percent / 100
    if (low) alerts.raise('disk-low', `${formatBytes(space.free)} free of ${formatBytes(space.total)} on the file system of ${audit.dir}, below ${thresholdText(threshold)}`, { fields })
    else alerts.resolve('disk-low', `${formatBytes(space.free)} free on the file system of ${audit.dir}`, fields)
  }

  #tick (): void {
    const { audit, alerts, policy } = this.#options
    const outage = audit.outage()
    if (outage !== null && audit.failure !== null) {
      alerts.raise('audit-write-failed', `${outage.error} (since ${outage.since}; ${outage.deniedCalls} calls denied so far)`, {
        code: outage.code,
        fields: { outageState: outage.state, failedAt: outage.since, durableSeq: outage.durable.seq, dir: audit.dir }
      })
    } else if (outage === null && alerts.isActive('audit-write-failed')) {
      alerts.resolve('audit-write-failed', `audit writes work again; the store is at record ${audit.head().seq}`, { head: audit.head().seq })
    }
    // A failing store is often a full disk: look now rather than at the next interval.
    const due = Date.now() - this.#lastDiskCheck >= policy.current.alerts.diskCheckIntervalMs || (outage !== null && !alerts.isActive('disk-low'))
    if (due && !this.#diskChecking) {
      this.#diskChecking = true
      void this.checkDisk().finally(() => { this.#diskChecking = false })
    }
    alerts.tick()
    this.#timer = setTimeout(() => this.#tick(), TICK_MS)
    this.#timer.unref()
  }

  #reloaded (outcome: ReloadOutcome): void {
    const { alerts, policy } = this.#options
    if (outcome.ok) {
      alerts.resolve('policy-reload-failed', `the policy reloaded (digest ${outcome.digest.slice(0, 12)}…)`)
      return
    }
    const revision = outcome.revision !== undefined ? { policyRevision: outcome.revision, publisher: outcome.publisher } : {}
    alerts.raise('policy-reload-failed', `${policy.path}: ${outcome.error ?? 'refused'}`, {
      ...(outcome.code !== undefined ? { code: outcome.code } : {}),
      fields: { policyDigest: outcome.digest, ...revision }
    })
  }

  /** The fleet shippers record their lag and integrity alarms in the chain: each becomes an alert. */
  #recorded (record: AuditRecord): void {
    const { alerts } = this.#options
    const fields = { sourceSeq: record.seq, ...(record.fields ?? {}) }
    if (record.action === 'fleet.lagging') alerts.raise('fleet-lagging', record.reason ?? '', { fields })
    else if (record.action === 'fleet.caught-up') alerts.resolve('fleet-lagging', record.reason ?? '', fields)
    else if (record.action === 'fleet.alarm') alerts.raise('fleet-alarm', record.reason ?? '', { ...(record.code !== null && record.code !== undefined ? { code: record.code } : {}), fields })
    else if (record.action === 'output.failed') {
      this.#failingOutputs.add(String(record.fields?.output))
      alerts.raise('output-failing', record.reason ?? '', { ...(record.code !== null && record.code !== undefined ? { code: record.code } : {}), fields })
    } else if (record.action === 'output.recovered') {
      // One condition for every output: it ends when the last failing one writes again, not the first.
      this.#failingOutputs.delete(String(record.fields?.output))
      if (this.#failingOutputs.size === 0) alerts.resolve('output-failing', record.reason ?? '', fields)
    } else if (record.action === 'output.alarm' || record.action === 'output.gap') {
      alerts.raise('output-alarm', record.reason ?? '', { ...(record.code !== null && record.code !== undefined ? { code: record.code } : {}), fields })
    }
  }
}

function thresholdText (threshold: DiskThreshold): string {
  return 'bytes' in threshold ? formatBytes(threshold.bytes) : `${threshold.percent}%`
}

function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let value = n
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024
    i++
  }
  return `${i === 0 ? value : value.toFixed(1)} ${units[i]!}`
}
