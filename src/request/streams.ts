// Interactive streams a request asks for, read the way dockerd reads them: a container created with a TTY or an
// open stdin, and an attach that writes to the container's stdin. The `interactive` rule judges these.

import type { RequestFacts, StreamFacts } from '../core/types.js'

/** Go's unicode.IsSpace, which strings.TrimSpace trims (JS trim differs: it trims U+FEFF, not U+0085). */
const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g
const GO_FALSE = new Set(['', '0', 'no', 'false', 'none'])

/**
 * httputils.BoolValue: the first value, trimmed and lowercased; anything but "", "0", "no", "false", "none" is true.
 * No non-ASCII rune lowercases (in Go) onto those words' letters, so any non-ASCII left after trimming is true.
 */
export function goBoolValue (values: readonly string[] | undefined): boolean {
  const first = values?.[0]
  if (first === undefined) return false
  const trimmed = first.replace(GO_SPACE, '')
  if (/[^\x00-\x7f]/.test(trimmed)) return true
  return !GO_FALSE.has(trimmed.toLowerCase())
}

/** Container create: `Tty`, `OpenStdin` and `AttachStdin` (top level of the decoded body, any spelling Go accepts). */
export function createStream (body: { Tty?: boolean, OpenStdin?: boolean, AttachStdin?: boolean }): StreamFacts | undefined {
  const tty = body.Tty === true
  const stdin = body.OpenStdin === true || body.AttachStdin === true
  if (!tty && !stdin) return undefined
  const asked = [tty ? 'a TTY (-t)' : '', body.OpenStdin === true ? 'an open stdin (-i)' : '', body.AttachStdin === true ? 'stdin attached (-i)' : '']
    .filter((s) => s !== '').join(', ')
  return { tty, stdin, detail: `a container with ${asked}`, drop: '-i and -t (docker run -d works without them)' }
}

/** Content types under which Go's ParseForm reads no body, so FormValue sees the query alone (the CLI sends text/plain). */
const QUERY_ONLY_CONTENT_TYPE = /^[\t ]*((text\/plain|application\/json)[\t ]*(;[\x20-\x7e]*)?)?$/i

/** Container attach (POST …/attach and the websocket GET …/attach/ws): stdin is a way into the container's process. */
export function attachStream (facts: Pick<RequestFacts, 'action' | 'path' | 'query'>, contentType?: string): StreamFacts | undefined {
  if (facts.action !== 'container.attach') return undefined
  // A body dockerd might read form values from (and that plugins never see) could say stdin=1: judge it as if it did.
  if (contentType !== undefined && !QUERY_ONLY_CONTENT_TYPE.test(contentType)) {
    return { tty: false, stdin: true, detail: `an attach whose body (Content-Type ${JSON.stringify(contentType)}) may carry stdin=1`, drop: 'the body: send attach parameters in the query (docker attach --no-stdin)' }
  }
  // The websocket attach carries stdin whatever the query says (judged as if it always did: fail closed).
  if (facts.path.endsWith('/attach/ws')) {
    return { tty: false, stdin: true, detail: 'a websocket attach (it carries stdin)', drop: 'the websocket attach (use docker attach --no-stdin or docker logs -f)' }
  }
  if (!goBoolValue(facts.query.stdin)) return undefined
  return { tty: false, stdin: true, detail: 'an attach with stdin', drop: 'stdin: docker attach --no-stdin (docker start -a without -i)' }
}
