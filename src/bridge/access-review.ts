// A policy reload can take away what let a session in: the user left the project, the role no longer allows the
// exec (or this command), the key was removed. Each live session is judged again, exactly as at its start, and one
// that would no longer be let in is ended, with the reason told to the user and kept in its session.end record.

import type { Logger } from 'pino'
import type { Identity } from '../authz/types.js'
import type { PolicySource, ReloadOutcome } from '../policy/source.js'
import { KeyRing } from './authorized-keys.js'
import type { ExecCreateBody } from './exec-client.js'
import { sshFingerprint } from './host-key.js'
import type { BridgeTargets } from './targets.js'

/** What a session must offer to be judged again and ended (RecordedExec does). */
export interface ReviewedSession {
  readonly sessionId: string
  readonly access: { user: string, key: string, containerId: string, body: ExecCreateBody }
  terminate: (reason: 'access-removed', message: string) => void
}

export class AccessReview {
  #reviewing: Promise<void> = Promise.resolve()

  constructor (
    private readonly policy: PolicySource,
    private readonly targets: Pick<BridgeTargets, 'judge'>,
    private readonly live: ReadonlySet<ReviewedSession>,
    private readonly logger: Logger
  ) {
    policy.on('reload', this.#onReload)
  }

  close (): void {
    this.policy.off('reload', this.#onReload)
  }

  /** Resolves once the reviews started so far are done. */
  settled (): Promise<void> {
    return this.#reviewing
  }

  readonly #onReload = (outcome: ReloadOutcome): void => {
    if (!outcome.ok || !outcome.changed) return
    // One review at a time, in reload order: the last policy has the last word.
    this.#reviewing = this.#reviewing.then(() => this.reviewAll())
  }

  /** Judges every live session against the current policy and ends those it no longer lets in. */
  async reviewAll (): Promise<void> {
    const ring = new KeyRing(this.policy.current.users)
    await Promise.all([...this.live].map(async (session) => {
      try {
        const reason = await this.#lostAccess(session, ring)
        if (reason !== null) session.terminate('access-removed', `${reason}; portcullis ends this session`)
      } catch (err) {
        // The look-up failed (the daemon is away): keep the session; the next reload judges it again.
        this.logger.warn({ err, session: session.sessionId }, 'could not judge a live SSH session again after a policy reload')
      }
    }))
  }

  async #lostAccess (session: ReviewedSession, ring: KeyRing): Promise<string | null> {
    const { user, key, containerId, body } = session.access
    if (!ring.keysOf(user).some((k) => sshFingerprint(k.publicSSH) === key)) {
      return `the policy was changed: the key this session logged in with (${key}) is no longer one of ${user}'s keys`
    }
    const identity: Identity = { user, method: 'bridge', session: session.sessionId }
    const decision = await this.targets.judge(identity, containerId, body)
    return decision.allow ? null : `the policy was changed and no longer lets ${user} in: ${decision.reason}`
  }
}
