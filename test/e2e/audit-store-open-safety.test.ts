// `serve` keeps the audit store private and never makes a new store over an old one (issue 12, items 1 and 4).
// Started under umask 022, every file of the store is still 0600 in a 0700 directory, so a local user without
// privileges can read neither the write-ahead log (what bridge users typed ends up there) nor the store through
// `audit export --data`. A store that lost its CURRENT file, or a directory that is not a store, stops `serve` with
// a code that names the files, and nothing in the directory is deleted.
import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { postAuthzReq } from '../helpers/authz-request.js'
import { PORTCULLIS_CLI, portcullisCliOk, runPortcullisCli, type CliResult } from '../helpers/index.js'
import { serveWorkspace, type ServePaths, type StartedServe } from '../helpers/serve-workspace.js'

const NOBODY = 65534
const SECRET = 'hunter2-typed-secret'

const workspace = serveWorkspace('portcullis-open-safety-')
const { serveUntilExit } = workspace

beforeAll(() => {
  // Only the store's own modes may keep other users out: the directories above it are open to them.
  chmodSync(workspace.root, 0o755)
})

/** A case's directory, open to other users like the workspace above it. */
function caseIn (name: string): ServePaths {
  const paths = workspace.pathsIn(name)
  chmodSync(paths.dir, 0o755)
  return paths
}

/** `serve` started from a shell with umask 022, as from a login shell; resolves once the plugin socket appears. */
async function startServe (name: string): Promise<StartedServe> {
  const { dir, data } = caseIn(name)
  return await workspace.startServe(dir, data, { umask: '022' })
}

/** Runs a command as a user without privileges (nobody, no groups). */
function asNobody (command: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('close', (code) => resolve({ code, stdout, stderr } as CliResult))
  })
}

const mode = (file: string): string => (statSync(file).mode & 0o777).toString(8)

describe('the store is private whatever the umask serve starts under', () => {
  it('under umask 022 the data directory is 0700 and every file 0600, and another user reads neither the WAL nor the store', { timeout: 120_000 }, async () => {
    const { data } = caseIn('private')
    const serve = await startServe('private')
    try {
      for (let i = 0; i < 20; i++) expect(await postAuthzReq(serve.socket, `/v1.41/containers/json?password=${SECRET}&n=${i}`)).not.toBeNull()
      const files = readdirSync(data)
      expect(mode(data)).toBe('700')
      expect(files.filter((name) => mode(path.join(data, name)) !== '600').map((name) => `${name} ${mode(path.join(data, name))}`)).toEqual([])
      const wal = files.filter((name) => name.endsWith('.log'))
      expect(wal.length).toBeGreaterThan(0)
      // The secret is there to be read...
      expect(wal.some((name) => readFileSync(path.join(data, name), 'latin1').includes(SECRET))).toBe(true)
      // ...but not by another user.
      for (const name of files) {
        const read = await asNobody('cat', [path.join(data, name)])
        expect(read.code, `nobody read ${name}`).not.toBe(0)
        expect(read.stderr).toMatch(/Permission denied/)
        expect(read.stdout).not.toContain(SECRET)
      }
    } finally {
      await serve.stop()
    }
    const files = readdirSync(data)
    expect(files.filter((name) => mode(path.join(data, name)) !== '600')).toEqual([])

    const exported = await asNobody(process.execPath, [PORTCULLIS_CLI, 'audit', 'export', '--data', data])
    expect(exported.code, exported.stderr).toBe(2)
    expect(exported.stderr).toContain('[PORTCULLIS_AUDIT_NO_ACCESS]')
    expect(exported.stdout).not.toContain(SECRET)

    // The owner still reads it all.
    expect(await portcullisCliOk(['audit', 'export', '--data', data])).toContain(SECRET)
  })

  it('a store left readable by others (copied in, restored, or made by an older portcullis) is made private at start', { timeout: 120_000 }, async () => {
    const { data } = caseIn('loosened')
    let serve = await startServe('loosened')
    await serve.stop()
    chmodSync(data, 0o755)
    for (const name of readdirSync(data)) chmodSync(path.join(data, name), 0o644)
    serve = await startServe('loosened')
    try {
      expect(mode(data)).toBe('700')
      expect(readdirSync(data).filter((name) => mode(path.join(data, name)) !== '600')).toEqual([])
    } finally {
      await serve.stop()
    }
    // The start record says what was changed; the first start, under umask 022, had nothing to change.
    const starts = (await portcullisCliOk(['audit', 'export', '--data', data, '--action', 'portcullis.start'])).trim().split('\n')
      .map((line) => JSON.parse(line) as { fields: { storeMadePrivate?: string[] } })
    expect(starts).toHaveLength(2)
    expect(starts[0]!.fields.storeMadePrivate).toBeUndefined()
    expect(starts[1]!.fields.storeMadePrivate).toEqual(expect.arrayContaining(['.: 0755 -> 0700', 'CURRENT: 0644 -> 0600']))
  })
})

