// "did you mean": the known name closest to a misspelt one, by edit distance with transpositions
// (`develper` → `developer`, `contaner.*` → `container.*`, `container.strat` → `container.start`).

/** The closest candidate within a few edits of `word`, or undefined when none is close enough to be a typo. */
export function closest (word: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(word.length / 3))
  let best: string | undefined
  let bestDistance = limit + 1
  for (const candidate of candidates) {
    if (candidate === word) continue
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase(), bestDistance)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/** ` (did you mean "x"?)`, or nothing. */
export function didYouMean (word: string, candidates: Iterable<string>): string {
  const found = closest(word, candidates)
  return found === undefined ? '' : ` (did you mean "${found}"?)`
}

/** Optimal string alignment distance; stops early once every path exceeds `cap`. */
function editDistance (a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1
  let before = new Array<number>(b.length + 1).fill(0)
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = new Array<number>(b.length + 1).fill(0)
    current[0] = i
    let rowMin = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, before[j - 2]! + 1)
      current[j] = value
      rowMin = Math.min(rowMin, value)
    }
    if (rowMin > cap) return cap + 1
    before = previous
    previous = current
  }
  return previous[b.length]!
}
