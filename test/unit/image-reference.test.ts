import { describe, expect, it } from 'vitest'
import { isImageId, normalizePattern, parseImageReference } from '../../src/core/image-reference.js'
import { compileImageRules, imageRuleWarnings, registryRefusal } from '../../src/core/image-rules.js'

const repo = (text: string): string => {
  const parsed = parseImageReference(text)
  if ('error' in parsed) throw new Error(parsed.error)
  return parsed.repository
}

describe('image references are normalized as dockerd reads them', () => {
  it('official images live under docker.io/library', () => {
    for (const name of ['busybox', 'busybox:1.36', 'library/busybox', 'docker.io/busybox', 'docker.io/library/busybox:latest', 'index.docker.io/library/busybox']) {
      expect(repo(name)).toBe('docker.io/library/busybox')
    }
  })
  it('a user repository on Docker Hub keeps its namespace', () => {
    expect(repo('payments/app')).toBe('docker.io/payments/app')
    expect(repo('docker.io/payments/app:2')).toBe('docker.io/payments/app')
    expect(repo('payments/app@sha256:' + 'a'.repeat(64))).toBe('docker.io/payments/app')
  })
  it('the first part is a registry only if it has a dot or a port, or is localhost', () => {
    expect(repo('registry.example.com/payments/app:1')).toBe('registry.example.com/payments/app')
    expect(repo('localhost:5000/payments/app')).toBe('localhost:5000/payments/app')
    expect(repo('localhost/payments')).toBe('localhost/payments')
    expect(repo('payments/team/app')).toBe('docker.io/payments/team/app')
  })
  it('tag and digest are not part of the repository', () => {
    const parsed = parseImageReference('registry.example.com:5000/a/b:v1@sha256:' + 'b'.repeat(64))
    expect(parsed).toMatchObject({ domain: 'registry.example.com:5000', path: 'a/b', tag: 'v1', digest: 'sha256:' + 'b'.repeat(64) })
  })
  it('refuses what dockerd would not read as a name', () => {
    for (const bad of ['', 'Payments/App', 'payments//app', 'payments/app:', '-app', 'a'.repeat(64), 'sha256:' + 'c'.repeat(64), 'x/y@sha256:short', `x/${'a'.repeat(300)}`]) {
      expect(parseImageReference(bad), bad).toHaveProperty('error')
    }
  })
  it('knows a full image ID', () => {
    expect(isImageId('sha256:' + 'd'.repeat(64))).toBe(true)
    expect(isImageId('d'.repeat(64))).toBe(true)
    expect(isImageId('d'.repeat(12))).toBe(false)
  })
  it('normalizes patterns the same way', () => {
    expect(normalizePattern('payments/*')).toBe('docker.io/payments/*')
    expect(normalizePattern('registry.example.com/payments/*')).toBe('registry.example.com/payments/*')
    expect(normalizePattern('redis')).toBe('docker.io/library/redis')
  })
})

describe('repository patterns give images a project', () => {
  const rules = compileImageRules({
    payments: { images: ['payments/*', 'registry.example.com/payments/*'] },
    web: { images: ['web/*'] },
    shared: { images: ['common/*'] },
    greedy: { images: ['common/base'] },
    other: {}
  }, { registries: ['docker.io', 'Registry.Example.com'] })

  it('matches normalized names, nested paths included', () => {
    expect(rules.enabled).toBe(true)
    expect(rules.ownerOf(repo('payments/app'))).toEqual({ project: 'payments' })
    expect(rules.ownerOf(repo('docker.io/payments/app:1'))).toEqual({ project: 'payments' })
    expect(rules.ownerOf(repo('payments/team/app'))).toEqual({ project: 'payments' })
    expect(rules.ownerOf(repo('registry.example.com/payments/app'))).toEqual({ project: 'payments' })
  })
  it('a look-alike is not the project\'s', () => {
    expect(rules.ownerOf(repo('payments'))).toEqual({ project: null, matches: [] })
    expect(rules.ownerOf(repo('paymentsx/app'))).toEqual({ project: null, matches: [] })
    expect(rules.ownerOf(repo('registry.example.com:5000/payments/app'))).toEqual({ project: null, matches: [] })
    expect(rules.ownerOf(repo('evil.com/payments/app'))).toEqual({ project: null, matches: [] })
  })
  it('a name several projects match belongs to none of them', () => {
    expect(rules.ownerOf(repo('common/base'))).toEqual({ project: null, matches: ['shared', 'greedy'] })
  })
  it('is off when no project defines images, and validate warns', () => {
    expect(compileImageRules({ a: {} }, undefined).enabled).toBe(false)
    expect(imageRuleWarnings({ a: {} })[0]).toMatch(/no project defines `images`/)
    expect(imageRuleWarnings({ a: { images: ['a/*'] }, b: {} })[0]).toMatch(/project b defines no `images`/)
  })
  it('the registry allowlist compares normalized hosts', () => {
    const check = (name: string): string | null => {
      const parsed = parseImageReference(name)
      if ('error' in parsed) throw new Error(parsed.error)
      return registryRefusal(rules, parsed)
    }
    expect(check('busybox')).toBeNull()
    expect(check('index.docker.io/library/busybox')).toBeNull()
    expect(check('registry.example.com/payments/app')).toBeNull()
    expect(check('quay.io/coreos/etcd')).toMatch(/registry quay.io is not in the policy's images.registries/)
    expect(check('registry.example.com:5000/x')).toMatch(/not in the policy/)
  })
})
