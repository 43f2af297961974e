// SSH bridge sessions that were let in on an elevation grant: when the grant ends (it ran out or was revoked),
// so do they. A grant that has already ended when a session is tied to it ends that session at once.

import type { ElevationService } from './service.js'

/** What a session must offer to be ended (RecordedExec does). */
export interface GrantedSession {
  terminate: (reason: 'grant-ended', message: string) => void
}

export class GrantSessions {
  readonly #byGrant = new Map<string, Set<GrantedSession>>()

  constructor (private readonly service: Pick<ElevationService, 'isActive' | 'on' | 'off'>) {
    service.on('grant-ended', this.#onGrantEnded)
  }

  /** Ties a running session to the grant its decision used; returns the function that unties it. */
  hold (grantId: string, session: GrantedSession): () => void {
    if (!this.service.isActive(grantId)) {
      session.terminate('grant-ended', `the grant ${grantId} this session relied on has ended`)
      return () => {}
    }
    let sessions = this.#byGrant.get(grantId)
    if (sessions === undefined) {
      sessions = new Set()
      this.#byGrant.set(grantId, sessions)
    }
    sessions.add(session)
    return () => {
      sessions.delete(session)
      if (sessions.size === 0 && this.#byGrant.get(grantId) === sessions) this.#byGrant.delete(grantId)
    }
  }

  /** Sessions tied to grants right now. */
  get size (): number {
    let n = 0
    for (const sessions of this.#byGrant.values()) n += sessions.size
    return n
  }

  close (): void {
    this.service.off('grant-ended', this.#onGrantEnded)
  }

  readonly #onGrantEnded = (grant: { id: string }, message: string): void => {
    const sessions = this.#byGrant.get(grant.id)
    if (sessions === undefined) return
    this.#byGrant.delete(grant.id)
    for (const session of sessions) session.terminate('grant-ended', `${message}, so portcullis ends it`)
  }
}
