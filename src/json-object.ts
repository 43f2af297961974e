// Reading back what portcullis stored as JSON: one answer for "not JSON" and "not an object", so each reader
// only checks its own fields.

/** The JSON object in `text`, or null when `text` is not JSON or not an object (arrays included). */
export function parseJsonObject (text: string): Record<string, unknown> | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : null
}
