// What one request may make portcullis read, hold and look up. Every limit is documented in docs/policy.md
// ("Limits", under "How a call is judged") and is far above what the docker CLI sends: its longest honest URIs are `docker build` with build
// args and labels, `docker ps --filter …` and `docker save a b c …`, all a few KiB.

/** Longest RequestUri judged; longer ones are refused before any parsing (dockerd itself takes up to ~1 MiB). */
export const MAX_URI_LENGTH = 64 * 1024
/** Most bytes of header names and values judged (dockerd never shows plugins Authorization or X-Registry-*). */
export const MAX_HEADER_BYTES = 64 * 1024
/** Most header fields judged. */
export const MAX_HEADER_COUNT = 100
/** Most other objects (containers, volumes, networks, images) one request may name; each is looked up. */
export const MAX_REFERENCES = 64
/** URIs up to this length share cached route facts; longer ones are parsed each time and never kept. */
export const MAX_CACHED_URI_LENGTH = 512
/** Longest URI prefix and longest string kept in an audit record; what is cut is noted with length and sha256. */
export const MAX_RECORDED_TEXT = 1024
/** Look-ups one caller may have in flight at the daemon; the rest of that caller's wait, other callers do not. */
export const MAX_LOOKUPS_PER_CALLER = 8
