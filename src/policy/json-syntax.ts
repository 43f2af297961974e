// Where a JSON text stops being JSON, as line:column: V8's JSON.parse messages name a character offset only
// for some errors ("Unexpected token ..." has none), and an editor wants a line and a column.

export interface JsonSyntaxError {
  line: number
  column: number
  message: string
}

/** The first syntax error in `text`, or null when it is valid JSON (RFC 8259). */
export function findJsonSyntaxError (text: string): JsonSyntaxError | null {
  const scanner = new Scanner(text)
  try {
    scanner.skipSpace()
    scanner.value(0)
    scanner.skipSpace()
    if (scanner.pos < text.length) scanner.fail('unexpected text after the JSON value')
    return null
  } catch (err) {
    if (!(err instanceof SyntaxFound)) throw err
    const before = text.slice(0, err.pos)
    const line = before.split('\n').length
    const column = err.pos - (before.lastIndexOf('\n') + 1) + 1
    return { line, column, message: err.message }
  }
}

class SyntaxFound extends Error {
  constructor (readonly pos: number, message: string) {
    super(message)
  }
}

const MAX_DEPTH = 512

class Scanner {
  pos = 0
  constructor (private readonly text: string) {}

  fail (message: string): never {
    throw new SyntaxFound(this.pos, message)
  }

  skipSpace (): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text[this.pos]!)) this.pos++
  }

  private expect (char: string, what: string): void {
    if (this.text[this.pos] !== char) this.fail(this.pos >= this.text.length ? `the text ends where ${what} should be` : `expected ${what}, found ${JSON.stringify(this.text[this.pos])}`)
    this.pos++
  }

  value (depth: number): void {
    if (depth > MAX_DEPTH) this.fail('nested too deeply')
    const char = this.text[this.pos]
    if (char === undefined) this.fail('the text ends where a value should be')
    if (char === '{') return this.object(depth)
    if (char === '[') return this.array(depth)
    if (char === '"') return this.string()
    if (char === '-' || (char >= '0' && char <= '9')) return this.number()
    for (const word of ['true', 'false', 'null']) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length
        return
      }
    }
    this.fail(`expected a value, found ${JSON.stringify(this.text.slice(this.pos, this.pos + 12))}${char === '\'' ? ' (JSON strings take double quotes)' : ''}`)
  }

  private object (depth: number): void {
    this.pos++
    this.skipSpace()
    if (this.text[this.pos] === '}') {
      this.pos++
      return
    }
    for (;;) {
      this.skipSpace()
      if (this.pos >= this.text.length) this.fail('the text ends inside an object (a "}" is missing)')
      if (this.text[this.pos] !== '"') this.fail(this.text[this.pos] === '}' ? 'a comma before "}" (JSON allows no trailing comma)' : 'expected a "quoted" field name')
      this.string()
      this.skipSpace()
      this.expect(':', '":" after the field name')
      this.skipSpace()
      this.value(depth + 1)
      this.skipSpace()
      if (this.text[this.pos] === ',') {
        this.pos++
        continue
      }
      this.expect('}', '"," or "}" after a field')
      return
    }
  }

  private array (depth: number): void {
    this.pos++
    this.skipSpace()
    if (this.text[this.pos] === ']') {
      this.pos++
      return
    }
    for (;;) {
      this.skipSpace()
      if (this.pos >= this.text.length) this.fail('the text ends inside a list (a "]" is missing)')
      if (this.text[this.pos] === ']') this.fail('a comma before "]" (JSON allows no trailing comma)')
      this.value(depth + 1)
      this.skipSpace()
      if (this.text[this.pos] === ',') {
        this.pos++
        continue
      }
      this.expect(']', '"," or "]" after an item')
      return
    }
  }

  private string (): void {
    this.pos++
    for (;;) {
      const char = this.text[this.pos]
      if (char === undefined) this.fail('the text ends inside a string')
      if (char === '"') {
        this.pos++
        return
      }
      if (char < ' ') this.fail('a control character (a raw line break?) inside a string; write it as \\n')
      if (char === '\\') {
        const next = this.text[this.pos + 1]
        if (next === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.text.slice(this.pos + 2, this.pos + 6))) this.fail('\\u must be followed by 4 hex digits')
          this.pos += 6
          continue
        }
        if (next === undefined || !'"\\/bfnrt'.includes(next)) this.fail(`invalid escape \\${next ?? ''} in a string`)
        this.pos += 2
        continue
      }
      this.pos++
    }
  }

  private number (): void {
    const match = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(this.text.slice(this.pos, this.pos + 400))
    if (match === null) this.fail('an invalid number')
    this.pos += match[0].length
  }
}
