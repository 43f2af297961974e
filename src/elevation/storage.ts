// Elevation requests beside the audit records, in the audit store's `elevation` key space (src/audit/keys.ts
// declares its keys: `req!<id>` → the request as JSON; one process owns the store: `portcullis serve`). The audit
// chain is the evidence of what happened; these entries are only the working state, so a restart knows which
// requests and grants are open.

import type { KeySpace } from '../audit/key-space.js'
import { ELEVATION_REQUEST_RANGE, elevationRequestKey } from '../audit/keys.js'
import { parseStoredRequest, type ElevationRequest } from './request.js'

export class ElevationStorage {
  constructor (private readonly space: KeySpace) {}

  /** Every stored request; `unreadable` names the keys whose value is not a request. */
  async loadAll (): Promise<{ requests: ElevationRequest[], unreadable: string[] }> {
    const requests: ElevationRequest[] = []
    const unreadable: string[] = []
    for await (const [key, value] of this.space.iterate(ELEVATION_REQUEST_RANGE)) {
      const request = parseStoredRequest(value)
      if (request === null || elevationRequestKey(request.id) !== key) unreadable.push(key)
      else requests.push(request)
    }
    return { requests, unreadable }
  }

  /** Forgets a finished request (its audit records stay). */
  async remove (id: string): Promise<void> {
    await this.space.del(elevationRequestKey(id))
  }

  /** Resolves once the request is on disk. */
  async save (request: ElevationRequest): Promise<void> {
    await this.space.put(elevationRequestKey(request.id), JSON.stringify(request))
  }
}
