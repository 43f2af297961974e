// Ships this host's session recordings to the fleet's PostgreSQL, beside the FleetShipper's records: each recording
// file in pieces at their byte offsets, only as far as it is durable here (an open session's sink says how far), while
// the session runs, so a host destroyed mid-session has already given up what it recorded. Closed recordings are
// shipped too: the backlog after a restart, or of sessions recorded while the database was down.
//
// The cursor is the database's own: the end of the last piece it holds per session, read again at every connect, so
// a restarted host (or a database that failed over) resumes with no gap and no duplicate. Pieces are inserted
// idempotently on (host, session, offset); other bytes at an offset the database holds are an integrity alarm, as a
// record with another hash is for the FleetShipper, and stop this shipping. One batch in flight, at most
// `batchBytes` in memory; sessions and decisions never wait on it.

import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import type pg from 'pg'
import type { RecordingShipSource } from '../audit/ship-source.js'
import type { AuditInput } from '../audit/record.js'
import { hasPortcullisCode } from '../errors.js'
import { checkSchema, connectFleet, fleetError, type FleetTarget } from './connection.js'
import type { HostIdentity } from './host-identity.js'
import { FLEET_SCHEMA } from './schema.js'
import type { AlarmKind, FleetAlarm, ShipperState } from './shipper.js'

export interface RecordingShipperStatus {
  state: ShipperState
  /** Recordings this host holds that the database does not yet hold whole (open sessions included). */
  pending: number
  /** Bytes durable here and not yet in the database, as of the last pass. */
  lagBytes: number
  shippedBytes: number
  lastError: { code: string, message: string, at: string } | null
  halted: FleetAlarm | null
  lastShippedAt: string | null
}

export interface RecordingShipperOptions {
  target: FleetTarget
  identity: HostIdentity
  source: RecordingShipSource
  logger: Logger
  /** Bytes per row. Default 256 KiB. */
  chunkBytes?: number
  /** Bytes per round trip (and in memory). Default 1 MiB. */
  batchBytes?: number
  /** How often the recordings are looked at when nothing is waiting. Default 500 ms. */
  intervalMs?: number
  /** How often the lag is reported to the database (`fleet status`); a change to or from zero goes at once. Default 10 s. */
  reportMs?: number
}

interface Piece {
  session: string
  offset: number
  bytes: Buffer
}

const RETRY_MIN_MS = 500
const RETRY_MAX_MS = 10_000

export class RecordingShipper {
  readonly #options: RecordingShipperOptions
  readonly #chunkBytes: number
  readonly #batchBytes: number
  readonly #intervalMs: number
  #client: pg.Client | null = null
  #state: ShipperState = 'connecting'
  /** Per session, where the database's pieces end. */
  #cursor = new Map<string, number>()
  /** Per session, the last piece the database held at connect, not yet compared with the file here. */
  #unchecked = new Map<string, { offset: number, length: number, digest: Buffer }>()
  /** Closed recordings the database holds whole and the store has marked: not looked at again. */
  readonly #done = new Set<string>()
  /** Closed recordings no session.end vouched for as held, with the durable seq then: not asked again before it moves. */
  readonly #unvouched = new Map<string, number>()
  #pending = 0
  #lagBytes = 0
  #shippedBytes = 0
  #lastError: RecordingShipperStatus['lastError'] = null
  #halted: FleetAlarm | null = null
  #lastShippedAt: string | null = null
  #lastReport = 0
  /** The lag the last report told, or null before the first on this connection. */
  #toldLag: number | null = null
  #downSince: number | null = null
  #stopping = false
  #wake: (() => void) | null = null
  #loop: Promise<void> | null = null

  constructor (options: RecordingShipperOptions) {
    this.#options = options
    this.#chunkBytes = options.chunkBytes ?? 256 * 1024
    this.#batchBytes = Math.max(this.#chunkBytes, options.batchBytes ?? 1024 * 1024)
    this.#intervalMs = options.intervalMs ?? 500
  }

  start (): void {
    this.#loop = this.#run()
  }

