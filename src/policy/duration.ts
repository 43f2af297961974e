// Durations as the policy file writes them: `90` (seconds), `30s`, `15m`, `8h`, `2d`.

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `90`, `30s`, `15m`, `8h`, `2d` → milliseconds (the schema has already checked the shape; anything else is 0). */
export function durationMs (text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text)
  return match === null ? 0 : Number(match[1]) * UNIT_MS[match[2] || 's']!
}

/** The inverse, in the largest unit that is exact (`8h`, `90m`, `45s`), so a hint can be pasted back as an option. */
export function durationText (ms: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    if (ms >= UNIT_MS[unit]! && ms % UNIT_MS[unit]! === 0) return `${ms / UNIT_MS[unit]!}${unit}`
  }
  return `${Math.ceil(ms / 1000)}s`
}
