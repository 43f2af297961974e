// The detach keys every bridge exec is created with (ExecConfig.DetachKeys).
import { randomInt } from 'node:crypto'

/**
 * A detach sequence nobody types by accident and nobody can know: Docker cannot turn detaching off, and with its
 * default (Ctrl-P Ctrl-Q) those keys would never reach the program. Docker holds back a key that could begin the
 * sequence until the next one arrives, so it begins with NUL (Ctrl-@), the key least likely to be typed alone.
 */
export function unguessableDetachKeys (): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz'
  return ['ctrl-@', ...Array.from({ length: 15 }, () => `ctrl-${letters[randomInt(letters.length)]!}`)].join(',')
}
