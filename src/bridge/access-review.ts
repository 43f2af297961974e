// A policy reload can take away what let a session in: the user left the project, the role no longer allows the
// exec (or this command), the key was removed or its options (from=, expiry-time=, command=, no-pty) would now refuse the login or run
// something else. Each live session is judged again, exactly as at its start, and one
// that would no longer be let in is ended, with the reason told to the user and kept in its session.end record.

import type { Logger } from 'pino'
import { systemClock, type Clock } from '../core/clock.js'
import type { Identity } from '../core/types.js'
import type { PolicySource, ReloadOutcome } from '../policy/source.js'
import { KeyRing } from '../ssh/authorized-keys.js'
import { loginRefusal } from '../ssh/key-options.js'
import type { SessionAccess } from './recorded-exec.js'
import { sshFingerprint } from './host-key.js'
import type { BridgeTargets } from './targets.js'

/** What a session must offer to be judged again and ended (RecordedExec does). */
export interface ReviewedSession {
  readonly sessionId: string
  readonly access: SessionAccess
  terminate: (reason: 'access-removed', message: string) => void
}

export class AccessReview {
  #reviewing: Promise<void> = Promise.resolve()

  constructor (
    private readonly policy: PolicySource,
    private readonly targets: Pick<BridgeTargets, 'judge'>,
    private readonly live: ReadonlySet<ReviewedSession>,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock
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
    const { user, key, containerId, body, address, forcedCommand, pty } = session.access
    const lines = ring.keysOf(user).filter((k) => sshFingerprint(k.publicSSH) === key)
    if (lines.length === 0) {
      return `the policy was changed: the key this session logged in with (${key}) is no longer one of ${user}'s keys`
    }
    // The key's options, as a login now would read them: the first line whose from= and expiry-time= let it in.
    const now = this.clock.now()
    const line = lines.find((k) => loginRefusal(k.restrictions, address, now) === null)
    if (line === undefined) {
      const refusal = loginRefusal(lines[0]!.restrictions, address, now)!
      return `the policy was changed: the key this session logged in with (${key}) is now restricted by ${refusal.value}: ${refusal.detail}`
    }
    if (line.restrictions.command !== forcedCommand) {
      return `the policy was changed: the key this session logged in with (${key}) now ` +
        (line.restrictions.command === null ? 'has no forced command' : `may only run command="${line.restrictions.command}"`)
    }
    if (pty && !line.restrictions.pty) {
      return `the policy was changed: the key this session logged in with (${key}) may no longer have a terminal (no-pty)`
    }
    const identity: Identity = { user, method: 'bridge', session: session.sessionId }
    const decision = await this.targets.judge(identity, containerId, body)
    return decision.allow ? null : `the policy was changed and no longer lets ${user} in: ${decision.reason}`
  }
}
