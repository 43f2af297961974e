// A serve (a fleet-host.ts host, no dockerd) whose policy sends every record to a syslog receiver
// (outputs.syslog), its output's status, and what a test rsyslogd (syslog.ts) received from it: shared by the plain
// syslog and the RELP tests.
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { adminJson } from '../../src/admin/client.js'
import { makeFleetHost, type FleetHost } from './fleet-host.js'
import { REPO_ROOT } from './index.js'
import type { ReceivedSyslog, Rsyslog } from './syslog.js'

/** examples/policy.json with outputs.syslog at `address`, facility local3, HOSTNAME `host-<name>`. */
export async function syslogOutputHost (root: string, name: string, address: string): Promise<FleetHost> {
  const policy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8')) as Record<string, unknown>
  policy.outputs = { syslog: { address, facility: 'local3', hostname: `host-${name}` } }
  const policyFile = path.join(root, `${name}-policy.json`)
  writeFileSync(policyFile, JSON.stringify(policy))
  return await makeFleetHost(root, name, policyFile, [])
}

/** An output in the admin socket's status, with its sink's own fields `S`. */
export interface OutputStatusOf<S> {
  name: string
  state: string
  lag: number
  writtenSeq: number
  deliveredSeq: number
  headSeq: number
  lastError: { code: string } | null
  sink: S
}

/** The host's first output in the admin socket's status (what `portcullis status -o json` prints under outputs). */
export async function firstOutputStatus<T> (host: FleetHost): Promise<T> {
  const { body } = await adminJson<{ outputs: T[] }>(host.adminSocket, 'GET', '/v1/status')
  return body.outputs[0]!
}

/** The messages rsyslog received from the host `name`, as (seq, hash, MSG) in the order it wrote them. */
export function receivedFrom (rsyslog: Rsyslog, name: string): Array<{ seq: number, hash: string, msg: string, message: ReceivedSyslog }> {
  return rsyslog.received().filter((m) => m.hostname === `host-${name}`).map((message) => ({
    seq: Number(/ seq="(\d+)"/.exec(message.sd)?.[1]),
    hash: / hash="([0-9a-f]{64})"/.exec(message.sd)?.[1] ?? '',
    // RFC 5424 marks a UTF-8 MSG with a BOM; the record is what follows it.
    msg: message.msg.replace(/^\uFEFF/, ''),
    message
  }))
}
