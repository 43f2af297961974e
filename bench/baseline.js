// `--baseline REF`: an earlier commit built into a temp git worktree, so that a change's cost is measured
// against the code before it in the same run, window by window in turns (this machine is too noisy for
// figures from two runs to be compared).

import { execFileSync } from 'node:child_process'
import { existsSync, rmSync, symlinkSync } from 'node:fs'
import path from 'node:path'
import { REPO_ROOT } from './portcullis.js'

/**
 * Builds `ref` under `dir` and resolves with its cli.js, its own examples/policy.json (an older build refuses
 * policy fields added since) and a function that removes the worktree.
 */
export function buildBaseline (ref, dir, progress) {
  const git = (...args) => execFileSync('git', ['-C', REPO_ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
  const commit = git('rev-parse', '--short', `${ref}^{commit}`)
  const tree = path.join(dir, `baseline-${commit}`)
  progress(`building the baseline ${ref} (${commit}) in ${tree}`)
  git('worktree', 'add', '--detach', tree, commit)
  const remove = () => {
    try {
      git('worktree', 'remove', '--force', tree)
    } catch {
      rmSync(tree, { recursive: true, force: true })
      try { git('worktree', 'prune') } catch { /* nothing to prune */ }
    }
  }
  try {
    // Same dependencies as the checkout under test: only the code differs.
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(tree, 'node_modules'))
    execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(tree, 'tsconfig.json')], { stdio: ['ignore', 'ignore', 'inherit'] })
    const cli = path.join(tree, 'dist', 'cli.js')
    if (!existsSync(cli)) throw new Error(`the baseline build wrote no ${cli}`)
    return { cli, commit, remove, policyFile: path.join(tree, 'examples', 'policy.json') }
  } catch (err) {
    remove()
    throw err
  }
}
