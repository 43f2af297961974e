// The container picker the SSH bridge shows to `alice@host` when she asks for a pty but names no container: a
// numbered full-screen list of the containers she may enter. Pure: it turns keystrokes into actions and its state
// into ANSI text; the bridge does the I/O, and the one timer a terminal UI needs (see `pendingInput`).

import { PROJECT_LABEL } from '../core/project-label.js'

export interface PickerEntry {
  project: string
  name: string
  id: string
  image: string
  status: string
}

export interface PickerOptions {
  user: string
  width: number
  height: number
}

export type PickerAction =
  | { type: 'none' }
  | { type: 'redraw' }
  | { type: 'choose', entry: PickerEntry }
  | { type: 'quit' }

export interface ContainerListOptions {
  /** The host name to put in the hint, as the user should type it. */
  host: string
  /** The bridge's port; left out of the hint when it is 22. */
  port: number
}

const CLEAR_AND_HOME = '\x1b[2J\x1b[H'
const BOLD = '\x1b[1m'
const DIM = '\x1b[2m'
const REVERSE = '\x1b[7m'
const RED = '\x1b[31m'
const RESET = '\x1b[0m'

const HINT = '↑/↓ or a number, Enter to open, q to quit'
const COLUMN_GAP = '   '
/** Long enough for any list; more digits would only hide the footer. */
const MAX_TYPED_DIGITS = 6
/** A sequence longer than this is not one we know; dropping it keeps a stray ESC from eating the input. */
const MAX_PENDING_BYTES = 32
/** Title, a line above and a line below the list (blank or a "more" marker), footer. */
const CHROME_LINES = 4

type Key =
  | 'up' | 'down' | 'home' | 'end' | 'page-up' | 'page-down'
  | 'enter' | 'backspace' | 'escape' | 'quit' | 'redraw' | 'ignored'
  | { digit: string }

/** One line of the list body: a project heading, the blank line between projects, or container `index`. */
type BodyLine =
  | { kind: 'heading', project: string }
  | { kind: 'gap' }
  | { kind: 'row', index: number }

export class Picker {
  /** The entries in display order: entry i has number i + 1. */
  readonly entries: readonly PickerEntry[]
  private readonly user: string
  private readonly body: BodyLine[]
  /** body index of each entry's row. */
  private readonly rowLine: number[]
  private readonly rowTexts: string[]
  /** The widest row, so the highlight bar does not change length while moving. */
  private readonly rowWidth: number
  private width: number
  private height: number
  private selectedIndex = 0
  /** First body line on screen. */
  private top = 0
  private typed = ''
  private error: string | null = null
  /** Bytes of an escape sequence that has not fully arrived yet. */
  private pending = Buffer.alloc(0)

  constructor (entries: readonly PickerEntry[], options: PickerOptions) {
    this.entries = sortForDisplay(entries)
    this.user = options.user
    this.width = sizeOr(options.width, 80)
    this.height = sizeOr(options.height, 24)
    this.rowTexts = rowTexts(this.entries, { numbered: true })
    this.rowWidth = widest(this.rowTexts)
    this.body = []
    this.rowLine = []
    let index = 0
    for (const [project, group] of groupByProject(this.entries)) {
      if (this.body.length > 0) this.body.push({ kind: 'gap' })
      this.body.push({ kind: 'heading', project })
      for (let i = 0; i < group.length; i++, index++) {
        this.rowLine.push(this.body.length)
        this.body.push({ kind: 'row', index })
      }
    }
  }

  /** The highlighted entry (undefined when the list is empty). */
  get selected (): PickerEntry | undefined {
    return this.entries[this.selectedIndex]
  }

  /**
   * True when the last `key()` call ended inside a possible escape sequence (most often: the user pressed ESC alone).
   * If no more input arrives within ~50 ms, call `flush()`, which takes it as a lone ESC.
   */
  get pendingInput (): boolean {
    return this.pending.length > 0
  }

  resize (width: number, height: number): void {
    this.width = sizeOr(width, this.width)
    this.height = sizeOr(height, this.height)
    this.scrollToSelection()
  }

