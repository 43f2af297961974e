// Elevation requests beside the audit records, in the same LevelDB (one process owns it: `portcullis serve`).
// `e!req!<id>` → the request as JSON. The prefix sorts before the records (`r!`), the head (`s!`) and the
// indexes (`x!`), and nothing else in the store reads or removes it. The audit chain is the evidence of what
// happened; these entries are only the working state, so a restart knows which requests and grants are open.

import type { AuditDb } from '../audit/level.js'
import { parseStoredRequest, type ElevationRequest } from './request.js'

const REQUEST_PREFIX = 'e!req!'
const REQUEST_RANGE = { gte: REQUEST_PREFIX, lt: 'e!req"' } as const // '"' follows '!'

function requestKey (id: string): string {
  return REQUEST_PREFIX + id
}

export class ElevationStorage {
  constructor (private readonly db: AuditDb) {}

  /** Every stored request; `unreadable` names the keys whose value is not a request. */
  async loadAll (): Promise<{ requests: ElevationRequest[], unreadable: string[] }> {
    const requests: ElevationRequest[] = []
    const unreadable: string[] = []
    for await (const [key, value] of this.db.iterator(REQUEST_RANGE)) {
      const request = parseStoredRequest(value)
      if (request === null || requestKey(request.id) !== key) unreadable.push(key)
      else requests.push(request)
    }
    return { requests, unreadable }
  }

  /** Forgets a finished request (its audit records stay). */
  async remove (id: string): Promise<void> {
    await this.db.del(requestKey(id), { sync: true })
  }

  /** Resolves once the request is on disk. */
  async save (request: ElevationRequest): Promise<void> {
    await this.db.put(requestKey(request.id), JSON.stringify(request), { sync: true })
  }
}
