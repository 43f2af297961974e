// The CPU of one decision's pure steps, in process, without sockets, the daemon or the store: reading the
// AuthZReq document, who the caller is (a cached ES256 token), the request's facts (route, base64 body, Go
// decoding), pairing the later AuthZRes, and sealing the record (its JSON text and sha256). The request is the
// one figure 1 sends (bench/authz-request.js: alice's `docker exec bench-target ls /` with a JWT).
//
//   node bench/hot-path.js [--dist DIR] [--iterations N] [--rounds N]
//
// --dist: the build to measure (default dist/), so two builds can be compared in one run: the rounds take
// turns between `--dist` and `--against DIR` when that is given, and each line gives both medians and the ratio.

import { generateKeyPairSync } from 'node:crypto'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { execCreateRequest } from './authz-request.js'

const { values: args } = parseArgs({
  options: {
    dist: { type: 'string', default: 'dist' },
    against: { type: 'string' },
    iterations: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '7' }
  }
})
const ITERATIONS = Number(args.iterations)
const ROUNDS = Number(args.rounds)

async function stagesOf (dist) {
  const load = (file) => import(pathToFileURL(path.resolve(dist, file)).href)
  const { readAuthZDocument } = await load('protocol/authz-document.js')
  const { readRequest } = await load('authz/read-request.js')
  const { IdentityResolver } = await load('identity/resolve.js')
  const { TokenVerifier, issueToken } = await load('identity/tokens.js')
  const { ResponseCorrelator } = await load('authz/correlate.js')
  const { sealRecord } = await load('audit/chain.js')

  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const settings = { algorithm: 'ES256', issuer: 'portcullis', audience: 'docker' }
  const token = issueToken(privateKey.export({ type: 'pkcs8', format: 'pem' }), settings, 'alice', 3600)
  const identities = new IdentityResolver(new TokenVerifier(publicKey.export({ type: 'spki', format: 'pem' }), settings), 'internal-secret')
  const text = JSON.stringify(execCreateRequest({ container: 'bench-target', token })) + '\n'
  const responseText = JSON.stringify({ ...JSON.parse(text), ResponseStatusCode: 201, ResponseBody: Buffer.from('{"Id":"abc"}').toString('base64') })
  const sample = readAuthZDocument(text, 'request').request
  const facts = readRequest(sample)
  const input = {
    kind: 'decision', user: 'alice', authMethod: 'jwt', tokenId: '0f0e0d0c-1234-4abc-8def-000000000000', action: facts.action,
    project: 'payments', role: 'developer', resource: 'container bench-target (6bb21ffec17d)', method: 'POST',
    uri: sample.RequestUri, decision: 'allow', reason: 'developer in payments may container.exec', code: 'ALLOWED',
    fields: { ...facts.auditFields, projectSource: 'label' }
  }
  const correlator = new ResponseCorrelator()
  let seq = 0
  return {
    'parse the AuthZReq document': () => readAuthZDocument(text, 'request'),
    'identity (cached token)': () => identities.resolve(JSON.parse(text)),
    'request facts (route, body)': () => readRequest(JSON.parse(text)),
    'pair AuthZReq and AuthZRes': () => {
      correlator.remember(JSON.parse(text), ++seq)
      correlator.take(JSON.parse(responseText))
    },
    'seal the record': () => sealRecord(input, ++seq, '2026-12-05T18:00:00.000Z', 'ab'.repeat(32)),
    'JSON.parse alone (subtracted from the lines that parse)': () => JSON.parse(text)
  }
}

function timeOne (fn) {
  const start = process.hrtime.bigint()
  for (let i = 0; i < ITERATIONS; i++) fn()
  return Number(process.hrtime.bigint() - start) / ITERATIONS
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const builds = [args.dist, ...(args.against !== undefined ? [args.against] : [])]
const stages = await Promise.all(builds.map(stagesOf))
const names = Object.keys(stages[0])
const samples = builds.map(() => Object.fromEntries(names.map((name) => [name, []])))
for (const build of stages) for (const name of names) timeOne(build[name]) // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const name of names) {
    for (let b = 0; b < builds.length; b++) {
      const which = round % 2 === 0 ? b : builds.length - 1 - b
      samples[which][name].push(timeOne(stages[which][name]))
    }
  }
}
console.log(`per call, median of ${ROUNDS} rounds of ${ITERATIONS}: ${builds.join(' vs. ')}`)
for (const name of names) {
  const medians = samples.map((s) => median(s[name]))
  const ratio = medians.length === 2 ? `  ${(medians[0] / medians[1]).toFixed(2)}×` : ''
  console.log(`${name.padEnd(58)} ${medians.map((m) => `${(m / 1000).toFixed(2)} µs`).join(' vs. ')}${ratio}`)
}
