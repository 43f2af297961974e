// Globs for action names and exec command lines: `*` matches any run of characters, nothing else is special.

export function globToRegExp (glob: string): RegExp {
  const body = glob.split('*').map(escapeRegExp).join('[\\s\\S]*')
  return new RegExp(`^${body}$`)
}

function escapeRegExp (text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
}

/** A set of globs compiled to one RegExp. */
export class GlobSet {
  readonly patterns: readonly string[]
  private readonly re: RegExp | null

  constructor (patterns: readonly string[]) {
    this.patterns = patterns
    this.re = patterns.length === 0
      ? null
      : new RegExp(patterns.map((p) => `(?:${globToRegExp(p).source})`).join('|'))
  }

  matches (text: string): boolean {
    return this.re !== null && this.re.test(text)
  }
}
