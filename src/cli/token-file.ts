// A token kept in a file (--token-file, $PORTCULLIS_TOKEN_FILE, the profile's tokenFile): its one line, trimmed.
import { readFileSync } from 'node:fs'
import { PortcullisError } from '../errors.js'

export function readTokenFile (path: string): string {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_INPUT', path, (err as Error).message)
  }
}
