// `portcullis config`: where the CLI will look for the daemon, and why: each remembered location's value and the
// place it came from (flag > environment > profile > default). Reads nothing but the environment and the profile.

import { terminalSafeJson } from '../audit/terminal-text.js'
import { defineCommand } from './command.js'
import { LOCATIONS, LocationResolver, type LocationOption } from './locations.js'
import { OUTPUT_OPTION, outputHelp, wantsJson } from './output.js'
import { profilePath } from './profile.js'

export const configCommand = defineCommand({
  name: 'config',
  summary: 'Show where the CLI finds the daemon (admin socket, elevation API URL, docker CLI config, token file) and where each value comes from: a flag, an environment variable, the profile file, or the default.',
  usage: 'config [-o table|json]',
  options: { ...OUTPUT_OPTION },
  help: { ...outputHelp('the profile and each location with its source') },
  remembers: [],
  async run (values) {
    const resolver = new LocationResolver()
    const profile = resolver.loaded()
    const rows = (Object.keys(LOCATIONS) as LocationOption[]).map((name) => ({ option: `--${name}`, env: `$${LOCATIONS[name].env}`, profileKey: LOCATIONS[name].profileKey, ...resolver.resolveWithDefault(name, undefined) }))
    if (wantsJson(values, 'config')) {
      process.stdout.write(terminalSafeJson(JSON.stringify({ profile: { path: profile.path, found: profile.found }, locations: rows }, null, 2)) + '\n')
      return 0
    }
    const lines = [`Profile: ${profile.path}${profile.found ? '' : ' (none; set $PORTCULLIS_PROFILE or create it)'}`, '']
    const width = Math.max(...rows.map((r) => r.option.length)) + 2
    for (const row of rows) lines.push(`${row.option.padEnd(width)}${row.value ?? '(none)'}  (${row.source === 'unset' ? 'not set' : `from ${row.source}`})`)
    lines.push('', `A flag wins, then the environment variable, then the profile key, then the default. Profile keys: ${rows.map((r) => r.profileKey).join(', ')} (${profilePath()}).`)
    process.stdout.write(terminalSafeJson(lines.join('\n')) + '\n')
    return 0
  }
})