  status (): RecordingShipperStatus {
    return {
      state: this.#state,
      pending: this.#pending,
      lagBytes: this.#lagBytes,
      shippedBytes: this.#shippedBytes,
      lastError: this.#lastError,
      halted: this.#halted,
      lastShippedAt: this.#lastShippedAt
    }
  }

  /** Stops shipping; first tries for up to `drainMs` to ship what is left. */
  async stop (drainMs = 3_000): Promise<void> {
    const deadline = Date.now() + drainMs
    while (this.#client !== null && this.#halted === null && this.#pending > 0 && Date.now() < deadline) {
      this.#wake?.()
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    this.#stopping = true
    this.#wake?.()
    await this.#loop
    this.#state = 'stopped'
  }

  async #run (): Promise<void> {
    let retryMs = RETRY_MIN_MS
    while (!this.#stopping) {
      try {
        if (this.#client === null) await this.#connect()
        const shipped = this.#halted === null ? await this.#pass() : 0
        if (!this.#heldByOther()) await this.#reportIfDue()
        retryMs = RETRY_MIN_MS
        if (shipped < this.#batchBytes) await this.#sleep(this.#intervalMs)
      } catch (err) {
        await this.#failed(err)
        await this.#sleep(retryMs)
        retryMs = Math.min(RETRY_MAX_MS, retryMs * 2)
      }
    }
    await this.#client?.end().catch(() => {})
    this.#client = null
  }

  async #sleep (ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.#wake = () => { clearTimeout(timer); resolve() }
    })
    this.#wake = null
  }

