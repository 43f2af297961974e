// The plugin's decision path in process: Authorizer.authorizeRequest for alice's `docker exec bench-target ls /`
// (a JWT, bench/authz-request.js), with the container's look-up answered at once and the record taken by an
// in-memory audit log, so what is timed (CPU per call) is reading, identity, facts, policy and the record's fields: the part a
// reshaping of those could make slower. Two builds take turns, so a change is a ratio from one run.
//
//   node bench/decision-path.js [--dist DIR] [--against DIR] [--calls N] [--rounds N]

import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { execCreateRequest } from './authz-request.js'

const { values: args } = parseArgs({
  options: {
    dist: { type: 'string', default: 'dist' },
    against: { type: 'string' },
    calls: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '5' }
  }
})
const CALLS = Number(args.calls)
const ROUNDS = Number(args.rounds)
/** Each build with its own example policy: an older build refuses fields added since. */
const policyOf = (dist) => JSON.parse(readFileSync(path.resolve(dist, '..', 'examples', 'policy.json'), 'utf8'))

async function authorizerOf (dist) {
  const load = (file) => import(pathToFileURL(path.resolve(dist, file)).href)
  const { Authorizer } = await load('authz/authorizer.js')
  const { IdentityResolver } = await load('identity/resolve.js')
  const { TokenVerifier, issueToken } = await load('identity/tokens.js')
  const { compilePolicy } = await load('policy/compile.js')
  const { pino } = await import('pino')
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const settings = { algorithm: 'ES256', issuer: 'portcullis', audience: 'docker' }
  const token = issueToken(privateKey.export({ type: 'pkcs8', format: 'pem' }), settings, 'alice', 3600)
  const identities = new IdentityResolver(new TokenVerifier(publicKey.export({ type: 'spki', format: 'pem' }), settings), 'internal-secret')
  const target = { ref: { kind: 'container', ref: 'bench-target' }, exists: true, id: '6bb21ffec17d'.padEnd(64, '0'), project: 'payments' }
  const resources = { resolve: (facts) => Promise.resolve({ target: { ...target, ref: facts.target }, references: [] }) }
  let seq = 0
  const audit = { failure: null, closing: false, append: () => Promise.resolve({ seq: ++seq }) }
  const authorizer = new Authorizer({ current: compilePolicy(policyOf(dist)) }, identities, resources, audit, pino({ enabled: false }), { pluginName: 'portcullis' })
  const document = JSON.stringify(execCreateRequest({ container: 'bench-target', token }))
  const first = await authorizer.authorizeRequest(JSON.parse(document))
  if (!first.Allow) throw new Error(`${dist}: the bench request is refused: ${first.Msg}`)
  return async () => {
    // CPU time, not wall time: on a shared machine a round that waits for a core would otherwise count the wait.
    const start = process.cpuUsage()
    for (let i = 0; i < CALLS; i++) await authorizer.authorizeRequest(JSON.parse(document))
    const used = process.cpuUsage(start)
    return (used.user + used.system) * 1000 / CALLS
  }
}

const builds = [args.dist, ...(args.against !== undefined ? [args.against] : [])]
const runs = await Promise.all(builds.map(authorizerOf))
const samples = builds.map(() => [])
for (const run of runs) await run() // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (let b = 0; b < builds.length; b++) {
    const which = round % 2 === 0 ? b : builds.length - 1 - b
    samples[which].push(await runs[which]())
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const medians = samples.map(median)
console.log(`authorizeRequest CPU per call, median of ${ROUNDS} rounds of ${CALLS} calls: ${builds.join(' vs. ')}`)
console.log(`${medians.map((m) => `${(m / 1000).toFixed(2)} µs`).join(' vs. ')}${medians.length === 2 ? `  ${(medians[0] / medians[1]).toFixed(3)}×` : ''}` +
  `  (all rounds: ${samples.map((s) => s.map((x) => (x / 1000).toFixed(2)).join(' ')).join(' | ')})`)
