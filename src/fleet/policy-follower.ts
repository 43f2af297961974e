// `serve --policy-from fleet`: the host runs the fleet's newest signed policy revision. At start it takes its last
// good copy (verified again: the disk is not trusted more than the database) or, without one, the database's newest
// revision; it refuses to start with neither. While it runs it LISTENs for new revisions on its own connection
// (reconnecting when it drops) and polls as a fallback. A revision is applied only when it verifies under the pinned
// key, is newer than the one in force (or a signed rollback published after it) and is a valid policy; anything else
// is refused, reported once, and the policy in force stays. An outage changes nothing: the host keeps what it runs.

import { chmodSync, closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import type pg from 'pg'
import type { Logger } from 'pino'
import { hasPortcullisCode, PortcullisError } from '../errors.js'
import { verifySignedPolicy, type PolicyKey, type SignedPolicy } from '../policy/signed.js'
import { PolicySource, type FleetRevision } from '../policy/source.js'
import { checkSchema, connectFleet, fleetError, type FleetTarget } from './connection.js'
import { newestPolicyRevision } from './policy-revisions.js'
import { POLICY_CHANNEL } from './schema.js'

/** The name of the last good copy, beside --config. */
export const POLICY_COPY_FILE = 'fleet-policy.json'

export interface PolicyFollowerOptions {
  target: FleetTarget
  key: PolicyKey
  /** Where the last good copy is kept (private, 0600). */
  copyPath: string
  knownActions: readonly string[]
  logger: Logger
  /** `--policy-min-revision`: no revision below it is taken, at start (last good copy or database) or later, rollback
   * or not. Pins what a deleted newer revision would otherwise let the database take a host back to. */
  minRevision?: number
  /** Fallback poll, for when a notification is lost (default 10 s). */
  pollMs?: number
  /** Told once when the database becomes unreachable (with the error) and once when it is back (null). */
  onOutage?: (err: PortcullisError | null) => void
}

function revisionOf (signed: SignedPolicy): FleetRevision {
  return { revision: signed.revision, publisher: signed.publisher, publishedAt: signed.publishedAt, rollback: signed.rollback }
}

/** The source's label: the database, never a password (the URL holds none). */
function labelOf (target: FleetTarget): string {
  return `fleet ${target.url}`
}

export interface StartingPolicy {
  source: PolicySource
  /** `copy`: the last good copy on disk; `database`: the database's newest revision, there being no usable copy. */
  from: 'copy' | 'database'
  /** The revision of a last good copy passed over because it is below the minimum. */
  copyBelowMinimum?: number
}

/**
 * The policy to start with: the verified last good copy, else the database's newest revision (verified); neither
 * below `minRevision`. Throws PORTCULLIS_POLICY_FLEET_UNAVAILABLE when there is none, and
 * PORTCULLIS_POLICY_REVISION_BELOW_MINIMUM when the database's newest is below the minimum.
 */
export async function startingPolicy (options: PolicyFollowerOptions): Promise<StartingPolicy> {
  const copy = readPolicyCopy(options.copyPath, options.key)
  const min = options.minRevision ?? 1
  if (copy !== null && copy.revision >= min) {
    return { source: new PolicySource(labelOf(options.target), options.knownActions, { text: copy.policy.toString('utf8'), revision: revisionOf(copy) }), from: 'copy' }
  }
  if (copy !== null) options.logger.warn({ copy: options.copyPath, revision: copy.revision, minRevision: min }, 'the last good policy copy is below --policy-min-revision; taking the database\'s newest revision')
  let newest: SignedPolicy | null
  try {
    const client = await connectFleet(options.target)
    try {
      await checkSchema(client, options.target)
      newest = await newestPolicyRevision(client)
    } finally {
      await client.end().catch(() => {})
    }
  } catch (err) {
    const coded = fleetError(err, options.target)
    throw new PortcullisError('PORTCULLIS_POLICY_FLEET_UNAVAILABLE', `${coded.code}: ${coded.message}`, options.copyPath)
  }
  if (newest === null) throw new PortcullisError('PORTCULLIS_POLICY_FLEET_UNAVAILABLE', 'no revision was published yet', options.copyPath)
  verifySignedPolicy(options.key, newest)
  if (newest.revision < min) throw new PortcullisError('PORTCULLIS_POLICY_REVISION_BELOW_MINIMUM', String(newest.revision), String(min))
  const source = new PolicySource(labelOf(options.target), options.knownActions, { text: newest.policy.toString('utf8'), revision: revisionOf(newest) })
  writePolicyCopy(options.copyPath, newest)
  options.logger.warn({ revision: newest.revision, publisher: newest.publisher, minRevision: options.minRevision ?? null },
    'started from the fleet database\'s newest policy revision, with no last good copy: a newer revision deleted from the database would go unnoticed (pin --policy-min-revision)')
  return { source, from: 'database', ...(copy !== null ? { copyBelowMinimum: copy.revision } : {}) }
}

/** The last good copy, verified under the pinned key; null when there is none. */
function readPolicyCopy (path: string, key: PolicyKey): SignedPolicy | null {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return null
    throw new PortcullisError('PORTCULLIS_POLICY_COPY_INVALID', path, (err as Error).message)
  }
  let signed: SignedPolicy
  try {
    const parsed = JSON.parse(text) as Omit<SignedPolicy, 'policy'> & { policy: string }
    signed = { ...parsed, policy: Buffer.from(parsed.policy, 'base64') }
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_POLICY_COPY_INVALID', path, `not JSON (${(err as Error).message})`)
  }
  try {
    verifySignedPolicy(key, signed)
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_POLICY_COPY_INVALID', path, (err as Error).message)
  }
  return signed
}