  async #connect (): Promise<void> {
    const { target, identity } = this.#options
    const client = await connectFleet(target)
    try {
      await checkSchema(client, target)
      // The FleetShipper registers the host too; whichever connects first does it.
      await client.query(`INSERT INTO ${FLEET_SCHEMA}.hosts (host_id, name, key_id, public_key) VALUES ($1, $2, $3, $4) ON CONFLICT (host_id) DO NOTHING`,
        [identity.hostId, identity.name, identity.key.keyId, identity.key.publicKeyPem])
      const registered = await client.query<{ key_id: string }>(`SELECT key_id FROM ${FLEET_SCHEMA}.hosts WHERE host_id = $1`, [identity.hostId])
      if (registered.rows[0]?.key_id !== identity.key.keyId && this.#halted?.kind !== 'host-key') {
        // The FleetShipper raises this alarm; recordings stop with the records, and nothing (not even a lag report,
        // which the database refuses under another login's registration) is written under this host ID.
        this.#halt({ kind: 'host-key', seq: null, detail: `the database has another key for host ${identity.hostId}`, at: new Date().toISOString() })
        this.#options.logger.error({ hostId: identity.hostId, url: target.url }, 'fleet: the database has another key for this host ID: no recording is shipped or reported until an operator acts (see the host-key alarm)')
      }
      // Only recordings here not yet marked shipped whole are looked up, and of each only its last piece (where it
      // ends, and its digest: before it is shipped further, the bytes here must still be those): a connect costs the
      // same whatever the host shipped before.
      this.#done.clear()
      const source = this.#options.source
      const unmarked: string[] = []
      for (const session of this.#heldByOther() ? [] : await source.sessions()) {
        if (await source.shipped(session) === null) unmarked.push(session)
        else this.#done.add(session)
      }
      const last = await client.query<{ session_id: string, byte_offset: string, length: number, digest: Buffer }>(
        `SELECT s.session_id, l.byte_offset, length(l.bytes) AS length, sha256(l.bytes) AS digest
         FROM unnest($2::text[]) AS s(session_id)
         CROSS JOIN LATERAL (SELECT byte_offset, bytes FROM ${FLEET_SCHEMA}.recording_chunks c
                             WHERE c.host_id = $1 AND c.session_id = s.session_id ORDER BY byte_offset DESC LIMIT 1) l`, [identity.hostId, unmarked])
      this.#cursor = new Map(last.rows.map((row) => [row.session_id, Number(row.byte_offset) + row.length]))
      this.#unchecked = new Map(last.rows.map((row) => [row.session_id, { offset: Number(row.byte_offset), length: row.length, digest: row.digest }]))
      this.#unvouched.clear()
    } catch (err) {
      await client.end().catch(() => {})
      throw err
    }
    client.on('error', () => { if (this.#client === client) this.#client = null })
    this.#client = client
    this.#toldLag = null
    this.#downSince = null
    this.#lastError = null
    if (this.#halted === null) this.#state = 'shipping'
  }

  /** One look at every recording not yet whole in the database; ships one batch. Resolves with the bytes shipped. */
  async #pass (): Promise<number> {
    const source = this.#options.source
    const batch: Piece[] = []
    let batchBytes = 0
    let pending = 0
    let lagBytes = 0
    for (const session of await source.sessions()) {
      if (this.#done.has(session)) continue
      const progress = await source.progress(session)
      if (progress === null) continue
      const held = this.#cursor.get(session) ?? 0
      const last = this.#unchecked.get(session)
      if (last !== undefined) {
        this.#unchecked.delete(session)
        // A recording marked whole was checked when it was marked; one still being shipped is checked here.
        if (progress.bytes >= last.offset + last.length && await source.shipped(session) !== held) {
          const here = createHash('sha256').update(await source.read(session, last.offset, last.length)).digest()
          if (!here.equals(last.digest)) {
            await this.#alarm('conflict', `the database holds other bytes at offset ${last.offset} of the recording of session ${session} than the file here: it was rewritten, or another machine ships under this host ID; nothing was overwritten`, session, last.offset)
            return 0
          }
        }
      }
      if (progress.bytes < held) {
        await this.#alarm('behind', `the database holds ${held} bytes of the recording of session ${session}, the file here only ${progress.bytes}: it was cut or replaced`, session, progress.bytes)
        return 0
      }
      if (progress.bytes === held) {
        if (!progress.open) await this.#closed(session, held)
        continue
      }
      pending++
      lagBytes += progress.bytes - held
      for (let offset = held; offset < progress.bytes && batchBytes < this.#batchBytes;) {
        const bytes = await source.read(session, offset, Math.min(this.#chunkBytes, progress.bytes - offset, this.#batchBytes - batchBytes))
        if (bytes.length === 0) break
        batch.push({ session, offset, bytes })
        batchBytes += bytes.length
        offset += bytes.length
      }
    }
    this.#pending = pending
    this.#lagBytes = lagBytes
    if (batch.length === 0) return 0
    await this.#insert(batch)
    return batchBytes
  }

  async #insert (batch: Piece[]): Promise<void> {
    const client = this.#client!
    const hostId = this.#options.identity.hostId
    const inserted = await client.query<{ session_id: string, byte_offset: string }>(
      `INSERT INTO ${FLEET_SCHEMA}.recording_chunks (host_id, session_id, byte_offset, bytes)
       SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bytea[])
       ON CONFLICT (host_id, session_id, byte_offset) DO NOTHING RETURNING session_id, byte_offset`,
      [hostId, batch.map((p) => p.session), batch.map((p) => p.offset), batch.map((p) => p.bytes)])
    const fresh = new Set(inserted.rows.map((row) => `${row.session_id}@${row.byte_offset}`))
    for (const piece of batch) {
      if (!fresh.has(`${piece.session}@${piece.offset}`)) {
        // Already there (a cursor read before another writer's insert): the same bytes lose nothing; others are an alarm.
        const stored = await client.query<{ bytes: Buffer }>(`SELECT bytes FROM ${FLEET_SCHEMA}.recording_chunks WHERE host_id = $1 AND session_id = $2 AND byte_offset = $3`, [hostId, piece.session, piece.offset])
        const theirs = stored.rows[0]?.bytes
        const ours = theirs === undefined ? null : await this.#options.source.read(piece.session, piece.offset, theirs.length)
        if (theirs === undefined || ours === null || !ours.equals(theirs)) {
          await this.#alarm('conflict', `the database holds other bytes at offset ${piece.offset} of the recording of session ${piece.session}; they were not overwritten`, piece.session, piece.offset)
          return
        }
        this.#cursor.set(piece.session, Math.max(this.#cursor.get(piece.session) ?? 0, piece.offset + theirs.length))
        // Pieces after it in this batch may now start inside it: look again next pass.
        return
      }
      this.#cursor.set(piece.session, piece.offset + piece.bytes.length)
      this.#shippedBytes += piece.bytes.length
    }
    this.#lastShippedAt = new Date().toISOString()
  }

  /** Tells the database the lag (bytes and recordings not yet shipped) when it changed, at most every `reportMs`,
   * and at once when it becomes or stops being zero: `fleet status` shows a running session's lag too. A host with
   * nothing to ship writes one row per connection. */
  async #reportIfDue (): Promise<void> {
    const interval = this.#options.reportMs ?? 10_000
    if (this.#toldLag === this.#lagBytes) return
    const crossed = this.#toldLag === null || (this.#toldLag === 0) !== (this.#lagBytes === 0)
    if (!crossed && Date.now() - this.#lastReport < interval) return
    await this.#client!.query(`INSERT INTO ${FLEET_SCHEMA}.recording_reports (host_id, lag_bytes, pending) VALUES ($1, $2, $3)`,
      [this.#options.identity.hostId, this.#lagBytes, this.#pending])
    this.#lastReport = Date.now()
    this.#toldLag = this.#lagBytes
  }

  /** A closed recording the database holds as far as the file goes: marked for retention and left alone only when
   * its durable session.end vouches for exactly those bytes; else looked at again once the chain has moved on. */
  async #closed (session: string, bytes: number): Promise<void> {
    const source = this.#options.source
    const headSeq = source.headSeq()
    if (this.#unvouched.get(session) === headSeq) return
    if ((await source.shipped(session)) === bytes) {
      this.#done.add(session)
      return
    }
    if (await source.vouched(session) !== bytes) {
      this.#unvouched.set(session, headSeq)
      return
    }
    this.#unvouched.delete(session)
    await source.markShipped(session, bytes)
    this.#done.add(session)
  }

  async #failed (err: unknown): Promise<void> {
    const coded = fleetError(err, this.#options.target)
    const client = this.#client
    this.#client = null
    await client?.end().catch(() => {})
    this.#lastError = { code: coded.code, message: coded.message, at: new Date().toISOString() }
    if (this.#halted === null) this.#state = 'unreachable'
    if (this.#downSince !== null) return
    this.#downSince = Date.now()
    // The FleetShipper records the outage; a log line says the recordings wait too.
    this.#options.logger.warn({ err: coded, url: this.#options.target.url }, 'fleet: recordings are kept here and shipped when the database can be reached')
  }

  /** Whether another key is registered under this host ID: nothing may be written under it. */
  #heldByOther (): boolean {
    return this.#halted?.kind === 'host-key'
  }

  #halt (alarm: FleetAlarm): void {
    this.#halted = alarm
    this.#state = 'halted'
  }

  /** An integrity alarm, the FleetShipper's way: in the database's alarms, the local chain and the log; shipping stops. */
  async #alarm (kind: AlarmKind, detail: string, session: string, offset: number): Promise<void> {
    const alarm: FleetAlarm = { kind, seq: null, detail, at: new Date().toISOString() }
    this.#halt(alarm)
    const hostId = this.#options.identity.hostId
    this.#options.logger.error({ alarm, hostId, session, offset }, 'fleet: integrity alarm on a recording; recording shipping stopped until an operator acts')
    await this.#client?.query(`INSERT INTO ${FLEET_SCHEMA}.alarms (host_id, kind, seq, detail) VALUES ($1, $2, $3, $4)`, [hostId, kind, null, detail])
      .catch((err: unknown) => this.#options.logger.error({ err }, 'fleet: could not write the alarm to the database'))
    await this.#record({ kind: 'system', action: 'fleet.alarm', reason: `fleet shipping of recordings stopped: ${detail}`, code: 'PORTCULLIS_FLEET_ALARM', fields: { alarm: kind, session, offset } })
  }

  async #record (input: AuditInput): Promise<void> {
    await this.#options.source.append(input).catch((err: unknown) => {
      if (!hasPortcullisCode(err) || err.code !== 'PORTCULLIS_AUDIT_CLOSED') this.#options.logger.error({ err, action: input.action }, 'fleet: could not record a shipping event')
    })
  }
}
