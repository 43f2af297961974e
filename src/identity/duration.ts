// `90`, `30s`, `15m`, `8h`, `7d` → seconds.

import { PortcullisError } from '../errors.js'

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

export function parseDuration (text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim())
  if (match === null) throw new PortcullisError('PORTCULLIS_TOKEN_TTL', JSON.stringify(text))
  const seconds = Number(match[1]) * UNITS[match[2] || 's']!
  if (seconds <= 0) throw new PortcullisError('PORTCULLIS_TOKEN_TTL', JSON.stringify(text))
  return seconds
}