/** Writes the copy whole or not at all (temp file, fsync, rename), private to portcullis. */
function writePolicyCopy (path: string, signed: SignedPolicy): void {
  const temp = `${path}.tmp-${process.pid}`
  const fd = openSync(temp, 'w', 0o600)
  try {
    writeSync(fd, JSON.stringify({ ...signed, policy: signed.policy.toString('base64') }) + '\n')
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  chmodSync(temp, 0o600)
  renameSync(temp, path)
}

export class PolicyFollower {
  readonly #options: PolicyFollowerOptions
  readonly #source: PolicySource
  readonly #pollMs: number
  #client: pg.Client | null = null
  #timer: NodeJS.Timeout | undefined
  #retry: NodeJS.Timeout | undefined
  #checking: Promise<void> | null = null
  #again = false
  #stopped = false
  #outage = false
  /** Revisions refused already (revision and signature): each is reported once. */
  readonly #refused = new Set<string>()
  /** The signature of the revision in force, to know a row already applied. */
  #inForce: string | null = null

  constructor (source: PolicySource, options: PolicyFollowerOptions) {
    this.#source = source
    this.#options = options
    this.#pollMs = options.pollMs ?? 10_000
    source.onReloadRequest(() => { void this.check() })
  }

  /** Checks once (so a newer revision is in force before the plugin answers), then follows. */
  async start (): Promise<void> {
    this.#inForce = readPolicyCopySignature(this.#options.copyPath)
    await this.check()
    this.#timer = setInterval(() => { void this.check() }, this.#pollMs)
    this.#timer.unref()
  }

  /** Fetches the newest revision and considers it; calls while one runs make it run once more. */
  check (): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    if (this.#checking !== null) {
      this.#again = true
      return this.#checking
    }
    this.#checking = (async () => {
      do {
        this.#again = false
        await this.#checkOnce()
      } while (this.#again && !this.#stopped)
    })().finally(() => { this.#checking = null })
    return this.#checking
  }

  async #checkOnce (): Promise<void> {
    let newest: SignedPolicy | null
    try {
      const client = await this.#connect()
      newest = await newestPolicyRevision(client)
    } catch (err) {
      this.#drop()
      this.#unreachable(fleetError(err, this.#options.target))
      return
    }
    if (this.#outage) {
      this.#outage = false
      this.#options.logger.info('the fleet database is reachable again; following its policy revisions')
      this.#options.onOutage?.(null)
    }
    if (newest !== null) this.#consider(newest)
  }

  #consider (signed: SignedPolicy): void {
    if (signed.signature === this.#inForce) return
    const seen = `${signed.revision}:${signed.signature}`
    if (this.#refused.has(seen)) return
    const refuse = (code: string, error: string): void => {
      this.#refused.add(seen)
      this.#source.refuseRevision(signed, code, error)
    }
    try {
      verifySignedPolicy(this.#options.key, signed)
    } catch (err) {
      refuse(hasPortcullisCode(err) ? err.code : 'PORTCULLIS_POLICY_SIGNATURE', (err as Error).message)
      return
    }
    const min = this.#options.minRevision ?? 1
    if (signed.revision < min) {
      const err = new PortcullisError('PORTCULLIS_POLICY_REVISION_BELOW_MINIMUM', String(signed.revision), String(min))
      refuse(err.code, err.message)
      return
    }
    const current = this.#source.revision
    if (current !== null && signed.revision <= current.revision && !(signed.rollback && signed.publishedAt > current.publishedAt)) {
      const err = new PortcullisError('PORTCULLIS_POLICY_REVISION_LOWER', String(signed.revision), String(current.revision))
      refuse(err.code, err.message)
      return
    }
    const outcome = this.#source.applyRevision(signed.policy.toString('utf8'), revisionOf(signed))
    if (!outcome.ok) {
      this.#refused.add(seen)
      return
    }
    this.#inForce = signed.signature
    try {
      writePolicyCopy(this.#options.copyPath, signed)
    } catch (err) {
      this.#options.logger.error({ err, path: this.#options.copyPath }, 'could not write the last good policy copy; a start without the fleet database would use the older one')
    }
  }

  async #connect (): Promise<pg.Client> {
    if (this.#client !== null) return this.#client
    const client = await connectFleet(this.#options.target)
    try {
      await checkSchema(client, this.#options.target)
      await client.query(`LISTEN ${POLICY_CHANNEL}`)
    } catch (err) {
      await client.end().catch(() => {})
      throw err
    }
    client.on('notification', () => { void this.check() })
    // The connection went away: follow again soon (the poll would too, later).
    const lost = (): void => {
      if (this.#client !== client) return
      this.#drop()
      if (this.#stopped) return
      clearTimeout(this.#retry)
      this.#retry = setTimeout(() => { void this.check() }, 1_000)
      this.#retry.unref()
    }
    client.on('error', lost)
    client.on('end', lost)
    if (this.#stopped) {
      await client.end().catch(() => {})
      throw new PortcullisError('PORTCULLIS_FLEET_UNREACHABLE', this.#options.target.url, 'serve is stopping')
    }
    this.#client = client
    return client
  }

  #drop (): void {
    const client = this.#client
    this.#client = null
    if (client !== null) void client.end().catch(() => {})
  }

  #unreachable (err: PortcullisError): void {
    if (this.#outage) return
    this.#outage = true
    this.#options.logger.warn({ code: err.code, error: err.message, revision: this.#source.revision?.revision }, 'the fleet database is unreachable; keeping the policy in force and retrying')
    this.#options.onOutage?.(err)
  }

  /** Ends the connection first, so a query waiting on an unreachable database fails now instead of holding the stop. */
  async stop (): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    clearTimeout(this.#retry)
    this.#drop()
    await this.#checking?.catch(() => {})
  }
}

function readPolicyCopySignature (path: string): string | null {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { signature?: string }).signature ?? null
  } catch {
    return null
  }
}
