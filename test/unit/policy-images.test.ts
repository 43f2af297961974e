// Images belong to projects by repository name (examples/policy.json: payments/*, web/*), and pulls and creates
// may name only allowed registries.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { Identity, RequestFacts, ResolvedResource, ResourceFacts } from '../../src/core/types.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { decide } from '../../src/core/decide.js'
import { readBuildOutputs } from '../../src/request/build-query.js'
import { registryUses } from '../../src/request/registry-uses.js'

const document = JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
const policy = compilePolicy(document)
const options = { pluginName: 'portcullis' }
const as = (user: string): Identity => ({ user, method: 'jwt' })
const none: ResourceFacts = { references: [] }

/** Facts as the reader makes them, registry uses included (src/request/registry-uses.ts). */
function request (action: string, query: Record<string, string[]> = {}, extra: Partial<RequestFacts> = {}): RequestFacts {
  const facts: RequestFacts = { method: 'POST', uri: '/x', path: '/x', query, action, escapes: [], references: [], auditFields: {}, ...extra }
  const { uses } = registryUses(facts)
  return uses.length > 0 ? { ...facts, registryUses: uses } : facts
}

const image = (ref: string, repoTags: string[], repoDigests: string[] = []): ResourceFacts => ({
  target: { ref: { kind: 'image', ref }, exists: true, project: null, id: 'sha256:' + 'e'.repeat(64), repoTags, repoDigests },
  references: []
})

