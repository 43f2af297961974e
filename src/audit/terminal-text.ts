// What portcullis prints for people to read on a terminal. Audit records hold strings users chose (an SSH login
// name, a container name, a command, a reason); printed raw, an escape sequence in one of them would set the
// reader's clipboard or window title, or make the terminal type, and a newline would forge a line. So every
// control and format character is shown as its escape, visibly: `\x1b`, `\x0a`, `\u202e`.

// Cc (C0, DEL, C1), Cf (bidi overrides and isolates, zero-width and other format characters), and the line and
// paragraph separators (Zl, Zp), which some terminals and viewers break lines on.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu
const INVISIBLE_EXCEPT_NEWLINE = /(?![\n])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu
// What JSON.stringify leaves as it is and a terminal may still act on (or reorder): DEL, C1 and the rest of Cf,
// Zl, Zp. C0 is already \u-escaped by JSON.stringify.
const JSON_UNSAFE = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/gu

function escapeOf (char: string): string {
  const code = char.codePointAt(0)!
  if (code < 0x100) return `\\x${code.toString(16).padStart(2, '0')}`
  return code <= 0xffff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\u{${code.toString(16)}}`
}

/** `text` with every control and format character shown as `\xNN` or `\uNNNN`: one line, nothing hidden. */
export function visible (text: string): string {
  return text.replace(INVISIBLE, escapeOf)
}

/** Like visible(), but keeps newlines: for messages whose lines are meant (the text around a user's string is
 * ours; the user's string itself should go through visible() first). */
export function visibleLines (text: string): string {
  return text.replace(INVISIBLE_EXCEPT_NEWLINE, escapeOf)
}

/**
 * JSON text made safe for a terminal without changing what it means: the characters JSON.stringify leaves raw
 * that a terminal may act on become `\uNNNN` escapes, which every JSON parser reads back as the same string.
 */
export function terminalSafeJson (json: string): string {
  // Per UTF-16 unit, so a character beyond the BMP becomes its surrogate pair, as JSON spells it.
  return json.replace(JSON_UNSAFE, (char) => [...Array(char.length).keys()].map((i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''))
}