  /** Handles input from the client. Several keys may come in one buffer; the first that chooses or quits wins. */
  key (data: Buffer): PickerAction {
    if (this.entries.length === 0) {
      // The empty screen says "press any key to leave".
      return data.length > 0 ? { type: 'quit' } : { type: 'none' }
    }
    let input = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data
    this.pending = Buffer.alloc(0)
    let changed = false
    while (input.length > 0) {
      const next = readKey(input)
      if (next === null) {
        if (input.length <= MAX_PENDING_BYTES) this.pending = Buffer.from(input)
        break
      }
      input = input.subarray(next.length)
      const action = this.apply(next.key)
      if (action.type === 'choose' || action.type === 'quit') {
        this.pending = Buffer.alloc(0)
        return action
      }
      if (action.type === 'redraw') changed = true
    }
    return changed ? { type: 'redraw' } : { type: 'none' }
  }

  /** Takes input left pending by `key()` as a lone ESC (see `pendingInput`). */
  flush (): PickerAction {
    if (this.pending.length === 0) return { type: 'none' }
    this.pending = Buffer.alloc(0)
    if (this.entries.length === 0) return { type: 'quit' }
    return this.apply('escape')
  }

  /** The whole screen: clears it and draws every line, so it is also right after a resize or stray output. */
  render (): string {
    const lines = this.entries.length === 0 ? this.emptyLines() : this.listLines()
    return CLEAR_AND_HOME + lines.slice(0, this.height).join('\r\n')
  }

  private apply (key: Key): PickerAction {
    if (typeof key === 'object') return this.typeDigit(key.digit)
    switch (key) {
      case 'up': return this.select(this.selectedIndex - 1)
      case 'down': return this.select(this.selectedIndex + 1)
      case 'home': return this.select(0)
      case 'end': return this.select(this.entries.length - 1)
      case 'page-up': return this.select(this.selectedIndex - this.pageSize())
      case 'page-down': return this.select(this.selectedIndex + this.pageSize())
      case 'enter': return this.enter()
      case 'backspace': return this.backspace()
      case 'escape':
        // ESC first takes back a typed number or an error; on a clean footer it quits.
        if (this.typed === '' && this.error === null) return { type: 'quit' }
        this.typed = ''
        this.error = null
        return { type: 'redraw' }
      case 'quit': return { type: 'quit' }
      case 'redraw': return { type: 'redraw' }
      case 'ignored': return { type: 'none' }
    }
  }

  private select (index: number): PickerAction {
    const clamped = Math.max(0, Math.min(this.entries.length - 1, index))
    const changed = clamped !== this.selectedIndex || this.typed !== '' || this.error !== null
    this.selectedIndex = clamped
    this.typed = ''
    this.error = null
    this.scrollToSelection()
    return changed ? { type: 'redraw' } : { type: 'none' }
  }

  private typeDigit (digit: string): PickerAction {
    // After a wrong number Enter leaves `typed` empty, so a full `typed` never has an error to clear.
    if (this.typed.length >= MAX_TYPED_DIGITS) return { type: 'none' }
    this.error = null
    this.typed += digit
    this.selectTyped()
    return { type: 'redraw' }
  }

  private backspace (): PickerAction {
    if (this.typed === '' && this.error === null) return { type: 'none' }
    this.error = null
    this.typed = this.typed.slice(0, -1)
    this.selectTyped()
    return { type: 'redraw' }
  }

  /** While a number is typed, the row it names is highlighted, so Enter never surprises. */
  private selectTyped (): void {
    const index = Number(this.typed) - 1
    if (this.typed !== '' && index >= 0 && index < this.entries.length) {
      this.selectedIndex = index
      this.scrollToSelection()
    }
  }

  private enter (): PickerAction {
    if (this.typed === '') {
      const entry = this.entries[this.selectedIndex]
      return entry === undefined ? { type: 'none' } : { type: 'choose', entry }
    }
    const entry = this.entries[Number(this.typed) - 1]
    if (entry !== undefined) return { type: 'choose', entry }
    this.error = `There is no number ${this.typed}; type 1 to ${this.entries.length}.`
    this.typed = ''
    return { type: 'redraw' }
  }

  private bodyHeight (): number {
    return this.height > CHROME_LINES ? this.height - CHROME_LINES : Math.max(1, this.height - 1)
  }

  private pageSize (): number {
    return Math.max(1, this.bodyHeight() - 1)
  }

  /** Moves the window over the body so the selected row is on screen, with its project heading when there is room. */
  private scrollToSelection (): void {
    const height = this.bodyHeight()
    const line = this.rowLine[this.selectedIndex] ?? 0
    const above = this.body[line - 1]
    const wanted = above?.kind === 'heading' && height >= 2 ? line - 1 : line
    let top = this.top
    if (wanted < top) top = wanted
    if (line >= top + height) top = line - height + 1
    this.top = Math.max(0, Math.min(top, this.body.length - height))
  }

