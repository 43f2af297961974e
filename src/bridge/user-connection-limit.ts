// Logins refused because their user already holds bridge.maxConnectionsPerUser connections. Each is logged; the
// audit gets the first of a burst at once and then one record per user per interval with the count, so a user who
// loops on logins cannot flood the store.

import type { Logger } from 'pino'
import type { AuditLog } from '../audit/audit-log.js'

interface Burst {
  /** Refusals since the last record. */
  count: number
  timer: NodeJS.Timeout
  lastClient: string
  held: number
}

export class UserConnectionLimit {
  readonly #bursts = new Map<string, Burst>()

  constructor (
    private readonly audit: Pick<AuditLog, 'append'>,
    private readonly logger: Logger,
    private readonly intervalMs = 60_000
  ) {}

  note (user: string, client: string, held: number): void {
    this.logger.warn({ user, client, held }, 'SSH login closed: the user holds bridge.maxConnectionsPerUser connections already')
    const burst = this.#bursts.get(user)
    if (burst !== undefined) {
      burst.count++
      burst.lastClient = client
      burst.held = held
      return
    }
    this.#record(user, client, held, 1, true)
    const timer = setInterval(() => this.#flush(user), this.intervalMs)
    timer.unref()
    this.#bursts.set(user, { count: 0, timer, lastClient: client, held })
  }

  /** Writes what is still counted and stops the timers. */
  close (): void {
    for (const user of [...this.#bursts.keys()]) this.#flush(user, true)
  }

  #flush (user: string, closing = false): void {
    const burst = this.#bursts.get(user)
    if (burst === undefined) return
    if (burst.count > 0) this.#record(user, burst.lastClient, burst.held, burst.count, false)
    if (burst.count === 0 || closing) {
      clearInterval(burst.timer)
      this.#bursts.delete(user)
      return
    }
    burst.count = 0
  }

  #record (user: string, client: string, held: number, count: number, first: boolean): void {
    const every = `${Math.round(this.intervalMs / 1000)} s`
    this.audit.append({
      kind: 'session',
      user,
      authMethod: 'ssh',
      action: 'session.denied',
      decision: 'deny',
      code: 'SSH_CONNECTION_REFUSED',
      reason: first
        ? `${user} already holds ${held} SSH connections to the bridge (bridge.maxConnectionsPerUser), so the login from ${client} was closed; more such logins are counted and recorded every ${every}`
        : `${count} more SSH login(s) of ${user} closed in the last ${every}: ${held} connections held already (bridge.maxConnectionsPerUser)`,
      fields: { client, count, held }
    }, { lazy: true }).catch((err: unknown) => this.logger.error({ err }, 'could not record refused SSH logins'))
  }
}
