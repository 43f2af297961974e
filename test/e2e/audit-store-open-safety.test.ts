// `serve` keeps the audit store private and never makes a new store over an old one (issue 12, items 1 and 4).
// Started under umask 022, every file of the store is still 0600 in a 0700 directory, so a local user without
// privileges can read neither the write-ahead log (what bridge users typed ends up there) nor the store through
// `audit export --data`. A store that lost its CURRENT file, or a directory that is not a store, stops `serve` with
// a code that names the files, and nothing in the directory is deleted.
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PORTCULLIS_CLI, portcullisCliOk, REPO_ROOT, removeDirSync, runPortcullisCli, type CliResult } from '../helpers/index.js'
import { signalAndWait } from '../helpers/process.js'
import { onProcessEnd } from '../helpers/safety-net.js'
import { waitUntil } from '../helpers/wait.js'

const examplePolicy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8'))
const NOBODY = 65534
const SECRET = 'hunter2-typed-secret'

let root: string
let keysDir: string
let policyFile: string

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portcullis-open-safety-'))
  // Only the store's own modes may keep other users out: the directories above it are open to them.
  chmodSync(root, 0o755)
  keysDir = path.join(root, 'keys')
  policyFile = path.join(root, 'policy.json')
  await writeFile(policyFile, JSON.stringify(examplePolicy))
  await portcullisCliOk(['keys', 'init', '--keys', keysDir])
})

afterAll(() => {
  if (root !== undefined) removeDirSync(root)
})

function serveArgs (name: string, data: string): string[] {
  const dir = path.join(root, name)
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  chmodSync(dir, 0o755)
  return ['serve', '--config', policyFile, '--socket', path.join(dir, 'plugin.sock'), '--admin-socket', path.join(dir, 'run', 'admin.sock'),
    '--data', data, '--keys', keysDir, '--docker-host', `unix://${path.join(dir, 'no-dockerd.sock')}`, '--elevation-listen', 'off', '--log-level', 'warn']
}

/** `serve` started from a shell with umask 022, as from a login shell; resolves once the plugin socket answers. */
async function startServe (name: string, data: string): Promise<{ child: ChildProcess, socket: string, stop: () => Promise<void> }> {
  const args = serveArgs(name, data)
  const socket = args[args.indexOf('--socket') + 1]!
  const child = spawn('sh', ['-c', 'umask 022; exec "$0" "$@"', process.execPath, PORTCULLIS_CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const cancel = onProcessEnd(() => child.kill('SIGKILL'))
  await waitUntil('serve\'s plugin socket', () => {
    if (child.exitCode !== null) throw new Error(`serve did not start:\n${stderr}`)
    return readdirSync(path.dirname(socket)).includes(path.basename(socket))
  }, { timeoutMs: 30_000, detail: () => stderr })
  return {
    child,
    socket,
    stop: async () => {
      expect(await signalAndWait(child, 'SIGTERM', 20_000)).toBe(true)
      cancel()
    }
  }
}

function authzReq (socket: string, uri: string): Promise<number> {
  const body = JSON.stringify({ User: '', RequestMethod: 'GET', RequestUri: uri, RequestHeaders: {} })
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: '/AuthZPlugin.AuthZReq', method: 'POST' }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(body)
  })
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
    const data = path.join(root, 'private', 'data')
    const serve = await startServe('private', data)
    try {
      for (let i = 0; i < 20; i++) expect(await authzReq(serve.socket, `/v1.41/containers/json?password=${SECRET}&n=${i}`)).toBe(200)
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
    const data = path.join(root, 'loosened', 'data')
    let serve = await startServe('loosened', data)
    await serve.stop()
    chmodSync(data, 0o755)
    for (const name of readdirSync(data)) chmodSync(path.join(data, name), 0o644)
    serve = await startServe('loosened', data)
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
    const data = path.join(root, 'lost-current', 'data')
    for (let run = 0; run < 2; run++) {
      // Two runs: the second turns the first's write-ahead log into a table.
      const serve = await startServe('lost-current', data)
      for (let i = 0; i < 10; i++) await authzReq(serve.socket, `/v1.41/containers/json?run=${run}&n=${i}`)
      await serve.stop()
    }
    unlinkSync(path.join(data, 'CURRENT'))
    const before = Object.fromEntries(readdirSync(data).map((name) => [name, readFileSync(path.join(data, name)).toString('base64')]))
    expect(Object.keys(before).some((name) => name.endsWith('.ldb'))).toBe(true)

    const result = await runPortcullisCli(serveArgs('lost-current', data), { timeoutMs: 30_000 })
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
    const bundle = await runPortcullisCli(['audit', 'bundle', '--data', data, '--keys', keysDir, '--out', path.join(root, 'lost-current', 'bundle')])
    expect(bundle.code).toBe(2)
    expect(bundle.stderr).toContain('[PORTCULLIS_AUDIT_DAMAGED]')
    expect(Object.fromEntries(readdirSync(data).map((name) => [name, readFileSync(path.join(data, name)).toString('base64')]))).toEqual(before)
  })

  it('a directory holding something else stops serve with PORTCULLIS_AUDIT_NOT_A_STORE, and is left alone', { timeout: 60_000 }, async () => {
    const data = path.join(root, 'not-a-store', 'data')
    mkdirSync(data, { recursive: true })
    writeFileSync(path.join(data, 'backup.tar'), 'something of the operator\'s')
    const result = await runPortcullisCli(serveArgs('not-a-store', data), { timeoutMs: 30_000 })
    expect(result.code, result.stderr).toBe(2)
    expect(result.stderr).toContain('[PORTCULLIS_AUDIT_NOT_A_STORE]')
    expect(result.stderr).toContain('backup.tar')
    expect(readdirSync(data)).toEqual(['backup.tar'])
  })
})
