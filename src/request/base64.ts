// Whether a forwarded body is base64 exactly as Go's encoding/json writes a []byte: the standard alphabet, padded,
// nothing else (no whitespace, no URL-safe letters). The same rule as
// /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, in one pass over a table instead of a regex.

const ALPHABET = new Uint8Array(128)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') ALPHABET[c.charCodeAt(0)] = 1

const PAD = 0x3d // '='

export function isStrictBase64 (text: string): boolean {
  const length = text.length
  if (length % 4 !== 0) return false
  let end = length
  if (length > 0 && text.charCodeAt(length - 1) === PAD) end = text.charCodeAt(length - 2) === PAD ? length - 2 : length - 1
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i)
    if (c >= 128 || ALPHABET[c] === 0) return false
  }
  return true
}