  private listLines (): string[] {
    const width = this.width
    const title = BOLD + fit(`portcullis — containers ${clean(this.user)} may enter`, width) + RESET
    const footer = this.footerLine()
    const height = this.bodyHeight()
    const visible = this.body.slice(this.top, this.top + height)
    const shown = visible.map((line) => this.bodyLineText(line))
    if (this.height <= CHROME_LINES) return [...shown, footer]

    const rowsAbove = this.rowLine.filter((line) => line < this.top).length
    const rowsBelow = this.rowLine.filter((line) => line >= this.top + height).length
    const above = rowsAbove > 0 ? DIM + fit(`  ↑ ${rowsAbove} more`, width) + RESET : ''
    const below = rowsBelow > 0 ? DIM + fit(`  ↓ ${rowsBelow} more`, width) + RESET : ''
    return [title, above, ...shown, below, footer]
  }

  private bodyLineText (line: BodyLine): string {
    if (line.kind === 'gap') return ''
    if (line.kind === 'heading') return BOLD + fit(clean(line.project), this.width) + RESET
    const text = fit(this.rowTexts[line.index] ?? '', this.width)
    if (line.index !== this.selectedIndex) return text
    const barWidth = Math.min(this.width, this.rowWidth)
    return REVERSE + text + ' '.repeat(Math.max(0, barWidth - Array.from(text).length)) + RESET
  }

  /** Last on screen, so the cursor rests after a typed number. */
  private footerLine (): string {
    if (this.error !== null) return BOLD + RED + fit(`${this.error} ${HINT}`, this.width) + RESET
    if (this.typed !== '') return fit(`Number: ${this.typed}  (Enter to open, Backspace to edit, Esc to clear)`, this.width)
    return fit(HINT, this.width)
  }

  private emptyLines (): string[] {
    const lines = [
      BOLD + fit(`portcullis — containers ${clean(this.user)} may enter`, this.width) + RESET,
      '',
      ...wrap(`${clean(this.user)} may not enter any running container.`, this.width),
      '',
      ...wrap(emptyListReason(), this.width),
      '',
      fit('Press any key to leave.', this.width)
    ]
    return lines
  }
}

/** The list printed when there is no pty to draw the picker on (`ssh -T alice@host`, or a command with no container). */
export function formatContainerList (entries: readonly PickerEntry[], user: string, options: ContainerListOptions): string {
  const name = clean(user)
  if (entries.length === 0) return `${name} may not enter any running container.\n${emptyListReason()}\n`

  const sorted = sortForDisplay(entries)
  const rows = rowTexts(sorted, { numbered: false })
  const lines = [`Containers ${name} may enter:`]
  let row = 0
  for (const [project, group] of groupByProject(sorted)) {
    lines.push('', clean(project))
    for (let i = 0; i < group.length; i++) lines.push(rows[row++] ?? '')
  }
  const port = options.port === 22 ? '' : `-p ${options.port} `
  lines.push('', `Open one with: ssh ${port}${name}+<container>@${clean(options.host)}`)
  return lines.join('\n') + '\n'
}

function emptyListReason (): string {
  return 'The bridge lists the running containers of projects where the policy gives you a role that may exec ' +
    '(projects.<name>.members or global.members). None qualifies right now: start a container labelled ' +
    `${PROJECT_LABEL}=<project>, or ask a policy admin for a role.`
}

// Natural order, so web-2 comes before web-10.
const collator = new Intl.Collator('en', { numeric: true })

function sortForDisplay (entries: readonly PickerEntry[]): PickerEntry[] {
  return [...entries].sort((a, b) =>
    collator.compare(a.project, b.project) || collator.compare(a.name, b.name) || collator.compare(a.id, b.id))
}

/** Groups entries already sorted by project, keeping their order. */
function groupByProject (entries: readonly PickerEntry[]): Map<string, PickerEntry[]> {
  const groups = new Map<string, PickerEntry[]>()
  for (const entry of entries) {
    const group = groups.get(entry.project)
    if (group === undefined) groups.set(entry.project, [entry])
    else group.push(entry)
  }
  return groups
}

/** `  3) web-1   busybox:portcullis   Up 5 minutes`, columns aligned over all entries. */
function rowTexts (entries: readonly PickerEntry[], { numbered }: { numbered: boolean }): string[] {
  const names = entries.map((entry) => clean(entry.name))
  const images = entries.map((entry) => clean(entry.image))
  const nameWidth = widest(names)
  const imageWidth = widest(images)
  const numberWidth = String(entries.length).length
  return entries.map((entry, i) => {
    const number = numbered ? `${String(i + 1).padStart(numberWidth)}) ` : ''
    const columns = [padEnd(names[i] ?? '', nameWidth), padEnd(images[i] ?? '', imageWidth), clean(entry.status)]
    return `  ${number}${columns.join(COLUMN_GAP)}`.trimEnd()
  })
}

