// The `expiry-time="timespec"` of an authorized_keys line, read exactly as sshd reads it (OpenSSH's
// parse_absolute_time): YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, in UTC with a `Z` (or `UTC`) suffix, else in the
// local time zone of the host. sshd hands the fields to mktime with tm_isdst = 0, so local times are read as
// standard time all year: in summer an entry ends one hour later by the wall clock. Write `Z` to avoid the surprise.

/** The moment (ms since the epoch) the key stops being accepted: a login after it is refused. Throws on bad input. */
export function parseExpiryTime (text: string): number {
  const utc = /(z|utc)$/i.exec(text)
  const digits = utc === null ? text : text.slice(0, utc.index)
  const match = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?$/.exec(digits)
  if (match === null) {
    throw new Error(`expiry-time="${text}" is not YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS (add Z for UTC), e.g. expiry-time="20301231Z"`)
  }
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number]
  const fields = Date.UTC(year, month - 1, day, hour, minute, second)
  const check = new Date(fields)
  // strptime would take 20300231 and mktime roll it into March; a date that does not exist is a typo.
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day ||
      check.getUTCHours() !== hour || check.getUTCMinutes() !== minute || check.getUTCSeconds() !== second) {
    throw new Error(`expiry-time="${text}" names a date or time that does not exist`)
  }
  const at = utc !== null ? fields : fields + standardOffsetMinutes(year) * 60_000
  // sshd stores the time unsigned: a date before 1970 would wrap around and never expire.
  if (at <= 0) throw new Error(`expiry-time="${text}" is before 1970, which sshd reads as never expiring; write the date you mean`)
  return at
}

/** True once `now` is past the expiry, at one-second precision, as sshd compares `valid_before < now`. */
export function expired (expiresAt: number, nowMs: number): boolean {
  return expiresAt / 1000 < Math.floor(nowMs / 1000)
}

/** The local zone's offset from UTC outside daylight saving time, in getTimezoneOffset's sign (UTC − local). */
function standardOffsetMinutes (year: number): number {
  return Math.max(new Date(year, 0, 1).getTimezoneOffset(), new Date(year, 6, 1).getTimezoneOffset())
}
