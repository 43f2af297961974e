// `fleet bundle`: an evidence bundle across hosts for a time range, read from the fleet database. Each host's part
// is written by the writer of `audit bundle` (bundle.ts) through a source over the database, so it is checked by the
// same verify-bundle. The database has no host's private key, so no checkpoint is signed here: each part ends at a
// checkpoint its host signed and shipped, the first one at or after the range's last record (it covers them all);
// when the host has signed none that far yet, the part ends at its last checkpoint inside the range, and the
// manifest says which records that leaves out. Each part holds the session recordings of its range as the database
// holds them (shipped by recording-shipper.ts), checked against their session.end like a host's own bundle; a part
// whose recordings the database does not all hold whole (still shipping, or recorded in the store's old chunks,
// which are not shipped) leaves them on the host, and its manifest and note say so.

import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, type Readable } from 'node:stream'
import { createGzip } from 'node:zlib'
import type pg from 'pg'
import { writeBundle, type BundleSource } from '../audit/bundle.js'
import { FLEET_HOSTS_DIR, type FleetBundleHost, type FleetBundleManifest } from '../audit/bundle-verify-fleet.js'
import { checkpointSignatureProblem, parseCheckpoint, type Checkpoint } from '../audit/checkpoint-format.js'
import { vouchedSummaries } from '../audit/chain-verifier.js'
import { AuditError, messageOf } from '../audit/errors.js'
import type { StoredRecord } from '../audit/query.js'
import { parseRecord } from '../audit/record.js'
import { parseAuditPublicKey, type AuditPublicKey } from '../audit/signing-key.js'
import { PortcullisError } from '../errors.js'
import { writeFleetReport } from './bundle-report.js'
import { holdsRecording, recordingPieces } from './recordings-central.js'
import { FLEET_SCHEMA } from './schema.js'
import { writeTar, type TarSource } from '../audit/tar.js'

const S = FLEET_SCHEMA
const PAGE = 2_000

export interface FleetBundleOptions {
  since: Date
  until?: Date
  /** Only these hosts (host IDs); default every host. */
  hosts?: string[]
  generator: string
  now?: () => Date
}

interface HostRow {
  host_id: string
  name: string
  key_id: string
  public_key: string
}

/** Writes a fleet bundle into `dir` (new or empty). Throws PORTCULLIS_FLEET_NO_HOST for a host ID the database
 * does not hold, and PORTCULLIS_FLEET_BUNDLE_HOST naming the host whose rows do not check out. */
export async function writeFleetBundle (client: pg.Client, dir: string, url: string, options: FleetBundleOptions): Promise<FleetBundleManifest> {
  const now = options.now ?? (() => new Date())
  await mkdir(dir, { recursive: true })
  if ((await readdir(dir)).length > 0) throw new AuditError('PORTCULLIS_AUDIT_BUNDLE_DIR_NOT_EMPTY', [dir])
  const wanted = options.hosts ?? []
  const { rows } = await client.query<HostRow>(
    `SELECT host_id, name, key_id, public_key FROM ${S}.hosts ${wanted.length > 0 ? 'WHERE host_id = ANY($1)' : ''} ORDER BY name, host_id`, wanted.length > 0 ? [wanted] : [])
  for (const id of wanted) if (!rows.some((row) => row.host_id === id)) throw new PortcullisError('PORTCULLIS_FLEET_NO_HOST', url, id)

  const hosts: FleetBundleHost[] = []
  for (const row of rows) hosts.push(await writeHostPart(client, dir, row, options))

  const created = now().toISOString()
  const range = { since: options.since.toISOString(), until: options.until?.toISOString() ?? null }
  const report = await writeFleetReport(join(dir, 'report.html'), { range, created, generator: options.generator, hosts })
  const manifest: FleetBundleManifest = { version: 1, kind: 'fleet', created, range, recordings: 'in-parts', hosts, files: { 'report.html': report }, generator: options.generator }
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n', { flag: 'wx' })
  return manifest
}

