// The asciinema-player (npm `asciinema-player`, v3) that report.html inlines, so recordings play in the page
// with no network: its self-contained bundle (the terminal emulator is WebAssembly embedded in the script) and
// its stylesheet.

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { AuditError, messageOf } from '../errors.js'

export interface PlayerAssets {
  version: string
  script: string
  style: string
}

// The package's `exports` name these two files, so resolving them works wherever npm put the package.
const SCRIPT = 'asciinema-player/dist/bundle/asciinema-player.min.js'
const STYLE = 'asciinema-player/dist/bundle/asciinema-player.css'

let cached: PlayerAssets | null = null

/** Read once per process; throws PORTCULLIS_AUDIT_REPORT_ASSETS when the package is not installed. */
export function playerAssets (): PlayerAssets {
  if (cached !== null) return cached
  const require = createRequire(import.meta.url)
  try {
    const scriptPath = require.resolve(SCRIPT)
    const style = readFileSync(require.resolve(STYLE), 'utf8')
    const version = /"version"\s*:\s*"([^"]+)"/.exec(readFileSync(scriptPath.replace(/dist[\\/]bundle[\\/][^\\/]+$/, 'package.json'), 'utf8'))?.[1] ?? 'unknown'
    cached = { version, script: readFileSync(scriptPath, 'utf8'), style: withoutComments(style) }
  } catch (err) {
    throw new AuditError('PORTCULLIS_AUDIT_REPORT_ASSETS', [messageOf(err)], { cause: err })
  }
  return cached
}

/** The stylesheet's comments only credit colour themes, with links; a page that must not reach the network should
 * not even show addresses to follow. */
function withoutComments (css: string): string {
  return css.replace(/\/\*[\s\S]*?\*\//g, '')
}
