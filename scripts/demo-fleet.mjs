// make demo-fleet: three portcullis hosts shipping their audit to one PostgreSQL and running one signed policy.
// A private PostgreSQL (Debian's server, initdb'd into a temp dir, socket only), three `serve` processes with their
// own keys, stores and database logins, and calls posted to their plugin sockets exactly as dockerd posts them (no
// dockerd here: `make demo` shows the docker CLI side). Everything lives in one temp dir and is stopped by pid.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startPostgres } from './lib/postgres.js'

const ROOT = path.resolve(import.meta.dirname, '..')
const CLI = path.join(ROOT, 'dist', 'cli.js')
const dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-demo-fleet-'))
const children = []
const stopAtExit = []
const onProcessEnd = (cleanup) => { stopAtExit.push(cleanup); return () => {} }

const bold = (text) => process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`)
const show = (text) => process.stdout.write(`\x1b[36m$ ${text}\x1b[0m\n`)
const indent = (text) => text.trimEnd().split('\n').map((line) => `    ${line}`).join('\n') + '\n'
function portcullis (args, { quiet = false } = {}) {
  if (!quiet) show(`portcullis ${args.map((a) => a.includes(dir) ? a.replace(dir, '$DIR') : a).join(' ')}`)
  let out
  try {
    out = execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    out = (err.stdout ?? '') + (err.stderr ?? '')
  }
  if (!quiet) process.stdout.write(indent(out))
  return out
}

let pg = null
try {
  bold('a private PostgreSQL, the fleet schema and its roles')
  pg = await startPostgres(path.join(dir, 'pg'), { onProcessEnd })
  portcullis(['fleet', 'init-db', '--fleet', pg.adminUrl])
  const hosts = ['web-1', 'web-2', 'db-1'].map((name) => ({ name, login: `host_${name.replace('-', '')}`, dir: path.join(dir, name) }))
  for (const host of hosts) await pg.sql(`CREATE ROLE ${host.login} LOGIN PASSWORD 'secret-${host.login}' IN ROLE portcullis_ingest`)
  await pg.sql("CREATE ROLE ops LOGIN PASSWORD 'secret-ops' IN ROLE portcullis_publisher; CREATE ROLE auditor LOGIN PASSWORD 'secret-auditor' IN ROLE portcullis_reader")
  const passwordFile = (login) => {
    const file = path.join(dir, `${login}.pw`)
    writeFileSync(file, `secret-${login}\n`, { mode: 0o600 })
    return file
  }
  show("psql -c \"CREATE ROLE host_web1 LOGIN PASSWORD '…' IN ROLE portcullis_ingest\"   # one login per host, and ops (publisher), auditor (reader)")
  const auditor = ['--fleet', pg.url('auditor'), '--fleet-password-file', passwordFile('auditor')]
  const ops = ['--fleet', pg.url('ops'), '--fleet-password-file', passwordFile('ops')]

  bold('one policy for every host: a signing key, and examples/policy.json published as revision 1')
  portcullis(['policy', 'keygen', '--out', path.join(dir, 'policy-keys')])
  const key = path.join(dir, 'policy-keys', 'policy_ed25519.key')
  const pin = path.join(dir, 'policy-keys', 'policy_ed25519.pub')
  portcullis(['policy', 'publish', ...ops, '--key', key, '--publisher', 'ops@demo', path.join(ROOT, 'examples', 'policy.json')])

  bold('three hosts: serve --fleet … --policy-from fleet --policy-key policy_ed25519.pub')
  for (const host of hosts) {
    mkdirSync(host.dir, { recursive: true })
    portcullis(['keys', 'init', '--keys', path.join(host.dir, 'keys')], { quiet: true })
    host.token = portcullis(['token', 'issue', '--keys', path.join(host.dir, 'keys'), '--user', 'alice', '--ttl', '1h'], { quiet: true }).trim().split('\n').pop().trim()
    host.socket = path.join(host.dir, 'plugin.sock')
    host.admin = path.join(host.dir, 'admin.sock')
    host.data = path.join(host.dir, 'data')
    const child = spawn(process.execPath, [CLI, 'serve', '--config', path.join(host.dir, 'policy.json'), '--socket', host.socket, '--admin-socket', host.admin,
      '--data', host.data, '--keys', path.join(host.dir, 'keys'), '--docker-host', `unix://${path.join(host.dir, 'no-dockerd.sock')}`, '--elevation-listen', 'off',
      '--log-level', 'warn', '--fleet', pg.url(host.login), '--fleet-password-file', passwordFile(host.login), '--fleet-host-name', host.name,
      '--policy-from', 'fleet', '--policy-key', pin],
    { stdio: ['ignore', openSync(path.join(host.dir, 'serve.log'), 'a'), openSync(path.join(host.dir, 'serve.log'), 'a')] })
    children.push(child)
    host.child = child
  }
  for (const host of hosts) await waitFor(`${host.name} to serve (its log: ${path.join(host.dir, 'serve.log')})`, async () => existsSync(host.admin) && (await status(host).catch(() => null)) !== null)
  for (const host of hosts) process.stdout.write(`    ${host.name}: host ID ${readFileSync(path.join(host.dir, 'keys', 'host-id'), 'utf8').trim()}, policy revision ${(await status(host)).policy.revision?.revision}\n`)

  bold('alice lists containers on every host (an AuthZReq as dockerd sends it for `docker ps`)')
  for (const host of hosts) {
    for (let i = 0; i < 5; i++) await authz(host)
    const answer = await authz(host)
    process.stdout.write(`    ${host.name}: ${answer.Allow ? 'allowed' : `denied: ${answer.Msg}`}\n`)
  }

  bold('a new revision without alice in payments, published once: every host runs it within moments')
  const withoutAlice = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'policy.json'), 'utf8'))
  delete withoutAlice.projects.payments.members.alice
  const revision2 = path.join(dir, 'policy-without-alice.json')
  writeFileSync(revision2, JSON.stringify(withoutAlice, null, 2) + '\n')
  const published = Date.now()
  portcullis(['policy', 'publish', ...ops, '--key', key, '--publisher', 'ops@demo', revision2])
  for (const host of hosts) await waitFor(`${host.name} to run revision 2`, async () => (await status(host)).policy.revision?.revision === 2)
  process.stdout.write(`    all three hosts run revision 2, ${Date.now() - published} ms after the publish command started\n`)
  for (const host of hosts) {
    const answer = await authz(host)
    process.stdout.write(`    ${host.name}: ${answer.Allow ? 'allowed' : `denied: ${answer.Msg}`}\n`)
  }

  bold('a forged revision (written straight into the table, not signed with the key): no host takes it')
  await pg.sql("INSERT INTO portcullis.policy_revisions (revision, policy, envelope, signature, key_id, publisher, published_at) SELECT 3, policy, envelope, signature, key_id, 'mallory', now() FROM portcullis.policy_revisions WHERE revision = 1")
  await sleep(1500)
  for (const host of hosts) {
    const refusal = readFileSync(path.join(host.dir, 'serve.log'), 'utf8').split('\n').filter((line) => line.includes('PORTCULLIS_POLICY_')).pop()
    process.stdout.write(`    ${host.name}: still revision ${(await status(host)).policy.revision?.revision}; ${refusal === undefined ? 'no refusal logged yet' : `logged ${JSON.parse(refusal).code}`}\n`)
  }

  bold('every record shipped: the fleet database, read as the auditor')
  for (const host of hosts) await waitFor(`${host.name} to ship`, async () => (await status(host)).fleet.lag === 0)
  portcullis(['fleet', 'status', ...auditor])
  portcullis(['fleet', 'verify', ...auditor])
  show('portcullis fleet export --fleet … --action policy.*   # every host\'s policy records, from the database')
  const lines = portcullis(['fleet', 'export', ...auditor, '--action', 'policy.*'], { quiet: true }).trim().split('\n').filter((l) => l !== '')
  for (const line of lines) {
    const { hostName, host, record } = JSON.parse(line)
    process.stdout.write(`    ${host} (${hostName}) #${record.seq} ${record.action}: ${record.reason}\n`)
  }
} finally {
  for (const child of children) child.kill('SIGTERM')
  for (const child of children) if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve))
  await pg?.stop().catch(() => {})
  for (const cleanup of stopAtExit) cleanup()
  rmSync(dir, { recursive: true, force: true })
}

async function waitFor (what, condition, limitMs = 30_000) {
  const deadline = Date.now() + limitMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs / 1000} s`)
    await sleep(50)
  }
}

function status (host) {
  return request(host.admin, 'GET', '/v1/status').then(JSON.parse)
}

function authz (host) {
  const body = JSON.stringify({ RequestMethod: 'GET', RequestUri: '/v1.41/containers/json', RequestHeaders: { 'X-Portcullis-Token': host.token } })
  return request(host.socket, 'POST', '/AuthZPlugin.AuthZReq', body).then(JSON.parse)
}

function request (socketPath, method, uri, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: uri, agent: false }, (res) => {
      let text = ''
      res.on('data', (chunk) => { text += chunk })
      res.on('end', () => resolve(text))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}