describe('serve never makes a store over files that look like one', () => {
  it('a store that lost CURRENT stops serve with PORTCULLIS_AUDIT_DAMAGED naming its files, and every file stays', { timeout: 120_000 }, async () => {
    const { data } = caseIn('lost-current')
    for (let run = 0; run < 2; run++) {
      // Two runs: the second turns the first's write-ahead log into a table.
      const serve = await startServe('lost-current')
      for (let i = 0; i < 10; i++) await postAuthzReq(serve.socket, `/v1.41/containers/json?run=${run}&n=${i}`)
      await serve.stop()
    }
    unlinkSync(path.join(data, 'CURRENT'))
    const before = Object.fromEntries(readdirSync(data).map((name) => [name, readFileSync(path.join(data, name)).toString('base64')]))
    expect(Object.keys(before).some((name) => name.endsWith('.ldb'))).toBe(true)

    const result = await serveUntilExit(caseIn('lost-current').dir, data)
    expect(result.code, result.stderr).toBe(2)
    expect(result.stderr).toContain('[PORTCULLIS_AUDIT_DAMAGED]')
    expect(result.stderr).not.toContain('unexpected error')
    expect(result.stderr).toMatch(/MANIFEST-\d+/)
    expect(result.stderr).toMatch(/\d+\.ldb/)

    const after = Object.fromEntries(readdirSync(data).map((name) => [name, readFileSync(path.join(data, name)).toString('base64')]))
    expect(after).toEqual(before)

    // The offline commands say the same, and change nothing either.
    const verify = await runPortcullisCli(['audit', 'verify', '--data', data])
    expect(verify.code).toBe(2)
    expect(verify.stderr).toContain('[PORTCULLIS_AUDIT_DAMAGED]')
    const bundle = await runPortcullisCli(['audit', 'bundle', '--data', data, '--keys', workspace.keysDir, '--out', path.join(workspace.root, 'lost-current', 'bundle')])
    expect(bundle.code).toBe(2)
    expect(bundle.stderr).toContain('[PORTCULLIS_AUDIT_DAMAGED]')
    expect(Object.fromEntries(readdirSync(data).map((name) => [name, readFileSync(path.join(data, name)).toString('base64')]))).toEqual(before)
  })

  it('a directory holding something else stops serve with PORTCULLIS_AUDIT_NOT_A_STORE, and is left alone', { timeout: 60_000 }, async () => {
    const { dir, data } = caseIn('not-a-store')
    mkdirSync(data)
    writeFileSync(path.join(data, 'backup.tar'), 'something of the operator\'s')
    const result = await serveUntilExit(dir, data)
    expect(result.code, result.stderr).toBe(2)
    expect(result.stderr).toContain('[PORTCULLIS_AUDIT_NOT_A_STORE]')
    expect(result.stderr).toContain('backup.tar')
    expect(readdirSync(data)).toEqual(['backup.tar'])
  })
})
