// The refusal for a request dockerd could read differently, or one beyond a documented limit (RequestFacts.wire).

import type { RequestFacts } from './types.js'
import { denied, type Decision } from './decision.js'

export function wireRefusal (req: RequestFacts): Decision {
  const wire = req.wire!
  const what = req.action ?? `${req.method} ${req.path === '' ? '(unread URI)' : req.path}`
  return denied(wire.code, `${what}: ${wire.reason}`, { action: req.action })
}
