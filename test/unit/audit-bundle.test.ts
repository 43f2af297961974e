import { execFileSync } from 'node:child_process'
import { cpSync, createReadStream, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import type http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { adminJson, adminRequest } from '../../src/admin/client.js'
import { createAdminApp, listenAdmin } from '../../src/admin/server.js'
import { BUNDLE_FILES, castPath, writeBundle, type BundleManifest } from '../../src/audit/bundle.js'
import { bundleSourceOf, prepareBundle } from '../../src/audit/bundle-store.js'
import { verifyBundle } from '../../src/audit/bundle-verify.js'
import { parseCheckpoint } from '../../src/audit/checkpoint-format.js'
import { signCheckpoint } from '../../src/audit/checkpoints.js'
import { jsonForScript } from '../../src/audit/report/html.js'
import { ensureAuditKey, type AuditSigningKey } from '../../src/audit/signing-key.js'
import type { AuditRecord } from '../../src/audit/record.js'
import { AuditStore } from '../../src/audit/store.js'
import { extractTar } from '../../src/audit/tar.js'
import { CastRecorder } from '../../src/audit/asciicast.js'
import { auditBundleCommand, formatBundleReport } from '../../src/cli/audit-bundle.js'
import type { PolicySource } from '../../src/policy/source.js'
import { END, entry as tarEntry } from '../helpers/tar-craft.js'

const root = mkdtempSync(join(tmpdir(), 'portcullis-bundle-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let dirCount = 0
const fresh = (name = 'dir'): string => join(root, `${name}-${++dirCount}`)
const logger = pino({ enabled: false })
const SESSION = 's-00000000000000a1'
/** Output that would end the page's script element if it were embedded unescaped. */
const HOSTILE_OUTPUT = '</script><script>alert(1)</script><!-- \u2028'

let key: AuditSigningKey
beforeAll(() => { key = ensureAuditKey(join(root, 'keys')).key })

const open: AuditStore[] = []
afterEach(async () => { await Promise.all(open.splice(0).map(async (store) => await store.close().catch(() => {}))) })

/** A store with decisions of every sort and one recorded SSH session (its recording in several chunks). */
async function filledStore (): Promise<AuditStore> {
  const store = await AuditStore.open(fresh('store'))
  open.push(store)
  await store.append({ kind: 'system', action: 'portcullis.start', reason: 'started' })
  await store.append({ kind: 'decision', user: 'alice', authMethod: 'tls', action: 'container.start', project: 'payments', role: 'developer', resource: 'container pay-1 (6bb21ffec17d)', method: 'POST', uri: '/v1.41/containers/pay-1/start', decision: 'allow', reason: 'alice is developer in payments' })
  await store.append({ kind: 'decision', user: 'bob', authMethod: 'tls', action: 'container.create', project: 'payments', role: 'viewer', method: 'POST', uri: '/v1.41/containers/create', decision: 'deny', code: 'UNSAFE_REQUIRED', reason: 'container.create reaches the host: privileged', fields: { escapes: [{ setting: 'privileged', detail: 'Privileged: true' }] } })
  await store.append({ kind: 'decision', user: 'ops', authMethod: 'jwt', action: 'container.create', project: 'web', role: 'admin', method: 'POST', uri: '/v1.41/containers/create', decision: 'allow', reason: 'ops is admin', fields: { escapes: [{ setting: 'bind-mount', detail: '/:/host' }] } })
  await store.append({ kind: 'decision', user: '=cmd|\' /C calc\'!A0', authMethod: 'tls', action: 'image.list', decision: 'deny', code: 'NO_ROLE', reason: '<b>not bold</b>' })
  await recordSession(store)
  await store.append({ kind: 'decision', user: 'carol', authMethod: 'tls', action: 'container.stop', project: 'web', role: 'operator', resource: 'container web-1 (aaaaaaaaaaaa)', method: 'POST', uri: '/v1.41/containers/web-1/stop', decision: 'allow', reason: 'ok' })
  return store
}

async function recordSession (store: AuditStore): Promise<void> {
  const start = await store.append({
    kind: 'session', user: 'alice', authMethod: 'ssh', action: 'session.start', project: 'payments', role: 'developer', resource: 'pay-1', decision: 'allow', reason: 'alice opened a shell in pay-1 over SSH',
    fields: { session: SESSION, containerId: '6bb21ffec17d' + '0'.repeat(52), command: null, tty: true, client: '10.0.0.1:5555', key: 'SHA256:x' }
  })
  const rec = new CastRecorder({ width: 80, height: 24, startedAt: new Date(), user: 'alice', container: 'pay-1', project: 'payments', sessionId: SESSION })
  const sink = store.castSink(SESSION, start.seq, { maxChunkBytes: 120, flushIntervalMs: 0 })
  sink.write(rec.header() + '\n')
  for (let i = 0; i < 12; i++) {
    rec.output(Buffer.from(i === 5 ? HOSTILE_OUTPUT + '\r\n' : `line ${i} ünïcödé\r\n`), i * 100)
    sink.write(rec.drain().join('\n') + '\n')
    await sink.flush()
  }
  // A decision the bridge caused names the session too.
  await store.append({ kind: 'decision', user: 'alice', authMethod: 'bridge', action: 'container.exec', project: 'payments', role: 'developer', decision: 'allow', reason: 'bridge exec', fields: { session: SESSION } })
  const cast = await sink.finish()
  expect(cast.chunks).toBeGreaterThan(2)
  await store.append({
    kind: 'session', user: 'alice', authMethod: 'ssh', action: 'session.end', project: 'payments', resource: 'pay-1', decision: null, reason: 'the shell exited with status 0',
    fields: { session: SESSION, startSeq: start.seq, exitCode: 0, signal: null, endedBy: 'exit', durationMs: 1200, bytesIn: 0, bytesOut: 300, bytesErr: 0, cast }
  })
  await sink.release()
}

async function bundleOf (store: AuditStore, options: { fromSeq?: number, toSeq?: number } = {}): Promise<string> {
  const dir = fresh('bundle')
  await writeBundle(bundleSourceOf(store, key), dir, { generator: 'portcullis test', host: 'testhost', ...options })
  return dir
}

function copyOf (dir: string): string {
  const copy = fresh('copy')
  cpSync(dir, copy, { recursive: true })
  return copy
}

const readManifest = (dir: string): BundleManifest => JSON.parse(readFileSync(join(dir, BUNDLE_FILES.manifest), 'utf8')) as BundleManifest

describe('audit bundle', () => {
  it('writes every record, the recording, a checkpoint at the last record, the key and a manifest; verify-bundle passes', async () => {
    const store = await filledStore()
    const dir = await bundleOf(store)
    const head = store.head()
    const manifest = readManifest(dir)
    expect(manifest).toMatchObject({ version: 1, range: { since: null, until: null, fromSeq: 1, toSeq: head.seq }, chain: { firstPrevHash: '0'.repeat(64), lastHash: head.hash } })
    expect(Object.keys(manifest.files).sort()).toEqual(['audit_ed25519.pub', 'checkpoints.jsonl', 'records.csv', 'records.jsonl', 'report.html', `sessions/${SESSION}.cast`, `sessions/${SESSION}.chunks`])

    // Each line is the stored text, so it is the same as the store's own export.
    const lines = readFileSync(join(dir, 'records.jsonl'), 'utf8').trimEnd().split('\n')
    expect(lines).toHaveLength(head.seq)
    const stored: string[] = []
    for await (const { text } of store.queryStored({})) stored.push(text)
    expect(lines).toEqual(stored)
    expect(readFileSync(join(dir, 'records.csv'), 'utf8').split('\r\n')[0]).toMatch(/^seq,time,kind,/)
    expect(readFileSync(join(dir, 'records.csv'), 'utf8')).toContain(",'=cmd|' /C calc'!A0,")

    let text = ''
    for await (const chunk of store.readCast(SESSION)) text += chunk
    expect(readFileSync(join(dir, castPath(SESSION)), 'utf8')).toBe(text)

    const checkpoints = readFileSync(join(dir, 'checkpoints.jsonl'), 'utf8').trimEnd().split('\n').map((line) => parseCheckpoint(line)!)
    expect(checkpoints.at(-1)).toMatchObject({ seq: head.seq, hash: head.hash, keyId: key.keyId })
    expect(readFileSync(join(dir, 'audit_ed25519.pub'), 'utf8')).toBe(key.publicKeyPem)

    const report = await verifyBundle(dir)
    expect(report).toMatchObject({ ok: true, records: head.seq, sessions: 1, checkpoints: 1, unanchored: [], key: { keyId: key.keyId }, checkpoint: { seq: head.seq } })
    expect(report.problems).toEqual([])
    // The bundle does not mark itself: the caller does, once it has been delivered.
    expect(await store.bundledSeq()).toBe(0)
  })

  it('covers a seq range: the first record links to the hash the manifest names; a session begun before it is still bundled', async () => {
    const store = await filledStore()
    // Checkpoints the daemon stored in the range travel with the bundle; one outside it does not.
    await signCheckpoint(store, key, { seq: 7 })
    await signCheckpoint(store, key, { seq: 2 })
    const dir = await bundleOf(store, { fromSeq: 7, toSeq: 8 })
    const manifest = readManifest(dir)
    expect(manifest.range).toMatchObject({ fromSeq: 7, toSeq: 8 })
    const report = await verifyBundle(dir)
    expect(report).toMatchObject({ ok: true, records: 2, sessions: 1, checkpoints: 2, checkpoint: { seq: 8 } })
    expect(readFileSync(join(dir, 'records.jsonl'), 'utf8')).toMatch(/^\{"seq":7,[^\n]*\n\{"seq":8,.*session\.end/)
  })

  it('maps --since/--until to seqs: since inclusive, until exclusive', async () => {
    const store = await filledStore()
    const all: AuditRecord[] = []
    for await (const record of store.read()) all.push(record)
    const since = new Date(all[3]!.time)
    const until = new Date(Date.parse(all[7]!.time) + 1)
    const dir = fresh('bundle')
    await writeBundle(bundleSourceOf(store, key), dir, { generator: 't', since, until })
    const expected = all.filter((r) => r.time >= since.toISOString() && r.time < until.toISOString()).map((r) => r.seq)
    expect(readManifest(dir).range).toEqual({ since: since.toISOString(), until: until.toISOString(), fromSeq: expected[0], toSeq: expected.at(-1) })
    expect((await verifyBundle(dir)).ok).toBe(true)
  })

  it('refuses an empty range and a directory that holds files', async () => {
    const store = await filledStore()
    await expect(writeBundle(bundleSourceOf(store, key), fresh('bundle'), { generator: 't', since: new Date(Date.now() + 86_400_000) }))
      .rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_BUNDLE_EMPTY' })
    const used = fresh('used')
    cpSync(await bundleOf(store, { toSeq: 2 }), used, { recursive: true })
    await expect(writeBundle(bundleSourceOf(store, key), used, { generator: 't' })).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_BUNDLE_DIR_NOT_EMPTY' })
  })

  it('report.html is one self-contained page: player inlined, recording embedded safely, nothing to fetch', async () => {
    const store = await filledStore()
    const dir = await bundleOf(store)
    const html = readFileSync(join(dir, 'report.html'), 'utf8')
    expect(html).toContain('Content-Security-Policy')
    expect(html).toContain('var AsciinemaPlayer=')
    expect(html).toContain('class="ap-')
    // No address to fetch or follow outside the bundle (the SVG namespace is a name, not a request).
    const urls = (html.match(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>)]*/gi) ?? []).filter((url) => !url.includes('www.w3.org/2000/svg'))
    expect(urls).toEqual([])
    expect(html).not.toMatch(/<(?:script|link|img|iframe)[^>]+(?:src|href)=["']?(?:https?:)?\/\//i)
    // The hostile output stays inside its JSON: the only script elements are the three the page has.
    expect(html.match(/<script[\s>]/g)).toHaveLength(3)
    expect(html).not.toContain('alert(1)</script>')
    const embedded = /<script type="application\/json" id="cast-s-00000000000000a1">([^<]*)<\/script>/.exec(html)
    expect(embedded).not.toBeNull()
    expect(JSON.parse(embedded![1]!)).toBe(readFileSync(join(dir, castPath(SESSION)), 'utf8'))
    // Sections, denied first; records' text escaped.
    expect(html.indexOf('id="denied"')).toBeLessThan(html.indexOf('id="elevated"'))
    expect(html.indexOf('id="elevated"')).toBeLessThan(html.indexOf('id="sessions"'))
    // The page's text without its own tags (a word with punctuation inside is held whole in a span: report/cells.ts).
    const text = html.replace(/<\/?(?:span|wbr)\b[^>]*>/g, '')
    expect(text).toContain('&lt;b&gt;not bold&lt;/b&gt;')
    expect(html).not.toContain('<b>not')
    expect(html).toContain('UNSAFE_REQUIRED')
    expect(text).toContain('bind-mount: /:/host')
    expect(html).toContain(`data-session="${SESSION}"`)
    expect(html).toContain('id="integrity" class="verdict ok"')
    expect(html).toContain(key.keyId)
    expect(html).toMatch(/<svg[^>]+class="chart"/)
  })

  it('jsonForScript leaves nothing that ends a script element', () => {
    const text = jsonForScript('</script><!-- \u2028 </SCRIPT>')
    expect(text).not.toMatch(/<\/script|<!--/i)
    expect(JSON.parse(text)).toBe('</script><!-- \u2028 </SCRIPT>')
  })
})

describe('verify-bundle names what was tampered with', () => {
  let dir: string
  beforeAll(async () => {
    const store = await filledStore()
    dir = await bundleOf(store)
    await store.close()
  })

  it('an edited record line', async () => {
    const copy = copyOf(dir)
    const path = join(copy, 'records.jsonl')
    const lines = readFileSync(path, 'utf8').split('\n')
    lines[2] = lines[2]!.replace('"decision":"deny"', '"decision":"allow"')
    writeFileSync(path, lines.join('\n'))
    const report = await verifyBundle(copy)
    expect(report.ok).toBe(false)
    expect(report.firstBad).toMatchObject({ problem: 'hash-mismatch', file: 'records.jsonl', seq: 3 })
    expect(report.problems.map((p) => p.problem)).toContain('file-mismatch')
  })

  it('a removed record line', async () => {
    const copy = copyOf(dir)
    const path = join(copy, 'records.jsonl')
    const lines = readFileSync(path, 'utf8').split('\n')
    lines.splice(3, 1)
    writeFileSync(path, lines.join('\n'))
    expect((await verifyBundle(copy)).firstBad).toMatchObject({ problem: 'gap', file: 'records.jsonl', seq: 4 })
  })

  it('an edited recording', async () => {
    const copy = copyOf(dir)
    const path = join(copy, castPath(SESSION))
    writeFileSync(path, readFileSync(path, 'utf8').replace('line 3', 'LINE 3'))
    const report = await verifyBundle(copy)
    expect(report.firstBad).toMatchObject({ problem: 'cast-mismatch', file: castPath(SESSION), session: SESSION })
  })

  it('a recording taken out', async () => {
    const copy = copyOf(dir)
    rmSync(join(copy, castPath(SESSION)))
    const report = await verifyBundle(copy)
    expect(report.firstBad).toMatchObject({ problem: 'cast-missing', session: SESSION })
    expect(report.problems).toContainEqual(expect.objectContaining({ problem: 'file-missing', file: castPath(SESSION) }))
  })

  it('a changed manifest', async () => {
    const copy = copyOf(dir)
    const manifest = readManifest(copy)
    manifest.files['report.html']!.sha256 = 'f'.repeat(64)
    writeFileSync(join(copy, 'manifest.json'), JSON.stringify(manifest))
    expect((await verifyBundle(copy)).firstBad).toMatchObject({ problem: 'file-mismatch', file: 'report.html' })

    manifest.files['report.html'] = readManifest(dir).files['report.html']!
    manifest.chain.lastHash = 'e'.repeat(64)
    writeFileSync(join(copy, 'manifest.json'), JSON.stringify(manifest))
    expect((await verifyBundle(copy)).firstBad).toMatchObject({ problem: 'range-mismatch', file: 'records.jsonl' })

    writeFileSync(join(copy, 'manifest.json'), '{ not json')
    expect((await verifyBundle(copy)).firstBad).toMatchObject({ problem: 'manifest-invalid', file: 'manifest.json' })
  })

  it('an edited report (derived, so only its hash catches it) and an added file', async () => {
    const copy = copyOf(dir)
    writeFileSync(join(copy, 'report.html'), readFileSync(join(copy, 'report.html'), 'utf8').replace('Integrity: intact', 'Integrity: fine'))
    writeFileSync(join(copy, 'extra.txt'), 'hello')
    const report = await verifyBundle(copy)
    expect(report.problems).toEqual([
      expect.objectContaining({ problem: 'file-mismatch', file: 'report.html' }),
      expect.objectContaining({ problem: 'file-unlisted', file: 'extra.txt' })
    ])
  })

  it('a forged checkpoint', async () => {
    const copy = copyOf(dir)
    const path = join(copy, 'checkpoints.jsonl')
    const checkpoint = parseCheckpoint(readFileSync(path, 'utf8').trim())!
    writeFileSync(path, JSON.stringify({ ...checkpoint, time: '2020-01-01T00:00:00.000Z' }) + '\n')
    const report = await verifyBundle(copy)
    expect(report.firstBad).toMatchObject({ problem: 'checkpoint-forged', file: 'checkpoints.jsonl', seq: checkpoint.seq })
    expect(report.problems.map((p) => p.problem)).toContain('checkpoint-missing')
  })

  it('a rewritten chain re-signed with another key: the key differs from the expected one', async () => {
    const other = ensureAuditKey(join(root, 'other-keys')).key
    const store = await filledStore()
    const bundle = fresh('bundle')
    await writeBundle(bundleSourceOf(store, other), bundle, { generator: 't' })
    expect((await verifyBundle(bundle)).ok).toBe(true)
    expect((await verifyBundle(bundle)).key?.keyId).toBe(other.keyId)
    expect((await verifyBundle(bundle, { publicKey: key })).firstBad).toMatchObject({ problem: 'key-mismatch' })
  })

  it('an archive: verified as a .tar.gz; a cut-short one is refused', async () => {
    const store = await filledStore()
    const prepared = await prepareBundle(bundleSourceOf(store, key), 'evidence-2026', { generator: 't' })
    const file = join(fresh('archive'), 'evidence.tar.gz')
    const chunks: Buffer[] = []
    try {
      for await (const chunk of prepared.archive()) chunks.push(chunk as Buffer)
    } finally {
      await prepared.dispose()
    }
    const archive = Buffer.concat(chunks)
    mkdirSync(join(file, '..'))
    writeFileSync(file, archive)
    expect(await verifyBundle(file)).toMatchObject({ ok: true, sessions: 1 })

    // What `tar xzf` makes of it: one top directory holding the bundle.
    const extracted = fresh('extracted')
    const files = await extractTar(createReadStream(file).pipe(createGunzip()), extracted)
    expect(files).toContain('evidence-2026/manifest.json')
    expect(readdirSync(join(extracted, 'evidence-2026', 'sessions'))).toEqual([`${SESSION}.cast`, `${SESSION}.chunks`])

    writeFileSync(file, archive.subarray(0, Math.floor(archive.length / 2)))
    expect(await verifyBundle(file)).toMatchObject({ ok: false, firstBad: { problem: 'archive-damaged', file: 'evidence.tar.gz' } })
    await expect(verifyBundle(join(root, 'no-such-bundle'))).rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_BUNDLE_UNREADABLE' })
  })
})

describe('verify-bundle never follows a link inside a bundle', () => {
  let dir: string
  let secret: string
  /** A size nothing in a bundle has: if it shows up in a report, the secret was read. */
  const SECRET_BYTES = 4321
  beforeAll(async () => {
    const store = await filledStore()
    dir = await bundleOf(store)
    await store.close()
    secret = join(fresh('secret'), 'shadow')
    mkdirSync(join(secret, '..'))
    writeFileSync(secret, 'r'.repeat(SECRET_BYTES), { mode: 0o600 })
  })

  it('a listed file, the records and an added name as symbolic links to a file elsewhere: reported as links, never read', async () => {
    const copy = copyOf(dir)
    for (const name of [BUNDLE_FILES.csv, BUNDLE_FILES.records, 'extra']) {
      rmSync(join(copy, name), { force: true })
      symlinkSync(secret, join(copy, name))
    }
    const report = await verifyBundle(copy)
    expect(report.ok).toBe(false)
    expect(report.firstBad).toMatchObject({ problem: 'link' })
    const links = report.problems.filter((p) => p.problem === 'link').map((p) => p.file).sort()
    expect(links).toEqual([BUNDLE_FILES.records, BUNDLE_FILES.csv, 'extra'].sort())
    expect(report.records).toBe(0)
    expect(JSON.stringify(report)).not.toContain(String(SECRET_BYTES))
    expect(formatBundleReport(report)).toMatch(/bundle BROKEN: .*: link \(it is a symbolic link; .*links are not followed\)/)
  })

  it('a directory swapped for a link, a hard link and a FIFO: reported, not entered, not read, no hang', async () => {
    const copy = copyOf(dir)
    const elsewhere = fresh('elsewhere')
    renameSync(join(copy, BUNDLE_FILES.sessions), elsewhere)
    symlinkSync(elsewhere, join(copy, BUNDLE_FILES.sessions))
    linkSync(secret, join(copy, 'hardlinked'))
    execFileSync('mkfifo', [join(copy, 'fifo')])
    const report = await verifyBundle(copy)
    expect(report.ok).toBe(false)
    expect(report.problems).toEqual(expect.arrayContaining([
      expect.objectContaining({ problem: 'link', file: BUNDLE_FILES.sessions }),
      expect.objectContaining({ problem: 'link', file: 'hardlinked', detail: expect.stringContaining('hard link') }),
      expect.objectContaining({ problem: 'not-regular', file: 'fifo' })
    ]))
    expect(report.sessions).toBe(0)
    expect(JSON.stringify(report)).not.toContain(String(SECRET_BYTES))
  })

  it('a .tar.gz with a symbolic or a hard link entry is refused as a link, and nothing is extracted outside', async () => {
    for (const kind of ['symbolic', 'hard'] as const) {
      const work = fresh('linked-tar')
      const top = join(work, 'bundle')
      cpSync(dir, top, { recursive: true })
      if (kind === 'symbolic') symlinkSync(secret, join(top, 'shadow'))
      else linkSync(join(top, BUNDLE_FILES.csv), join(top, 'second-name'))
      const file = join(work, 'bundle.tar.gz')
      execFileSync('tar', ['czf', file, '-C', work, 'bundle'])
      const report = await verifyBundle(file)
      expect(report, kind).toMatchObject({ ok: false, firstBad: { problem: 'link', file: 'bundle.tar.gz', detail: expect.stringContaining(`is a ${kind} link`) } })
    }
  })
})

describe('tar', () => {
  const archiveOf = (...entries: Array<{ path: string, data?: string, type?: 'file' | 'directory' }>): Readable => {
    const parts: Buffer[] = []
    for (const entry of entries) {
      // A path too long for the name field is split at a '/' into ustar's prefix, as a tar writer does.
      const split = entry.path.length > 100 ? entry.path.lastIndexOf('/', entry.path.length - 2) : -1
      const name = split < 0 ? entry.path : entry.path.slice(split + 1)
      const prefix = split < 0 ? undefined : entry.path.slice(0, split)
      parts.push(tarEntry({ name, prefix, flag: entry.type === 'directory' ? '5' : '0' }, entry.data ?? ''))
    }
    parts.push(END)
    return Readable.from([Buffer.concat(parts)])
  }

  it('round-trips files, long paths and sizes that are not whole blocks', async () => {
    const long = 'd/'.repeat(60) + 'file.txt'
    const dir = fresh('tar')
    const files = await extractTar(archiveOf({ path: 'top/', type: 'directory' }, { path: 'top/a.txt', data: 'x'.repeat(513) }, { path: `top/${long}`, data: 'ü' }), dir, { stripTopDirectory: true })
    expect(files).toEqual(['a.txt', long])
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('x'.repeat(513))
    expect(readFileSync(join(dir, long), 'utf8')).toBe('ü')
  })

  it('refuses paths that leave the directory, and a file named twice', async () => {
    for (const path of ['../evil', '/etc/evil', 'a/../../evil']) {
      const dir = fresh('tar')
      await expect(extractTar(archiveOf({ path, data: 'x' }), dir)).rejects.toThrow(/unsafe path/)
      expect(existsSync(join(dir, '..', 'evil'))).toBe(false)
    }
    await expect(extractTar(archiveOf({ path: 'a', data: 'x' }, { path: 'a', data: 'y' }), fresh('tar'))).rejects.toThrow()
  })
})

describe('admin route and CLI', () => {
  it('the daemon streams the bundle, the CLI writes or unpacks it, then marks the range bundled', async () => {
    const store = await filledStore()
    const socket = join(fresh('sock'), 'admin.sock')
    const app = createAdminApp({ audit: store, policy: {} as PolicySource, logger, startedAt: new Date(), version: 'test', auditKey: key })
    const server: http.Server = await listenAdmin(app, socket)
    const stdout = process.stdout.write
    process.stdout.write = (() => true) as typeof process.stdout.write
    try {
      const file = join(fresh('out'), 'evidence.tar.gz')
      mkdirSync(join(file, '..'))
      expect(await auditBundleCommand.run({ 'admin-socket': socket, keys: '/nonexistent', out: file, 'to-seq': '4' } as never, [])).toBe(0)
      expect(await verifyBundle(file)).toMatchObject({ ok: true, records: 4 })
      expect(await store.bundledSeq()).toBe(4)

      const dir = fresh('out-dir')
      expect(await auditBundleCommand.run({ 'admin-socket': socket, keys: '/nonexistent', out: dir } as never, [])).toBe(0)
      expect(await verifyBundle(dir)).toMatchObject({ ok: true, sessions: 1 })
      expect(existsSync(join(dir, 'manifest.json'))).toBe(true)
      expect(await store.bundledSeq()).toBe(readManifest(dir).range.toSeq)

      // Refusals arrive as our errors, with the daemon's message.
      await expect(auditBundleCommand.run({ 'admin-socket': socket, keys: '/nonexistent', out: fresh('out-dir'), since: '2999-01-01' } as never, []))
        .rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_BUNDLE_EMPTY' })
      const res = await adminRequest(socket, 'POST', '/v1/audit/bundled?toSeq=99999')
      expect(res.statusCode).toBe(400)
      res.resume()
      expect((await adminJson<{ bundledSeq: number }>(socket, 'POST', '/v1/audit/bundled?toSeq=2')).body.bundledSeq).toBe(readManifest(dir).range.toSeq)
    } finally {
      process.stdout.write = stdout
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('offline with --data: bundles a store no daemon runs and marks it', async () => {
    const store = await filledStore()
    const data = store.dir
    await store.close()
    const stdout = process.stdout.write
    process.stdout.write = (() => true) as typeof process.stdout.write
    try {
      const dir = fresh('offline')
      expect(await auditBundleCommand.run({ 'admin-socket': '/nonexistent', data, keys: join(root, 'keys'), out: dir } as never, [])).toBe(0)
      expect(await verifyBundle(dir)).toMatchObject({ ok: true })
      await expect(auditBundleCommand.run({ 'admin-socket': '/nonexistent', data: fresh('missing'), keys: join(root, 'keys'), out: fresh('offline') } as never, []))
        .rejects.toMatchObject({ code: 'PORTCULLIS_AUDIT_NOT_FOUND' })
    } finally {
      process.stdout.write = stdout
    }
    const reopened = await AuditStore.open(data)
    open.push(reopened)
    expect(await reopened.bundledSeq()).toBe(reopened.head().seq)
  })
})