async function writeHostPart (client: pg.Client, dir: string, host: HostRow, options: FleetBundleOptions): Promise<FleetBundleHost> {
  const entry: FleetBundleHost = { hostId: host.host_id, name: host.name, keyId: host.key_id, dir: null, records: 0, fromSeq: null, toSeq: null, manifestSha256: null, note: null }
  const fail = (why: string): PortcullisError => new PortcullisError('PORTCULLIS_FLEET_BUNDLE_HOST', host.host_id, why, host.host_id)
  let key: AuditPublicKey
  try {
    key = parseAuditPublicKey(host.public_key)
  } catch (err) {
    throw fail(`its registered public key cannot be read (${messageOf(err)})`)
  }
  const bounds = await client.query<{ first: string | null, last: string | null }>(
    `SELECT min(seq) AS first, max(seq) AS last FROM ${S}.records WHERE host_id = $1 AND time >= $2 AND time < $3`,
    [host.host_id, options.since, options.until ?? new Date(8.64e15)])
  if (bounds.rows[0]?.first == null) {
    entry.note = 'no records in the range'
    return entry
  }
  const fromSeq = Number(bounds.rows[0].first)
  const lastSeq = Number(bounds.rows[0].last)
  const checkpoints = await goodCheckpoints(client, host.host_id, key, fromSeq)
  const covering = checkpoints.find((c) => c.seq >= lastSeq) ?? checkpoints.filter((c) => c.seq <= lastSeq).pop()
  if (covering === undefined) {
    entry.note = `records ${fromSeq} to ${lastSeq} are in the range, but the host has shipped no checkpoint that signs them yet: nothing pins them to its key, so they are left out (bundle again after its next checkpoint)`
    return entry
  }
  const toSeq = covering.seq
  if (toSeq > lastSeq) entry.note = `the range ends at record ${lastSeq}; the part goes on to record ${toSeq}, the first checkpoint the host signed after it, which pins them all`
  if (toSeq < lastSeq) entry.note = `records ${toSeq + 1} to ${lastSeq} are in the range but no checkpoint the host shipped signs them yet: they are left out (bundle again after its next checkpoint)`

  const notWhole = await recordingsNotWhole(client, host.host_id, fromSeq, toSeq)
  if (notWhole !== null) entry.note = (entry.note === null ? '' : `${entry.note}; `) + `its recordings stay on the host: ${notWhole}`
  const source: BundleSource = {
    head: () => ({ seq: toSeq, hash: covering.hash }),
    firstSeq: async () => fromSeq,
    readStored: (from, to) => readRows(client, host.host_id, from, to),
    readCast: async function * () {},
    readRecordingFile: async (session) => await holdsRecording(client, host.host_id, session)
      ? recordingPieces(client, host.host_id, session, (from, to) => { throw fail(`the recording of session ${session} in the database has a gap: bytes ${from} to ${to} are missing`) })
      : null,
    seqAtOrAfter: async () => fromSeq,
    checkpoints: async function * (from, to) { for (const c of checkpoints) if (c.seq >= from && c.seq <= to) yield c },
    // The host signed it: the writer checks each record against it, as against one it signs itself.
    signCheckpoint: async () => covering,
    publicKey: key
  }
  const partDir = `${FLEET_HOSTS_DIR}/${host.host_id}`
  try {
    const result = await writeBundle(source, join(dir, partDir), { fromSeq, toSeq, generator: options.generator, host: host.name, recordingsOnHost: notWhole !== null, ...(options.now !== undefined ? { now: options.now } : {}) })
    entry.records = result.records
  } catch (err) {
    // The writer's advice (audit verify, the store) is for a host; here the rows are the database's.
    if (err instanceof PortcullisError && err.code === 'PORTCULLIS_AUDIT_BUNDLE_CHAIN_BROKEN') throw fail(err.message.replace(/\. Run `portcullis audit verify`[^]*$/, '').replace(/^Cannot bundle /, ''))
    throw err
  }
  entry.dir = partDir
  entry.fromSeq = fromSeq
  entry.toSeq = toSeq
  entry.manifestSha256 = createHash('sha256').update(await readFile(join(dir, partDir, 'manifest.json'))).digest('hex')
  return entry
}

/** Why the database cannot give every recording a session.end in fromSeq..toSeq vouches for, or null when it can:
 * one recorded in the store's old chunks (never shipped), or one not (yet) shipped whole. Each body is read here,
 * not cast in SQL: a body that is not a record fails this host's part, named, and no other host's. */
