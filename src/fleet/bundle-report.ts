// The top-level report.html of a fleet bundle: one row per host (records, range, verdict when written, a link to
// the host's own report). Static HTML with no script: everything in it came from the database and is escaped.

import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import type { FleetBundleHost, FleetBundleManifest } from '../audit/bundle-verify-fleet.js'
import { escapeHtml } from '../audit/report/html.js'

export interface FleetReportInput {
  range: FleetBundleManifest['range']
  created: string
  generator: string
  hosts: FleetBundleHost[]
}

export async function writeFleetReport (path: string, input: FleetReportInput): Promise<{ sha256: string, bytes: number }> {
  const bytes = Buffer.from(renderFleetReport(input), 'utf8')
  await writeFile(path, bytes, { flag: 'wx' })
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length }
}

function renderFleetReport (input: FleetReportInput): string {
  const e = escapeHtml
  const total = input.hosts.reduce((sum, host) => sum + host.records, 0)
  const rows = input.hosts.map((host) => {
    const verdict = host.dir === null ? 'no part' : 'chain checked, signed by the host\'s checkpoint'
    const link = host.dir === null ? '' : `<a href="${e(host.dir)}/report.html">report</a>`
    return `<tr><td><code>${e(host.hostId)}</code></td><td>${e(host.name)}</td><td><code>${e(host.keyId)}</code></td><td>${host.records}</td>` +
      `<td>${host.fromSeq === null ? '-' : `${host.fromSeq} to ${host.toSeq ?? '-'}`}</td><td>${e(verdict)}</td><td>${link}</td><td>${e(host.note ?? '')}</td></tr>`
  }).join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>portcullis fleet evidence bundle</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}</style>
</head><body>
<h1>Fleet evidence bundle</h1>
<p>Records from ${e(input.range.since)} ${input.range.until === null ? 'to the newest shipped' : `until ${e(input.range.until)}`}, ${input.hosts.length} host${input.hosts.length === 1 ? '' : 's'}, ${total} records. Written ${e(input.created)} by ${e(input.generator)} from the fleet database.</p>
<p>Each host's part (hosts/&lt;host ID&gt;/) is an evidence bundle of its own: its records exactly as the host stored them, the checkpoints its host signed with its own key, and the public key it registered. Its chain was checked against that checkpoint when the bundle was written; check it again offline with <code>portcullis audit verify-bundle</code> on this bundle.</p>
<p><strong>Session recordings</strong> are in each host's part, as the fleet database holds them, checked against the digest their session.end record carries; open a part's report to replay them. A part whose note says its recordings stay on the host holds only the session.end records with their digests: fetch those recordings from the host (<code>portcullis audit bundle</code> there).</p>
<table><thead><tr><th>host ID</th><th>name</th><th>key ID</th><th>records</th><th>seq range</th><th>verdict when written</th><th>report</th><th>note</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`
}
