// What `audit replay` lets through to the auditor's terminal. A recording is what a user's programs printed, so it
// can hold sequences that act on the terminal beyond its screen: set the clipboard (OSC 52) or the window title,
// make the terminal answer a query into its own input (device attributes, cursor position, window reports,
// ENQ), switch on mouse reporting, or run device control strings. The filter keeps what draws the screen (text,
// colours and attributes, cursor movement, erasing, scroll regions, the alternate screen) and drops the rest,
// counting what it dropped. It is a state machine fed in pieces, since a sequence may be split between events.

export type RemovedKind = 'clipboard' | 'title' | 'osc' | 'string' | 'query' | 'mode' | 'control' | 'other'

const REMOVED_TEXT: Record<RemovedKind, string> = {
  clipboard: 'clipboard write (OSC 52)',
  title: 'window or icon title (OSC 0/1/2)',
  osc: 'other operating system command (OSC)',
  string: 'device control, APC, PM or SOS string',
  query: 'query the terminal would answer into its input',
  mode: 'mouse, focus or other terminal mode',
  control: 'control character',
  other: 'other sequence'
}

// CSI finals that only move the cursor, edit or scroll the screen, or set attributes (no intermediates).
const SCREEN_FINALS = new Set('@ABCDEFGHIJKLMPSTXZ`abdefgmrsu')
// DEC private modes that only change how the screen is drawn: cursor keys, reverse video, origin, autowrap,
// cursor blink and visibility, the alternate screen, bracketed paste.
const SCREEN_PRIVATE_MODES = new Set(['1', '5', '6', '7', '12', '25', '47', '1047', '1048', '1049', '2004'])
// ANSI modes: insert/replace and new-line mode.
const SCREEN_ANSI_MODES = new Set(['4', '20'])
const ALT_SCREEN_MODES = new Set(['47', '1047', '1049'])

const MAX_CSI = 64
const MAX_OSC_PREFIX = 8

type State =
  | { name: 'ground' }
  | { name: 'escape' }
  | { name: 'escape-intermediate', text: string }
  | { name: 'csi', text: string }
  | { name: 'csi-skip' }
  | { name: 'string', kind: 'osc' | 'other', prefix: string, escape: boolean }

export class ReplayFilter {
  #state: State = { name: 'ground' }
  #removed = new Map<RemovedKind, number>()
  #altScreen = false
  /** A scroll region or origin mode passed through: finish() resets them. */
  #margins = false

  /** The part of `text` that is safe to show; whatever is cut at the end is kept for the next piece. */
  write (text: string): string {
    let out = ''
    for (const char of text) out += this.#step(char)
    return out
  }

  /** What to write once the recording ends: attributes reset, the cursor shown, the main screen back, and what the
   * recording may have changed that outlasts it undone (the replay's summary and the auditor's shell follow on
   * this terminal): character sets and shift state, insert mode, application cursor keys, bracketed paste,
   * autowrap, and a scroll region or origin mode (resetting those homes the cursor, so it goes to the bottom). */
  finish (): string {
    this.#state = { name: 'ground' }
    return '\x1b[0m\x1b[?25h' + (this.#altScreen ? '\x1b[?1049l' : '') +
      '\x0f\x1b(B\x1b)B\x1b[4l\x1b[?1l\x1b[?2004l\x1b[?7h' +
      (this.#margins ? '\x1b[r\x1b[?6l\x1b[999;1H' : '')
  }

  /** What was dropped, by kind, most frequent first. */
  removed (): Array<{ kind: RemovedKind, count: number, text: string }> {
    return [...this.#removed].sort((a, b) => b[1] - a[1]).map(([kind, count]) => ({ kind, count, text: REMOVED_TEXT[kind] }))
  }

  #drop (kind: RemovedKind): string {
    this.#removed.set(kind, (this.#removed.get(kind) ?? 0) + 1)
    this.#state = { name: 'ground' }
    return ''
  }

  #step (char: string): string {
    const code = char.codePointAt(0)!
    const state = this.#state
    switch (state.name) {
      case 'ground': return this.#ground(char, code)
      case 'escape': return this.#escape(char, code)
      case 'escape-intermediate':
        if (code >= 0x20 && code <= 0x2f && state.text.length < 4) {
          state.text += char
          return ''
        }
        this.#state = { name: 'ground' }
        // ESC ( 0, ESC # 8 and the like: character sets and screen alignment.
        if (code >= 0x30 && code <= 0x7e) return '\x1b' + state.text + char
        return this.#drop('other') + this.#ground(char, code)
      case 'csi': return this.#csi(state, char, code)
      case 'csi-skip':
        // The rest of a sequence too long to be one that draws.
        if (code >= 0x20 && code <= 0x3f) return ''
        this.#state = { name: 'ground' }
        return code >= 0x40 && code <= 0x7e ? '' : this.#ground(char, code)
      case 'string': return this.#string(state, char, code)
    }
  }

  #ground (char: string, code: number): string {
    if (code === 0x1b) {
      this.#state = { name: 'escape' }
      return ''
    }
    if (code < 0x20) {
      // Backspace, tab, line feed, vertical tab, form feed, carriage return, bell, shift out/in draw; ENQ would
      // make the terminal type its answerback, and the others mean nothing on a screen.
      if (code === 0x05) return this.#drop('query')
      return (code >= 0x07 && code <= 0x0f) ? char : this.#drop('control')
    }
    if (code === 0x7f) return this.#drop('control')
    if (code >= 0x80 && code <= 0x9f) return this.#c1(code)
    return char
  }