async function recordingsNotWhole (client: pg.Client, hostId: string, fromSeq: number, toSeq: number): Promise<string | null> {
  const { rows } = await client.query<{ seq: string, body: string }>(
    `SELECT seq, body FROM ${S}.records WHERE host_id = $1 AND seq BETWEEN $2 AND $3 AND kind = 'session' AND action = 'session.end' ORDER BY seq`, [hostId, fromSeq, toSeq])
  for (const row of rows) {
    const record = parseRecord(row.body)
    if (record === null) throw new PortcullisError('PORTCULLIS_FLEET_BUNDLE_HOST', hostId, `row ${row.seq} is not an audit record`, hostId)
    const vouched = vouchedSummaries(record)
    if (vouched === null) continue
    if (record.fields?.cast !== undefined && vouched.recording === undefined) return `session ${vouched.session} was recorded in the store's chunks, which are not shipped (\`portcullis audit bundle\` on the host holds it)`
    if (vouched.recording === undefined) continue
    const held = await client.query<{ held: string | null }>(`SELECT sum(length(bytes)) AS held FROM ${S}.recording_chunks WHERE host_id = $1 AND session_id = $2`, [hostId, vouched.session])
    if (Number(held.rows[0]?.held ?? 0) < vouched.recording.bytes) return `the database does not hold the whole recording of session ${vouched.session} yet (bundle again once \`fleet status\` shows no recording lag)`
  }
  return null
}

/** The host's checkpoints from `fromSeq` on whose signature holds for its registered key, in seq order. */
async function goodCheckpoints (client: pg.Client, hostId: string, key: AuditPublicKey, fromSeq: number): Promise<Checkpoint[]> {
  const { rows } = await client.query<{ seq: string, body: string }>(`SELECT seq, body FROM ${S}.checkpoints WHERE host_id = $1 AND seq >= $2 ORDER BY seq`, [hostId, fromSeq])
  const good: Checkpoint[] = []
  for (const row of rows) {
    const checkpoint = parseCheckpoint(row.body)
    if (checkpoint !== null && checkpoint.seq === Number(row.seq) && checkpointSignatureProblem(checkpoint, [key]) === null) good.push(checkpoint)
  }
  return good
}

/** Records from..to as the database holds them, a page at a time. A row that is not a record stops the bundle. */
async function * readRows (client: pg.Client, hostId: string, from: number, to: number): AsyncIterable<StoredRecord> {
  let after = from - 1
  for (;;) {
    const page = await client.query<{ seq: string, body: string }>(`SELECT seq, body FROM ${S}.records WHERE host_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT ${PAGE}`, [hostId, after, to])
    for (const row of page.rows) {
      const record = parseRecord(row.body)
      if (record === null) throw new PortcullisError('PORTCULLIS_FLEET_BUNDLE_HOST', hostId, `row ${row.seq} is not an audit record`, hostId)
      yield { record, text: row.body }
    }
    if (page.rows.length < PAGE) return
    after = Number(page.rows[page.rows.length - 1]!.seq)
  }
}

/** A written fleet bundle as a .tar.gz whose entries sit under `name/`, manifest first. */
export function fleetBundleArchive (dir: string, name: string, manifest: FleetBundleManifest): Readable {
  const gzip = createGzip()
  const tar = new PassThrough()
  tar.pipe(gzip)
  void (async () => {
    const directories = [`${name}/`]
    const files: TarSource[] = []
    const add = async (path: string): Promise<void> => {
      const info = await stat(join(dir, path))
      files.push({ path: `${name}/${path}`, file: join(dir, path), size: info.size, mtime: info.mtime })
    }
    await add('manifest.json')
    for (const path of Object.keys(manifest.files)) await add(path)
    if (manifest.hosts.some((host) => host.dir !== null)) directories.push(`${name}/${FLEET_HOSTS_DIR}/`)
    for (const host of manifest.hosts) {
      if (host.dir === null) continue
      directories.push(`${name}/${host.dir}/`)
      const walk = async (relative: string): Promise<void> => {
        for (const entry of (await readdir(join(dir, relative), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
          const path = `${relative}/${entry.name}`
          if (entry.isDirectory()) {
            directories.push(`${name}/${path}/`)
            await walk(path)
          } else {
            await add(path)
          }
        }
      }
      await walk(host.dir)
    }
    await writeTar(tar, directories, files, new Date(manifest.created))
    tar.end()
  })().catch((err: unknown) => { gzip.destroy(err instanceof Error ? err : new Error(String(err))) })
  return gzip
}
