// BuildKit cache mounts are one store per daemon: a build by a role that is not unsafe names its project's cache
// namespace (BUILDKIT_CACHE_MOUNT_NS) and is judged in that project. examples/policy.json: alice developer of
// payments, bob developer of web, ops global unsafe admin.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { AuthZRequest, Identity } from '../../src/core/types.js'
import { readRequest } from '../../src/authz/read-request.js'
import { compilePolicy } from '../../src/policy/compile.js'
import { decide } from '../../src/core/decide.js'

const policy = compilePolicy(JSON.parse(readFileSync(new URL('../../examples/policy.json', import.meta.url), 'utf8')))
const as = (user: string): Identity => ({ user, method: 'jwt' })
const options = { pluginName: 'portcullis' }

function build (query: string) {
  const req: AuthZRequest = { RequestMethod: 'POST', RequestUri: `/v1.41/build?${query}`, RequestHeaders: { 'Content-Type': 'application/x-tar' } }
  return readRequest(req)
}
const args = (value: Record<string, unknown>): string => `buildargs=${encodeURIComponent(JSON.stringify(value))}`

describe('a BuildKit build\'s cache namespace', () => {
  it('is read from the first buildargs, exact key, as Go reads a map', () => {
    expect(build(`version=2&${args({ BUILDKIT_CACHE_MOUNT_NS: 'payments' })}`).buildKit).toEqual({ cacheNamespace: 'payments' })
    expect(build(`version=2&${args({ buildkit_cache_mount_ns: 'payments' })}`).buildKit).toEqual({ cacheNamespace: null })
    expect(build(`version=2&${args({ BUILDKIT_CACHE_MOUNT_NS: 'web' })}&${args({ BUILDKIT_CACHE_MOUNT_NS: 'payments' })}`).buildKit).toEqual({ cacheNamespace: 'web' })
    expect(build(`version=1&${args({ BUILDKIT_CACHE_MOUNT_NS: 'payments' })}`).buildKit).toBeUndefined()
    expect(build('t=payments/app').buildKit).toBeUndefined()
  })

  it('is required of roles that are not unsafe, and the refusal names the build argument', () => {
    const d = decide(policy, as('alice'), build('version=2&t=payments%2Fapp'), { references: [] }, options)
    expect(d).toMatchObject({ allow: false, code: 'BUILD_CACHE_NAMESPACE' })
    expect(d.reason).toContain('--build-arg BUILDKIT_CACHE_MOUNT_NS=<project>')
    expect(decide(policy, as('ops'), build('version=2&t=payments%2Fapp'), { references: [] }, options)).toMatchObject({ allow: true })
  })

  it('judges the build in the project it names, which must be the project of the images it tags', () => {
    expect(decide(policy, as('alice'), build(`version=2&t=payments%2Fapp&${args({ BUILDKIT_CACHE_MOUNT_NS: 'payments' })}`), { references: [] }, options))
      .toMatchObject({ allow: true, project: 'payments' })
    expect(decide(policy, as('alice'), build(`version=2&${args({ BUILDKIT_CACHE_MOUNT_NS: 'payments' })}`), { references: [] }, options))
      .toMatchObject({ allow: true, project: 'payments' })
    expect(decide(policy, as('alice'), build(`version=2&${args({ BUILDKIT_CACHE_MOUNT_NS: 'web' })}`), { references: [] }, options))
      .toMatchObject({ allow: false, code: 'NOT_MEMBER' })
    expect(decide(policy, as('alice'), build(`version=2&t=payments%2Fapp&${args({ BUILDKIT_CACHE_MOUNT_NS: 'web' })}`), { references: [] }, options))
      .toMatchObject({ allow: false, code: 'BUILD_CACHE_NAMESPACE' })
    expect(decide(policy, as('alice'), build(`version=2&${args({ BUILDKIT_CACHE_MOUNT_NS: 'nope' })}`), { references: [] }, options))
      .toMatchObject({ allow: false, code: 'UNKNOWN_PROJECT' })
  })

  it('classic builds are unchanged; their extrahosts need an unsafe role (the layer cache ignores them)', () => {
    expect(decide(policy, as('alice'), build('t=payments%2Fapp'), { references: [] }, options)).toMatchObject({ allow: true })
    expect(decide(policy, as('alice'), build(`t=payments%2Fapp&extrahosts=${encodeURIComponent('h:10.0.0.1')}`), { references: [] }, options))
      .toMatchObject({ allow: false, code: 'UNSAFE_REQUIRED' })
  })
})