  /** The 8-bit forms, which some terminals obey in UTF-8 too. */
  #c1 (code: number): string {
    if (code === 0x9b) {
      this.#state = { name: 'csi', text: '' }
      return ''
    }
    if (code === 0x9d) {
      this.#state = { name: 'string', kind: 'osc', prefix: '', escape: false }
      return ''
    }
    if (code === 0x90 || code === 0x98 || code === 0x9e || code === 0x9f) {
      this.#state = { name: 'string', kind: 'other', prefix: '', escape: false }
      return ''
    }
    return this.#drop('control')
  }

  #escape (char: string, code: number): string {
    if (char === '[') {
      this.#state = { name: 'csi', text: '' }
      return ''
    }
    if (char === ']') {
      this.#state = { name: 'string', kind: 'osc', prefix: '', escape: false }
      return ''
    }
    // DCS, SOS, PM, APC, and screen's title string (ESC k … ST).
    if ('PX^_k'.includes(char)) {
      this.#state = { name: 'string', kind: char === 'k' ? 'osc' : 'other', prefix: char === 'k' ? '2;' : '', escape: false }
      return ''
    }
    if (code >= 0x20 && code <= 0x2f) {
      this.#state = { name: 'escape-intermediate', text: char }
      return ''
    }
    if (char === 'Z') return this.#drop('query') // DECID: the terminal answers with its attributes
    if (code === 0x1b) return ''
    if (char === '\\') { // a string terminator with no string: nothing to do
      this.#state = { name: 'ground' }
      return ''
    }
    this.#state = { name: 'ground' }
    if (code >= 0x30 && code <= 0x7e) return '\x1b' + char // save/restore cursor, index, keypad modes, reset...
    return this.#drop('other') + this.#ground(char, code)
  }

  #csi (state: { name: 'csi', text: string }, char: string, code: number): string {
    if (code >= 0x40 && code <= 0x7e) {
      this.#state = { name: 'ground' }
      return this.#judgeCsi(state.text, char)
    }
    if (code >= 0x20 && code <= 0x3f) {
      state.text += char
      if (state.text.length <= MAX_CSI) return ''
      this.#drop('other')
      this.#state = { name: 'csi-skip' }
      return ''
    }
    if (code === 0x1b) {
      this.#drop('other')
      this.#state = { name: 'escape' }
      return ''
    }
    if (code === 0x18 || code === 0x1a) return this.#drop('other') // CAN, SUB cancel a sequence
    // A terminal obeys the drawing C0 controls inside a sequence; the others are ignored there.
    if (code < 0x20) return code >= 0x07 && code <= 0x0f ? char : ''
    return this.#drop('other') + this.#ground(char, code)
  }

  #judgeCsi (body: string, final: string): string {
    const sequence = '\x1b[' + body + final
    if (/^[0-9;:]*$/.test(body)) {
      if (final === 'r') this.#margins = true
      if (SCREEN_FINALS.has(final)) return sequence
      if (final === 'h' || final === 'l') return this.#modes(body.split(';'), SCREEN_ANSI_MODES, sequence, false)
      // DA, DSR/CPR, window reports and moves, DECREQTPARM, media copy: the terminal answers or acts beyond the screen.
      return this.#drop('cnx t i'.includes(final) ? 'query' : 'other')
    }
    if (/^\?[0-9;]*$/.test(body) && (final === 'h' || final === 'l')) {
      return this.#modes(body.slice(1).split(';'), SCREEN_PRIVATE_MODES, sequence, final === 'h')
    }
    if (/^[0-9]* $/.test(body) && final === 'q') return sequence // DECSCUSR: the cursor's shape
    if (body === '!' && final === 'p') return sequence // DECSTR: soft reset
    if (/^[?>=]/.test(body) && (final === 'c' || final === 'n' || final === 'p' || final === 'q')) return this.#drop('query')
    if (body.endsWith('$') && final === 'p') return this.#drop('query') // DECRQM
    return this.#drop('other')
  }

  #modes (modes: string[], allowed: ReadonlySet<string>, sequence: string, set: boolean): string {
    if (!modes.every((mode) => allowed.has(mode))) return this.#drop('mode')
    if (modes.some((mode) => ALT_SCREEN_MODES.has(mode))) this.#altScreen = set
    if (set && modes.includes('6')) this.#margins = true
    return sequence
  }

  #string (state: { name: 'string', kind: 'osc' | 'other', prefix: string, escape: boolean }, char: string, code: number): string {
    if (state.escape) {
      // ST is ESC \; any other ESC ends the string too and starts a new sequence.
      this.#endString(state)
      if (char === '\\') return ''
      this.#state = { name: 'escape' }
      return this.#escape(char, code)
    }
    if (code === 0x1b) {
      state.escape = true
      return ''
    }
    if (code === 0x9c || (code === 0x07 && state.kind === 'osc')) {
      this.#endString(state)
      return ''
    }
    if (code === 0x18 || code === 0x1a) {
      this.#endString(state)
      return ''
    }
    if (state.kind === 'osc' && state.prefix.length < MAX_OSC_PREFIX) state.prefix += char
    return ''
  }

  #endString (state: { kind: 'osc' | 'other', prefix: string }): void {
    if (state.kind === 'other') this.#drop('string')
    else if (/^52;/.test(state.prefix)) this.#drop('clipboard')
    else if (/^[012];/.test(state.prefix)) this.#drop('title')
    else this.#drop('osc')
  }
}

/** A sentence for the end of a replay, or null when nothing was dropped. */
export function removedSummary (removed: ReturnType<ReplayFilter['removed']>): string | null {
  if (removed.length === 0) return null
  return `removed from what was shown: ${removed.map((r) => `${r.count} ${r.text}`).join(', ')}; \`--raw\` plays the recording as it was`
}
