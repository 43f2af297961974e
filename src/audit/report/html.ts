// Escaping for the report. Everything in a record (user names, container names, URIs, commands, reasons) came
// from callers and must be shown, never run.

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text safe in an element's content and in a quoted attribute. */
export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)
}

/**
 * A value as JSON that can sit inside `<script type="application/json">`: every `<` is written `\u003c`, so
 * neither `</script>` nor `<!--` can appear, and JSON.parse gives back the same value. U+2028 and U+2029 are
 * escaped too, for anyone who pastes it into JavaScript.
 */
export function jsonForScript (value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')
}

/** Third-party script or style text to inline: a closing tag inside it would end the element early. In the
 * places such text can hold one (strings, comments, regular expressions), `<\/` means the same as `</`. */
export function inlineable (text: string, tag: 'script' | 'style'): string {
  return text.replace(new RegExp(`</(${tag})`, 'gi'), '<\\/$1').replace(/<!--/g, '<\\!--')
}
