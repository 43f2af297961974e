// The `docker …` command lines portcullis quotes in its messages (what a refusal covers, what to run instead) are
// ones the real docker CLI accepts: the subcommand exists and the flags are its flags. Each is run with --help
// appended against the pinned Debian docker CLI (helpers/docker-cli.ts), which parses the flags first and needs no daemon.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/index.js'

function sources (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** The quoted `docker …` lines in src/; a template chooses among these subcommands. */
function hints (): string[] {
  const src = new URL('../../src', import.meta.url).pathname
  const found = new Set<string>()
  for (const file of sources(src)) {
    for (const match of readFileSync(file, 'utf8').matchAll(/`(docker [^`]*?)\\?`/g)) {
      const line = match[1]!
      // `docker ${…} prune`: each prune the message can name.
      if (line.includes('${')) {
        if (/^docker \$\{[^}]*\} prune$/.test(line)) for (const kind of ['container', 'image', 'volume', 'network']) found.add(`docker ${kind} prune`)
        continue
      }
      found.add(line)
    }
  }
  return [...found]
}

describe('every `docker …` hint in src/ is a command the docker CLI accepts', () => {
  const lines = hints()

  it('finds the hints', () => {
    expect(lines).toEqual(expect.arrayContaining(['docker exec -it', 'docker run', 'docker container prune']))
  })

  it.each(lines)('%s', async (line) => {
    const words = line.split(/\s+/).slice(1).filter((w) => w !== '…')
    let result = await runCli([...words, '--help'], {})
    // A flag named in prose without its value (`--subnet`, `--filter …`): it must exist; give it one.
    if (result.code !== 0 && words.at(-1)?.startsWith('--') === true) result = await runCli([...words, 'name=value', '--help'], {})
    expect(result.code, result.stderr).toBe(0)
    // The subcommand's own help: an unknown subcommand prints the top-level usage instead.
    const subcommand = words.filter((w) => /^[a-z]+$/.test(w)).slice(0, line.startsWith('docker network') || line.startsWith('docker volume') || / prune$/.test(line) ? 2 : 1).join(' ')
    expect(result.stdout).toContain(`Usage:  docker ${subcommand}`)
  })
})
