// `portcullis fleet bundle`: an evidence bundle across the fleet's hosts for a time range, from the fleet database
// (src/fleet/bundle.ts). Checked offline by `portcullis audit verify-bundle`, like a host's own bundle.

import { existsSync, createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { archiveName, isFreeDirectory } from '../audit/bundle-store.js'
import { AuditError } from '../audit/errors.js'
import { parseTimeBound } from '../audit/query.js'
import { PortcullisError } from '../errors.js'
import { fleetBundleArchive, writeFleetBundle } from '../fleet/bundle.js'
import { checkSchema } from '../fleet/connection.js'
import { isHostId } from '../fleet/host-identity.js'
import { VERSION } from '../version.js'
import { removingOnFailure, writeFileAtomically } from './bundle-out.js'
import { defineCommand } from './command.js'
import { FLEET_HELP, withFleet } from './fleet.js'

const ARCHIVE_SUFFIX = /\.(tar\.gz|tgz)$/

export const fleetBundleCommand = defineCommand({
  name: 'fleet bundle',
  summary: 'Write an evidence bundle across hosts for a time range from the fleet database: per host, the records in the range exactly as stored, the checkpoints its host signed that cover them and the key it registered (hosts/HOST_ID/, an `audit bundle` of its own), plus a manifest and report.html over all hosts. Each part holds the session recordings of its range as the database holds them (a part whose recordings the database does not all hold whole leaves them on the host and says so). Check it offline with `portcullis audit verify-bundle`.',
  usage: 'fleet bundle --fleet URL [--fleet-password-file FILE] [--host HOST_ID ...] --since TIME [--until TIME] --out DIR|FILE.tar.gz',
  options: {
    fleet: { type: 'string' },
    'fleet-password-file': { type: 'string' },
    host: { type: 'string', multiple: true },
    since: { type: 'string' },
    until: { type: 'string' },
    out: { type: 'string' }
  },
  help: {
    '--fleet URL': FLEET_HELP['--fleet URL'],
    '--fleet-password-file FILE': FLEET_HELP['--fleet-password-file FILE'],
    '--host HOST_ID': 'only this host (repeat for more); default every host in the database',
    '--since TIME': 'records at or after TIME: ISO 8601 (2026-01-31T08:00:00Z) or back from now (8h, 7d)',
    '--until TIME': 'records before TIME (same forms); default up to the newest shipped. Each host\'s part ends at the first checkpoint its host signed at or after its last record in the range',
    '--out DIR|FILE.tar.gz': 'a new (or empty) directory, or a .tar.gz / .tgz file'
  },
  async run (values) {
    const usage = (problem: string): PortcullisError => new PortcullisError('PORTCULLIS_USAGE', problem, 'fleet bundle')
    if (values.since === undefined) throw usage('--since is required: the start of the range (a fleet holds too much to bundle whole by accident)')
    if (values.out === undefined || values.out === '') throw usage('--out is required: a new directory, or FILE.tar.gz')
    const hosts = values.host ?? []
    for (const host of hosts) if (!isHostId(host)) throw usage(`--host ${host} is not a host ID (h- and 16 hex digits, as \`fleet status\` lists them)`)
    const now = new Date()
    const since = parseTimeBound(values.since, now, '--since')
    const until = values.until !== undefined ? parseTimeBound(values.until, now, '--until') : undefined
    if (until !== undefined && until <= since) throw usage(`--until ${values.until} is not after --since ${values.since}`)
    const out = values.out
    const archive = ARCHIVE_SUFFIX.test(out)
    if (archive ? existsSync(out) : !await isFreeDirectory(out)) throw new AuditError(archive ? 'PORTCULLIS_AUDIT_BUNDLE_OUT_EXISTS' : 'PORTCULLIS_AUDIT_BUNDLE_DIR_NOT_EMPTY', [out])
    const options = { since, ...(until !== undefined ? { until } : {}), hosts, generator: `portcullis ${VERSION}` }

    const manifest = await withFleet(values, 'fleet bundle', async (client, target) => {
      await checkSchema(client, target)
      if (!archive) return await removingOnFailure(out, async () => await writeFleetBundle(client, out, target.url, options))
      const parent = await mkdtemp(join(tmpdir(), 'portcullis-fleet-bundle-'))
      try {
        const dir = join(parent, 'bundle')
        const written = await writeFleetBundle(client, dir, target.url, options)
        const name = archiveName(basename(out).replace(ARCHIVE_SUFFIX, ''))
        await writeFileAtomically(out, async (file) => { await pipeline(fleetBundleArchive(dir, name, written), createWriteStream(file, { flags: 'wx' })) })
        return written
      } finally {
        await rm(parent, { recursive: true, force: true })
      }
    })
    const lines = manifest.hosts.map((h) => `  ${h.hostId}  ${h.name}: ${h.dir === null ? 'no part' : `records ${h.fromSeq} to ${h.toSeq} (${h.records})`}${h.note !== null ? ` (${h.note})` : ''}`)
    process.stdout.write(`wrote ${out}: ${manifest.hosts.length} host(s)\n${lines.join('\n')}${lines.length > 0 ? '\n' : ''}` +
      'session recordings are in each host\'s part, unless its note says they stay on the host\n' +
      `check it with: portcullis audit verify-bundle ${out}\n`)
    return 0
  }
})
