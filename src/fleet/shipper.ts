// Ships this host's audit chain to the fleet's PostgreSQL, record by record in seq order, after each is durable
// locally. The local chain is the spool: nothing is shipped by time, only by seq, and the cursor is the central
// table's own high-water mark for this host, read again at every connect, so a restarted or reinstalled host (or a
// database that failed over) resumes with no gap and no duplicate. Rows are inserted idempotently on (host, seq);
// a different hash for a seq the database already holds, a local chain that no longer links to what was shipped,
// or another key for this host ID is an alarm (a central row, a local record, a log line, `status`) and stops the
// shipping: the shipper never overwrites, skips or papers over. Decisions never wait on it.

import type { Logger } from 'pino'
import type pg from 'pg'
import type { StoredRecord } from '../audit/query.js'
import { IDLE_MS, LINGER_MS, ReaderPause, RETRY_MAX_MS, RETRY_MIN_MS } from '../audit/reader-pause.js'
import { RecordBuffer } from '../audit/record-buffer.js'
import type { ShipSource } from '../audit/ship-source.js'
import { encodeCheckpoint, type Checkpoint } from '../audit/checkpoint-format.js'
import type { AuditHead, AuditInput } from '../audit/record.js'
import { textLines } from '../audit/text-lines.js'
import { hasPortcullisCode } from '../errors.js'
import { checkSchema, connectFleet, fleetError, type FleetTarget } from './connection.js'
import type { HostIdentity } from './host-identity.js'
import { FLEET_SCHEMA } from './schema.js'

export type ShipperState = 'connecting' | 'shipping' | 'unreachable' | 'halted' | 'stopped'

export type AlarmKind = 'conflict' | 'fork' | 'gap' | 'behind' | 'host-key'

export interface FleetAlarm {
  kind: AlarmKind
  seq: number | null
  detail: string
  at: string
}

export interface ShipperStatus {
  url: string
  hostId: string
  state: ShipperState
  /** The highest seq the database holds for this host (0: none), as last read or written. */
  shippedSeq: number
  headSeq: number
  /** Records durable here and not yet in the database. */
  lag: number
  /** When the oldest record not yet shipped was made, or null when nothing waits. */
  oldestUnshipped: string | null
  lastError: { code: string, message: string, at: string } | null
  /** Why shipping stopped for good (until an operator acts), when state is halted. */
  halted: FleetAlarm | null
  alarms: FleetAlarm[]
  lastShippedAt: string | null
}

export interface ShipperOptions {
  target: FleetTarget
  identity: HostIdentity
  source: ShipSource
  logger: Logger
  version: string
  policyDigest: () => string
  /** The fleet policy revision in force, or null for a policy read from a file. */
  policyRevision?: () => number | null
  batchSize?: number
  heartbeatMs?: number
  /** Lag at which a `fleet.lagging` record is written (and `fleet.caught-up` once it is back to zero). */
  lagRecords?: number
  lagSeconds?: number
  /** Records kept in memory as they become durable; beyond it they are dropped and read back from the store. */
  bufferRecords?: number
}

/** The shipped mark is written at least this often while records are shipped (and at once a batch's worth ahead). */
const MARK_EVERY_MS = 1_000

export class FleetShipper {
  readonly #options: ShipperOptions
  readonly #batchSize: number
  readonly #heartbeatMs: number
  #client: pg.Client | null = null
  #state: ShipperState = 'connecting'
  /** The database's high-water mark for this host: its last seq and hash. */
  #central: AuditHead = { seq: 0, hash: '' }
  #checkpointSeq = 0
  #oldestUnshipped: string | null = null
  #lastError: ShipperStatus['lastError'] = null
  #halted: FleetAlarm | null = null
  readonly #alarms: FleetAlarm[] = []
  #lastShippedAt: string | null = null
  #lastHeartbeat = 0
  /** The policy digest the last heartbeat told. */
  #toldDigest = ''
  /** The newest seq whose shipped mark was written locally, the one being written, and the newest asked for. */
  #markedSeq = 0
  #marking: Promise<void> | null = null
  #markWanted = 0
  #lastMarkAt = 0
  /** Records handed over by the store as they became durable, not yet shipped: what the next batch takes instead of
   * reading them back. */
  readonly #buffer: RecordBuffer
  #lagging = false
  /** Since when the database could not be reached (null while connected or before the first try). */
  #downSince: number | null = null
  readonly #pause = new ReaderPause()
  #loop: Promise<void> | null = null
  #unsubscribe: (() => void) | null = null