describe('tag, build, import and commit are judged on the new repository\'s project', () => {
  it('a developer tags and builds within her project\'s pattern', () => {
    expect(decide(policy, as('alice'), request('image.tag', { repo: ['payments/app'], tag: ['1'] }), none, options)).toMatchObject({ allow: true, project: 'payments' })
    expect(decide(policy, as('alice'), request('image.build', { t: ['payments/app:2', 'registry.example.com/payments/app:2'] }), none, options)).toMatchObject({ allow: true, project: 'payments' })
  })
  it('a developer cannot retag another project\'s repository', () => {
    const d = decide(policy, as('alice'), request('image.tag', { repo: ['web/site'], tag: ['latest'] }), none, options)
    expect(d).toMatchObject({ allow: false, code: 'NOT_MEMBER', project: 'web' })
    expect(d.reason).toMatch(/repository docker.io\/web\/site belongs to it/)
  })
  it('bob, viewer in payments, cannot tag into payments', () => {
    expect(decide(policy, as('bob'), request('image.tag', { repo: ['docker.io/payments/app'] }), none, options)).toMatchObject({ allow: false, code: 'ROLE_DENIES', project: 'payments' })
  })
  it('a repository no project owns needs a global role, and the refusal says where to tag', () => {
    const d = decide(policy, as('alice'), request('image.tag', { repo: ['busybox'] }), none, options)
    expect(d).toMatchObject({ allow: false, code: 'UNOWNED_RESOURCE' })
    expect(d.reason).toMatch(/matches no project's images pattern/)
    expect(decide(policy, as('ops'), request('image.tag', { repo: ['busybox'] }), none, options)).toMatchObject({ allow: true })
  })
  it('one build may not tag into two projects', () => {
    const d = decide(policy, as('bob'), request('image.build', { t: ['web/a', 'payments/a'] }), none, options)
    expect(d).toMatchObject({ allow: false, code: 'UNOWNED_RESOURCE' })
    expect(d.reason).toMatch(/one project per call/)
  })
  it('an unreadable name is refused, not guessed', () => {
    expect(decide(policy, as('alice'), request('image.tag', { repo: ['Payments/App'] }), none, options)).toMatchObject({ allow: false, code: 'IMAGE_NAME' })
  })
  it('commit needs the container and the repository in the same project', () => {
    const target: ResolvedResource = { ref: { kind: 'container', ref: 'pay-1' }, exists: true, project: 'payments', projectSource: 'registry' }
    const commit = (repo: string): RequestFacts => request('container.commit', { container: ['pay-1'], repo: [repo] }, { target: { kind: 'container', ref: 'pay-1' } })
    expect(decide(policy, as('carol'), commit('payments/snap'), { target, references: [] }, options)).toMatchObject({ allow: true, project: 'payments' })
    const d = decide(policy, as('carol'), commit('web/snap'), { target, references: [] }, options)
    expect(d).toMatchObject({ allow: false, code: 'UNOWNED_RESOURCE' })
    expect(d.reason).toMatch(/use a repository of project payments/)
  })
  it('docker load is for global roles only, and says why', () => {
    const d = decide(policy, as('carol'), request('image.load'), none, options)
    expect(d).toMatchObject({ allow: false, code: 'UNOWNED_RESOURCE' })
    expect(d.reason).toMatch(/inside the tarball/)
  })
})

describe('image.remove is judged on every name it removes', () => {
  it('by name: that name', () => {
    expect(decide(policy, as('carol'), request('image.remove'), image('payments/app:1', ['payments/app:1', 'web/app:1']), options)).toMatchObject({ allow: true, project: 'payments' })
  })
  it('by ID or ID prefix: every tag of the image', () => {
    for (const ref of ['sha256:' + 'e'.repeat(64), 'eeeeeeeeeeee', 'e'.repeat(64)]) {
      const d = decide(policy, as('carol'), request('image.remove'), image(ref, ['payments/app:1', 'web/app:1']), options)
      expect(d, ref).toMatchObject({ allow: false, code: 'UNOWNED_RESOURCE' })
    }
    expect(decide(policy, as('carol'), request('image.remove'), image('eeee', ['payments/app:1']), options)).toMatchObject({ allow: true, project: 'payments' })
  })
  it('an operator of payments cannot remove a web image by ID', () => {
    expect(decide(policy, as('carol'), request('image.remove'), image('eeee', ['web/site:latest']), options)).toMatchObject({ allow: false, code: 'ROLE_DENIES', project: 'web' })
  })
  it('an untagged image belongs to no project', () => {
    expect(decide(policy, as('carol'), request('image.remove'), image('eeee', []), options)).toMatchObject({ allow: false, code: 'UNOWNED_RESOURCE' })
  })
  it('by digest reference: that repository', () => {
    const digest = 'payments/app@sha256:' + 'f'.repeat(64)
    expect(decide(policy, as('carol'), request('image.remove'), image(digest, ['web/app:1'], [digest.replace('payments', 'docker.io/payments')]), options)).toMatchObject({ allow: true, project: 'payments' })
  })
})

describe('registries', () => {
  it('a pull from a registry not in images.registries is refused', () => {
    const d = decide(policy, as('alice'), request('image.pull', { fromImage: ['quay.io/evil/app'], tag: ['1'] }), none, options)
    expect(d).toMatchObject({ allow: false, code: 'REGISTRY_NOT_ALLOWED' })
    expect(d.reason).toMatch(/registry quay.io is not in the policy's images.registries \(docker.io, registry.example.com, localhost:5000\)/)
    expect(decide(policy, as('alice'), request('image.pull', { fromImage: ['busybox'] }), none, options)).toMatchObject({ allow: true })
  })
  it('a create names an allowed registry, or an image ID', () => {
    const create = (image: string): RequestFacts => request('container.create', {}, { labelProject: 'payments', auditFields: { image } })
    expect(decide(policy, as('alice'), create('ghcr.io/x/y'), none, options)).toMatchObject({ allow: false, code: 'REGISTRY_NOT_ALLOWED' })
    expect(decide(policy, as('alice'), create('busybox:portcullis'), none, options)).toMatchObject({ allow: true })
    expect(decide(policy, as('alice'), create('sha256:' + 'a'.repeat(64)), none, options)).toMatchObject({ allow: true })
  })
  it('without an allowlist every registry may be used; without images patterns images belong to no project', () => {
    const open = compilePolicy({ ...document, images: undefined, projects: { payments: { members: { alice: 'developer' } } } })
    expect(decide(open, as('alice'), request('image.pull', { fromImage: ['quay.io/x/y'] }), none, options)).toMatchObject({ allow: true })
    expect(decide(open, as('alice'), request('image.tag', { repo: ['web/site'] }), none, options)).toMatchObject({ allow: true })
  })
})

describe('every call that makes the daemon contact a registry', () => {
  const open = compilePolicy({ ...document, images: undefined })
  it('is judged against images.registries: manifest and plugin look-ups, search, push, a build\'s cache and frontend', () => {
    const refused = [
      request('distribution.inspect', {}, { path: '/distribution/quay.io/x/y/json' }),
      request('plugin.privileges', { remote: ['quay.io/x/plugin:1'] }),
      request('image.search', { term: ['quay.io/nginx'] }),
      request('image.build', { cachefrom: ['["quay.io/x/cache:1"]'] }),
      request('image.build', { buildargs: ['{"BUILDKIT_SYNTAX":"quay.io/x/frontend:1"}'] })
    ]
    for (const facts of refused) expect(decide(policy, as('ops'), facts, none, options)).toMatchObject({ allow: false, code: 'REGISTRY_NOT_ALLOWED' })
    expect(decide(policy, as('ops'), request('image.search', { term: ['nginx'] }), none, options)).toMatchObject({ allow: true })
  })
  it('without the list, a registry on the host itself needs an unsafe role: loopback, localhost, link-local, [::1]', () => {
    for (const registry of ['127.0.0.1:5000', 'localhost:5000', '169.254.169.254', '[::1]:5000', '127.9.9.9']) {
      const d = decide(open, as('bob'), request('distribution.inspect', {}, { path: `/distribution/${registry}/x/json` }), none, options)
      expect(d, registry).toMatchObject({ allow: false, code: 'GRANT_REQUIRED' })
      expect(d.reason).toContain('a service on the host itself: list it in images.registries')
      expect(decide(open, as('ops'), request('distribution.inspect', {}, { path: `/distribution/${registry}/x/json` }), none, options)).toMatchObject({ allow: true })
    }
    expect(decide(open, as('alice'), request('image.build', { cachefrom: ['["127.0.0.1:5000/c:1"]'] }), none, options)).toMatchObject({ code: 'GRANT_REQUIRED' })
    expect(decide(open, as('bob'), request('distribution.inspect', {}, { path: '/distribution/registry.example.com/x/json' }), none, options)).toMatchObject({ allow: true })
  })
  it('a BuildKit output names the image a build writes: judged like -t; unknown exporters need unsafe', () => {
    // The reader reads the outputs (src/authz/read-request.ts); the core judges the names it found.
    const outputs = (json: string): RequestFacts => request('image.build', { outputs: [json] }, { buildOutputs: readBuildOutputs(json).names })
    expect(decide(policy, as('alice'), outputs('[{"Type":"moby","Attrs":{"name":"docker.io/web/stolen:latest"}}]'), none, options))
      .toMatchObject({ allow: false, project: 'web' })
    expect(decide(policy, as('alice'), outputs('[{"type":"moby","attrs":{"name":"payments/app:1,web/x:1"}}]'), none, options)).toMatchObject({ allow: false })
    expect(decide(policy, as('alice'), outputs('[{"Type":"moby","Attrs":{"name":"payments/app:1"}}]'), none, options)).toMatchObject({ allow: true, project: 'payments' })
    expect(decide(policy, as('alice'), outputs('[{"Type":"local","Attrs":{"dest":"/out"}}]'), none, options)).toMatchObject({ allow: true })
  })
})

describe('a pull writes local tags of the repository it names', () => {
  it('a repository a project owns is pulled by its members only', () => {
    expect(decide(policy, as('alice'), request('image.pull', { fromImage: ['payments/app'], tag: ['1'] }), none, options)).toMatchObject({ allow: true, project: 'payments' })
    const d = decide(policy, as('alice'), request('image.pull', { fromImage: ['web/site'] }), none, options)
    expect(d).toMatchObject({ allow: false, code: 'NOT_MEMBER', project: 'web' })
  })
  it('a repository nobody owns (a public base image) is pulled by anyone whose role allows image.pull', () => {
    expect(decide(policy, as('bob'), request('image.pull', { fromImage: ['alpine'], tag: ['3'] }), none, options)).toMatchObject({ allow: true })
  })
})
