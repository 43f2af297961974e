// Small number helpers for the report.

/** Mean, p50, p99 and max of a list of milliseconds. */
export function summarize (values) {
  const sorted = Float64Array.from(values).sort()
  const pick = (q) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  let total = 0
  for (const value of sorted) total += value
  return { count: sorted.length, mean: total / Math.max(1, sorted.length), p50: pick(0.5), p99: pick(0.99), max: pick(1) }
}

export function ms (value) {
  return value >= 10 ? value.toFixed(1) : value.toFixed(2)
}

export function percent (value) {
  return `${Math.round(value * 100)}%`
}
