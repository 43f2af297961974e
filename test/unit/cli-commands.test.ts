// The CLI's command table names each command where it is loaded only when it runs: every name loads the command of
// that name, and no name is listed twice.
import { describe, expect, it } from 'vitest'
import { COMMANDS } from '../../src/cli/commands.js'

describe('the CLI command table', () => {
  it('loads, for each name, the command of that name', { timeout: 60_000 }, async () => {
    for (const entry of COMMANDS) expect((await entry.load()).name).toBe(entry.name)
  })

  it('lists each name once', () => {
    const names = COMMANDS.map((entry) => entry.name)
    expect(new Set(names).size).toBe(names.length)
  })
})
