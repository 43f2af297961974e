// A temp dir for tests that start `portcullis serve` on stores of their own without a dockerd: the example policy,
// a token key, a directory per case, and serve run to its end (a start that fails must end by itself).
import { mkdirSync, readFileSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, expect } from 'vitest'
import { portcullisCliOk, REPO_ROOT, removeDirSync, runPortcullisCli, type CliResult } from './index.js'

export interface ServeWorkspace {
  /** Set once beforeAll has run. */
  readonly root: string
  readonly keysDir: string
  readonly policyFile: string
  /** A directory for one case, and the store's path in it (not made). */
  pathsIn: (name: string) => { dir: string, data: string }
  /** Runs serve on `data` until it exits by itself (at most 60 s). */
  serveUntilExit: (dir: string, data: string, extra?: string[]) => Promise<CliResult>
}

/** Registers the workspace's beforeAll and afterAll in the calling test file. */
export function serveWorkspace (prefix: string): ServeWorkspace {
  const examplePolicy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8'))
  const workspace = {
    root: '',
    keysDir: '',
    policyFile: '',
    pathsIn (name: string) {
      const dir = path.join(workspace.root, name)
      mkdirSync(dir, { recursive: true })
      return { dir, data: path.join(dir, 'data') }
    },
    async serveUntilExit (dir: string, data: string, extra: string[] = []) {
      const result = await runPortcullisCli([
        'serve', '--config', workspace.policyFile, '--socket', path.join(dir, 'plugin.sock'), '--admin-socket', path.join(dir, 'run', 'admin.sock'),
        '--data', data, '--keys', workspace.keysDir, '--docker-host', `unix://${path.join(dir, 'no-dockerd.sock')}`, '--elevation-listen', 'off', '--log-level', 'warn', ...extra
      ], { timeoutMs: 60_000 })
      expect(result.code, `serve did not exit by itself:\n${result.stderr}`).not.toBeNull()
      return result
    }
  }
  beforeAll(async () => {
    workspace.root = await mkdtemp(path.join(os.tmpdir(), prefix))
    workspace.keysDir = path.join(workspace.root, 'keys')
    workspace.policyFile = path.join(workspace.root, 'policy.json')
    await writeFile(workspace.policyFile, JSON.stringify(examplePolicy))
    await portcullisCliOk(['keys', 'init', '--keys', workspace.keysDir])
  })
  afterAll(() => {
    if (workspace.root !== '') removeDirSync(workspace.root)
  })
  return workspace
}

/** Exit status 2 with `code` on stderr, never an "unexpected error". */
export function expectFailedWith (result: CliResult, code: string): void {
  expect(result.code, result.stderr).toBe(2)
  expect(result.stderr).toContain(`[${code}]`)
  expect(result.stderr).not.toContain('unexpected error')
}