  constructor (options: ShipperOptions) {
    this.#options = options
    this.#batchSize = options.batchSize ?? 1_000
    this.#heartbeatMs = options.heartbeatMs ?? 10_000
    this.#buffer = new RecordBuffer(options.bufferRecords ?? 5 * this.#batchSize)
  }

  start (): void {
    // Subscribed before the first read of the store, so no record falls between the two: one that both hold is
    // taken once, by seq (see #nextRows).
    this.#unsubscribe = this.#options.source.subscribe((row) => {
      // On the hot path, once per durable record. A long outage: memory stays bounded, what was dropped is read back.
      this.#buffer.push(row)
      this.#pause.wake()
    })
    this.#loop = this.#run()
  }

  status (): ShipperStatus {
    const head = this.#options.source.head()
    return {
      url: this.#options.target.url,
      hostId: this.#options.identity.hostId,
      state: this.#state,
      shippedSeq: this.#central.seq,
      headSeq: head.seq,
      lag: Math.max(0, head.seq - this.#central.seq),
      oldestUnshipped: head.seq > this.#central.seq ? this.#oldestUnshipped : null,
      lastError: this.#lastError,
      halted: this.#halted,
      alarms: [...this.#alarms],
      lastShippedAt: this.#lastShippedAt
    }
  }

  /** Stops shipping; first tries for up to `drainMs` to ship what is left (the stop record included). */
  async stop (drainMs = 3_000): Promise<void> {
    this.#unsubscribe?.()
    const deadline = Date.now() + drainMs
    while (this.#client !== null && this.#halted === null && this.#options.source.head().seq > this.#central.seq && Date.now() < deadline) {
      this.#pause.wake()
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    this.#pause.stop()
    await this.#loop
    // The last mark, so retention knows what the database holds (the store closes after this).
    await this.#marking
    if (this.#markWanted > this.#markedSeq) {
      this.#markShipped(this.#markWanted, true)
      await this.#marking
    }
    this.#buffer.clear()
    this.#state = 'stopped'
  }

  async #run (): Promise<void> {
    let retryMs = RETRY_MIN_MS
    while (!this.#pause.stopping) {
      try {
        if (this.#client === null) await this.#connect()
        if (this.#halted !== null) {
          // Under an ID another key holds, this host may write nothing but the alarm (row-level security refuses it).
          if (this.#halted.kind !== 'host-key') await this.#heartbeatIfDue()
          await this.#pause.sleep(IDLE_MS)
          continue
        }
        const shipped = await this.#shipBatch()
        await this.#heartbeatIfDue()
        retryMs = RETRY_MIN_MS
        if (shipped < this.#batchSize) {
          if (shipped === 0) await this.#pause.sleep(IDLE_MS)
          if (!this.#pause.stopping) await this.#pause.sleep(LINGER_MS, false)
        }
      } catch (err) {
        await this.#failed(err)
        await this.#noteLag()
        await this.#pause.sleep(retryMs, false)
        retryMs = Math.min(RETRY_MAX_MS, retryMs * 2)
      }
    }
    // A checkpoint signed after the last records went (serve's stop checkpoint is) would otherwise wait for the next
    // start: ship it now.
    if (this.#client !== null && this.#halted === null) await this.#shipCheckpoints().catch((err: unknown) => this.#options.logger.warn({ err }, 'fleet: could not ship the last checkpoints'))
    await this.#client?.end().catch(() => {})
    this.#client = null
  }

  async #connect (): Promise<void> {
    const { target, identity } = this.#options
    this.#state = this.#downSince === null && this.#lastError === null ? 'connecting' : this.#state
    const client = await connectFleet(target)
    try {
      await checkSchema(client, target)
      await client.query(`INSERT INTO ${FLEET_SCHEMA}.hosts (host_id, name, key_id, public_key) VALUES ($1, $2, $3, $4) ON CONFLICT (host_id) DO NOTHING`,
        [identity.hostId, identity.name, identity.key.keyId, identity.key.publicKeyPem])
      const registered = await client.query<{ key_id: string }>(`SELECT key_id FROM ${FLEET_SCHEMA}.hosts WHERE host_id = $1`, [identity.hostId])
      const last = await client.query<{ seq: string, hash: string }>(`SELECT seq, hash FROM ${FLEET_SCHEMA}.records WHERE host_id = $1 ORDER BY seq DESC LIMIT 1`, [identity.hostId])
      const checkpoint = await client.query<{ seq: string | null }>(`SELECT max(seq) AS seq FROM ${FLEET_SCHEMA}.checkpoints WHERE host_id = $1`, [identity.hostId])
      this.#client = client
      this.#central = last.rows.length === 0 ? { seq: 0, hash: '' } : { seq: Number(last.rows[0]!.seq), hash: last.rows[0]!.hash }
      this.#checkpointSeq = Number(checkpoint.rows[0]?.seq ?? 0)
      if (registered.rows[0]?.key_id !== identity.key.keyId) {
        // Raised once: a reconnect finds the same registration.
        if (this.#halted?.kind !== 'host-key') await this.#alarm('host-key', null, `the database has key ${registered.rows[0]?.key_id ?? '?'} for host ${identity.hostId}, this host signs with ${identity.key.keyId}: a second machine with a copy of this keys directory, or a replaced key`)
      } else if (this.#halted === null) {
        await this.#checkContinuity()
      }
    } catch (err) {
      if (this.#client !== client) await client.end().catch(() => {})
      throw err
    }
    client.on('error', () => { if (this.#client === client) this.#client = null })
    const wasDown = this.#downSince
    this.#downSince = null
    this.#lastError = null
    if (this.#halted === null) this.#state = 'shipping'
    this.#options.logger.info({ url: target.url, hostId: identity.hostId, shippedSeq: this.#central.seq }, 'fleet: connected; shipping from the database\'s high-water mark')
    if (wasDown !== null) {
      await this.#record({ kind: 'system', action: 'fleet.connected', reason: `the fleet database is reachable again after ${Math.round((Date.now() - wasDown) / 1000)} s; shipping resumes from record ${this.#central.seq + 1}`, fields: { shippedSeq: this.#central.seq, downSeconds: Math.round((Date.now() - wasDown) / 1000) } })
    }
    await this.#heartbeat()
  }

  /** Does the local chain continue what the database holds? If not, shipping more would fork the central chain. */
  async #checkContinuity (): Promise<void> {
    const central = this.#central
    if (central.seq === 0) return
    const head = this.#options.source.head()
    if (head.seq < central.seq) {
      await this.#alarm('behind', central.seq, `the database holds records up to ${central.seq} for this host, the local store only up to ${head.seq}: the store was restored from an older copy or rewritten`)
      return
    }
    const seq = head.seq === central.seq ? central.seq : central.seq + 1
    const local = await this.#readLocal(seq, seq)
    const found = local[0]?.record
    if (found === undefined || found.seq !== seq) {
      await this.#alarm('gap', seq, `record ${seq} is not in the local store, so the chain cannot continue from the database's record ${central.seq}`)
      return
    }
    const linked = seq === central.seq ? found.hash === central.hash : found.prevHash === central.hash
    if (!linked) await this.#alarm('fork', central.seq, `the local chain no longer matches record ${central.seq} in the database (database hash ${central.hash.slice(0, 12)}…): the local store was rewritten`)
  }

  async #shipBatch (): Promise<number> {
    const client = this.#client!
    const head = this.#options.source.head()
    if (head.seq <= this.#central.seq) {
      this.#oldestUnshipped = null
      this.#markShipped(this.#central.seq, true)
      await this.#noteLag()
      return 0
    }
    const fromSeq = this.#central.seq + 1
    const rows = await this.#nextRows(fromSeq, Math.min(head.seq, this.#central.seq + this.#batchSize))
    this.#oldestUnshipped = rows[0]?.record.time ?? null
    // Nothing shipped yet: the chain goes from the first record the store holds (older ones may have expired
    // before the host joined the fleet; the database's chain is then trusted from there, as the store's own is).
    if (rows.length === 0 || (rows[0]!.record.seq !== fromSeq && this.#central.seq !== 0)) {
      await this.#alarm('gap', fromSeq, `record ${fromSeq} is not in the local store: it was removed before it was shipped`)
      return 0
    }
    let prevHash = this.#central.seq === 0 ? rows[0]!.record.prevHash : this.#central.hash
    for (const { record } of rows) {
      if (record.prevHash !== prevHash) {
        await this.#alarm('fork', record.seq, `local record ${record.seq} does not link to the record before it as shipped`)
        return 0
      }
      prevHash = record.hash
    }
    const hostId = this.#options.identity.hostId
    // The stored texts go as one parameter, a line each (a record is stored as one line of JSON, as the journal
    // holds it), not as an array the client would escape character by character; and as bytes, not as one joined
    // string: a string that large is slow to build (BENCHMARKS.md). A text with a line break in it (a store edited by
    // hand) goes as an array. No RETURNING: the count of rows inserted tells whether any seq was already there,
    // without a row per record to parse.
    const oneLine = !rows.some((r) => r.text.includes('\n'))
    const inserted = await client.query(
      `INSERT INTO ${FLEET_SCHEMA}.records (host_id, seq, time, kind, user_name, project, action, decision, hash, prev_hash, body)
       SELECT $1, * FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], ${oneLine ? 'string_to_array($11::text, E\'\\n\')' : '$11::text[]'})
       ON CONFLICT (host_id, seq) DO NOTHING`,
      [hostId, rows.map((r) => r.record.seq), rows.map((r) => r.record.time), rows.map((r) => r.record.kind), rows.map((r) => r.record.user),
        rows.map((r) => r.record.project), rows.map((r) => r.record.action), rows.map((r) => r.record.decision), rows.map((r) => r.record.hash),
        rows.map((r) => r.record.prevHash), oneLine ? textLines(rows, false) : rows.map((r) => r.text)])
    if ((inserted.rowCount ?? 0) < rows.length) {
      // Someone else wrote some of these seqs for this host ID. The same hash: nothing lost. Another: never overwrite.
      const stored = await client.query<{ seq: string, hash: string }>(`SELECT seq, hash FROM ${FLEET_SCHEMA}.records WHERE host_id = $1 AND seq = ANY($2::bigint[])`, [hostId, rows.map((r) => r.record.seq)])
      const held = new Map(stored.rows.map((r) => [Number(r.seq), r.hash]))
      const differing = rows.find((r) => held.get(r.record.seq) !== r.record.hash)
      if (differing !== undefined) {
        await this.#alarm('conflict', differing.record.seq, `the database holds another record ${differing.record.seq} for this host (hash ${String(held.get(differing.record.seq)).slice(0, 12)}…, here ${differing.record.hash.slice(0, 12)}…); it was not overwritten`)
        return 0
      }
    }
    const last = rows[rows.length - 1]!.record
    this.#central = { seq: last.seq, hash: last.hash }
    this.#lastShippedAt = new Date().toISOString()
    await this.#shipCheckpoints()
    this.#markShipped(this.#central.seq, this.#central.seq - this.#markedSeq >= this.#batchSize || Date.now() - this.#lastMarkAt >= MARK_EVERY_MS)
    await this.#noteLag()
    return rows.length
  }

  /** Records `fromSeq` to `toSeq` as stored: from the buffer when it holds `fromSeq`, else (a backlog: the start,
   * after an outage or an overflow) read back from the store, up to where the buffer takes over. */
  async #nextRows (fromSeq: number, toSeq: number): Promise<StoredRecord[]> {
    const taken = this.#buffer.take(fromSeq, toSeq)
    if ('rows' in taken) return taken.rows
    return await this.#readLocal(fromSeq, Math.min(toSeq, Math.max(fromSeq, taken.readFrom - 1)))
  }

  /** Writes the shipped mark without waiting for it (the store's queue may be busy with an expiry): at most one
   * write at a time, the newest seq asked for when one ends; only seqs the database holds are asked for. A write
   * that fails is logged, and the next shipped batch asks again. */
  #markShipped (seq: number, due: boolean): void {
    this.#markWanted = Math.max(this.#markWanted, seq)
    if (!due || this.#marking !== null || this.#markWanted <= this.#markedSeq) return
    const marked = this.#markWanted
    this.#lastMarkAt = Date.now()
    this.#marking = this.#options.source.markShipped(marked).then(() => {
      this.#markedSeq = Math.max(this.#markedSeq, marked)
      this.#marking = null
      this.#markShipped(this.#markWanted, this.#markWanted - this.#markedSeq >= this.#batchSize)
    }, (err: unknown) => {
      this.#marking = null
      if (!hasPortcullisCode(err) || err.code !== 'PORTCULLIS_AUDIT_CLOSED') this.#options.logger.warn({ err, seq: marked }, 'fleet: could not note locally how far the database holds the chain; the next batch tries again')
    })
  }

  async #shipCheckpoints (): Promise<void> {
    if (this.#central.seq <= this.#checkpointSeq) return
    const found: Checkpoint[] = []
    for await (const checkpoint of this.#options.source.checkpoints(this.#checkpointSeq + 1, this.#central.seq)) found.push(checkpoint)
    if (found.length === 0) return
    await this.#client!.query(
      `INSERT INTO ${FLEET_SCHEMA}.checkpoints (host_id, seq, body) SELECT $1, * FROM unnest($2::bigint[], $3::text[]) ON CONFLICT (host_id, seq) DO NOTHING`,
      [this.#options.identity.hostId, found.map((c) => c.seq), found.map((c) => encodeCheckpoint(c))])
    this.#checkpointSeq = found[found.length - 1]!.seq
  }

  async #readLocal (fromSeq: number, toSeq: number): Promise<StoredRecord[]> {
    const rows: StoredRecord[] = []
    for await (const row of this.#options.source.queryStored({ fromSeq, toSeq })) rows.push(row)
    return rows
  }

  async #heartbeatIfDue (): Promise<void> {
    // A policy change is told at once: `fleet status` shows which policy each host runs.
    if (Date.now() - this.#lastHeartbeat >= this.#heartbeatMs || this.#options.policyDigest() !== this.#toldDigest) await this.#heartbeat()
  }

  async #heartbeat (): Promise<void> {
    if (this.#client === null) return
    this.#lastHeartbeat = Date.now()
    this.#toldDigest = this.#options.policyDigest()
    await this.#client.query(`INSERT INTO ${FLEET_SCHEMA}.heartbeats (host_id, head_seq, shipped_seq, policy_digest, policy_revision, version) VALUES ($1, $2, $3, $4, $5, $6)`,
      [this.#options.identity.hostId, this.#options.source.head().seq, this.#central.seq, this.#options.policyDigest(), this.#options.policyRevision?.() ?? null, this.#options.version])
  }

  /** Writes `fleet.lagging` when the lag crosses its threshold and `fleet.caught-up` when it is back to zero. */
  async #noteLag (): Promise<void> {
    const lag = this.#options.source.head().seq - this.#central.seq
    if (!this.#lagging) {
      if (this.#oldestUnshipped === null && this.#client === null && lag > 0) {
        // Unreachable: learn how old the oldest waiting record is, so the age threshold works offline too.
        this.#oldestUnshipped = (await this.#readLocal(this.#central.seq + 1, this.#central.seq + 1).catch(() => []))[0]?.record.time ?? null
      }
      const ageSeconds = this.#oldestUnshipped === null ? 0 : (Date.now() - Date.parse(this.#oldestUnshipped)) / 1000
      const overRecords = lag > (this.#options.lagRecords ?? 10_000)
      const overAge = lag > 0 && ageSeconds > (this.#options.lagSeconds ?? 60)
      if (!overRecords && !overAge) return
      this.#lagging = true
      await this.#record({ kind: 'system', action: 'fleet.lagging', reason: `${lag} records are not yet in the fleet database (the oldest from ${this.#oldestUnshipped ?? '?'}); they are kept here and shipped once it takes them`, fields: { lag, shippedSeq: this.#central.seq, oldestUnshipped: this.#oldestUnshipped } })
    } else if (lag <= 0) {
      this.#lagging = false
      await this.#record({ kind: 'system', action: 'fleet.caught-up', reason: `the fleet database holds every record up to ${this.#central.seq}`, fields: { shippedSeq: this.#central.seq } })
    }
  }

  async #failed (err: unknown): Promise<void> {
    const coded = fleetError(err, this.#options.target)
    const client = this.#client
    this.#client = null
    await client?.end().catch(() => {})
    const first = this.#downSince === null
    this.#lastError = { code: coded.code, message: coded.message, at: new Date().toISOString() }
    if (this.#halted === null) this.#state = 'unreachable'
    if (!first) return
    this.#downSince = Date.now()
    this.#options.logger.error({ err: coded, url: this.#options.target.url }, 'fleet: the database cannot be reached; records are kept here and shipped when it can')
    await this.#record({ kind: 'system', action: 'fleet.unreachable', reason: `the fleet database cannot be reached: ${coded.message}`, code: coded.code, fields: { shippedSeq: this.#central.seq } })
  }

  /** An integrity alarm: kept in status, written to the database (when it can be) and the local chain; shipping stops. */
  async #alarm (kind: AlarmKind, seq: number | null, detail: string): Promise<void> {
    const alarm: FleetAlarm = { kind, seq, detail, at: new Date().toISOString() }
    this.#alarms.push(alarm)
    if (this.#alarms.length > 100) this.#alarms.shift()
    this.#halted = alarm
    this.#state = 'halted'
    this.#options.logger.error({ alarm, hostId: this.#options.identity.hostId }, 'fleet: integrity alarm; shipping stopped until an operator acts')
    await this.#client?.query(`INSERT INTO ${FLEET_SCHEMA}.alarms (host_id, kind, seq, detail) VALUES ($1, $2, $3, $4)`, [this.#options.identity.hostId, kind, seq, detail])
      .catch((err: unknown) => this.#options.logger.error({ err }, 'fleet: could not write the alarm to the database'))
    await this.#record({ kind: 'system', action: 'fleet.alarm', reason: `fleet shipping stopped: ${detail}`, code: 'PORTCULLIS_FLEET_ALARM', fields: { alarm: kind, seq } })
  }

  async #record (input: AuditInput): Promise<void> {
    await this.#options.source.append(input).catch((err: unknown) => {
      if (!hasPortcullisCode(err) || err.code !== 'PORTCULLIS_AUDIT_CLOSED') this.#options.logger.error({ err, action: input.action }, 'fleet: could not record a shipping event')
    })
  }
}