/**
 * Control characters would let a container's status or a label write escape sequences to the user's terminal.
 * Widths below count code points: names and statuses from Docker are ASCII, so wide characters are not handled.
 */
function clean (text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')
}

function widest (texts: string[]): number {
  return texts.reduce((max, text) => Math.max(max, Array.from(text).length), 0)
}

function padEnd (text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - Array.from(text).length))
}

/** Cuts `text` to `width` columns, marking the cut with an ellipsis. */
function fit (text: string, width: number): string {
  const chars = Array.from(text)
  if (chars.length <= width) return text
  if (width <= 0) return ''
  return chars.slice(0, width - 1).join('') + '…'
}

/** Word-wraps a paragraph to `width`; a word longer than a line is cut. */
function wrap (text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    const candidate = line === '' ? word : `${line} ${word}`
    if (Array.from(candidate).length <= width || line === '') {
      line = candidate
    } else {
      lines.push(fit(line, width))
      line = word
    }
  }
  if (line !== '') lines.push(fit(line, width))
  return lines
}

/** Terminals that do not know their size report 0; keep the last known one then. */
function sizeOr (value: number, fallback: number): number {
  return Number.isInteger(value) && value > 0 ? value : fallback
}

/** The first key in `input` and how many bytes it took, or null when `input` ends inside an escape sequence. */
function readKey (input: Buffer): { key: Key, length: number } | null {
  const byte = input[0]
  switch (byte) {
    case undefined: return null
    case 0x1b: return readEscape(input)
    case 0x0d: case 0x0a: return { key: 'enter', length: 1 }
    case 0x7f: case 0x08: return { key: 'backspace', length: 1 }
    case 0x03: case 0x04: return { key: 'quit', length: 1 } // Ctrl-C, Ctrl-D
    case 0x0c: return { key: 'redraw', length: 1 } // Ctrl-L
    case 0x10: return { key: 'up', length: 1 } // Ctrl-P
    case 0x0e: return { key: 'down', length: 1 } // Ctrl-N
  }
  const char = String.fromCharCode(byte)
  if (char >= '0' && char <= '9') return { key: { digit: char }, length: 1 }
  const letters: Record<string, Key> = { k: 'up', j: 'down', g: 'home', G: 'end', q: 'quit', Q: 'quit' }
  return { key: letters[char] ?? 'ignored', length: 1 }
}

function readEscape (input: Buffer): { key: Key, length: number } | null {
  const introducer = input[1]
  if (introducer === undefined) return null
  if (introducer === 0x4f) { // ESC O x: the "application cursor" keys some terminals send
    const final = input[2]
    if (final === undefined) return null
    return { key: ss3Keys[String.fromCharCode(final)] ?? 'ignored', length: 3 }
  }
  if (introducer !== 0x5b) return { key: 'escape', length: 1 } // ESC then another key: a lone ESC (or Alt+key)

  // ESC [ parameters intermediates final: parameter bytes 0x30-0x3f, intermediates 0x20-0x2f, final 0x40-0x7e.
  let end = 2
  while (end < input.length && (input[end] ?? 0) >= 0x20 && (input[end] ?? 0) <= 0x3f) end++
  const final = input[end]
  if (final === undefined) return null
  if (final < 0x40 || final > 0x7e) return { key: 'ignored', length: end } // malformed: drop it, keep the next byte
  const params = input.subarray(2, end).toString('latin1')
  return { key: csiKey(params, String.fromCharCode(final)), length: end + 1 }
}

const ss3Keys: Record<string, Key> = { A: 'up', B: 'down', H: 'home', F: 'end' }

function csiKey (params: string, final: string): Key {
  if (final === '~') {
    // ESC [ n ~ (and ESC [ n ; modifier ~): vt220-style editing keys.
    const tildeKeys: Record<string, Key> = { 1: 'home', 7: 'home', 4: 'end', 8: 'end', 5: 'page-up', 6: 'page-down' }
    return tildeKeys[params.split(';')[0] ?? ''] ?? 'ignored'
  }
  // Modifiers (ESC [ 1 ; 5 A for Ctrl+Up) do not change what the key means here.
  return ss3Keys[final] ?? 'ignored'
}
