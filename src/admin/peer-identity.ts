// The admin socket's caller, for the routes that record who acted or read: the kernel's word (peer.ts), never the
// client's. Audit reads fail closed without it; token issuance and policy reloads record it when it can be told.

import type { Request } from 'express'
import { PortcullisError } from '../errors.js'
import type { Identified } from './audit-read-record.js'
import { peerOf, peerFields, type Peer } from './peer.js'

/** The peer of the connection a request came on; null when the kernel's answer cannot be had. */
async function adminPeer (req: Request): Promise<Peer | null> {
  return await peerOf(req.socket)
}

/** For the audit read routes on the admin socket: a peer that cannot be told is refused. */
export async function identifyAdminPeer (req: Request): Promise<Identified> {
  const peer = await adminPeer(req)
  if (peer !== null) return { ok: true, reader: { via: 'admin-socket', peer } }
  const detail = 'sock_diag (ss -x -p) named no process holding the other end'
  return { ok: false, error: new PortcullisError('PORTCULLIS_ADMIN_PEER_UNKNOWN', detail), claim: { via: 'admin-socket', peer: null, detail } }
}

/** What a record of an admin action holds about who asked: the peer, or why it is not known. */
export async function adminCallerFields (req: Request): Promise<Record<string, unknown>> {
  const peer = await adminPeer(req)
  return peer !== null ? { peer: peerFields(peer) } : { peer: null }
}
