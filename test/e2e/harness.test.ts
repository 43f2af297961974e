// The harness itself: a private dockerd starts, runs a container from the imported busybox image, and
// leaves nothing of its own running when stopped.
import { existsSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  createDocker,
  expectDenied,
  expectOk,
  importBusyboxImage,
  isAlive,
  PORTCULLIS_CLI,
  processesUsing,
  removeDirSync,
  startDockerd,
  startStack,
  TEST_IMAGE,
} from '../helpers/index.js'

describe('e2e harness', () => {
  it('runs a busybox container on a private dockerd and stops every process it started', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-harness-'))
    const dockerd = await startDockerd({ dir: path.join(dir, 'dockerd') })
    const containerdPid = dockerd.containerdPid
    try {
      expect(containerdPid).not.toBeNull()
      const docker = createDocker({ socket: dockerd.socket, configRoot: path.join(dir, 'docker-config') })
      await importBusyboxImage(docker)

      const hello = await docker(['run', '--rm', '--network', 'none', TEST_IMAGE, 'echo', 'hi'])
      expectOk(hello)
      expect(hello.stdout).toBe('hi\n')

      // A container left running must not keep the daemon from stopping quickly.
      expectOk(await docker(['run', '-d', '--network', 'none', TEST_IMAGE, 'sleep', '1000']))
    } finally {
      await dockerd.stop()
    }
    try {
      expect(isAlive(dockerd.pid)).toBe(false)
      if (containerdPid !== null) expect(isAlive(containerdPid)).toBe(false)
      expect(processesUsing(dir)).toEqual([])
      expect(existsSync(dockerd.socket)).toBe(false)
    } finally {
      removeDirSync(dir)
    }
  })

  it.skipIf(!existsSync(PORTCULLIS_CLI))('starts the full stack with portcullis as the authorization plugin', async () => {
    const stack = await startStack({
      policy: {
        roles: {
          admin: { allow: ['*'], unsafe: true },
          viewer: { allow: ['system.*', 'container.list'] },
        },
        projects: { smoke: { members: {} } },
        global: { members: { admin: 'admin', alice: 'viewer' } },
      },
      users: ['alice'],
    })
    const pids: number[] = []
    try {
      pids.push(stack.dockerd.pid)
      if (stack.plugin.pid !== null) pids.push(stack.plugin.pid)
      expect(Object.keys(stack.tokens).sort()).toEqual(['admin', 'alice'])

      const run = ['run', '--rm', '--network', 'none', '--label', 'portcullis.project=smoke', TEST_IMAGE]
      const hello = await stack.docker('admin', [...run, 'echo', 'hi'])
      expectOk(hello)
      expect(hello.stdout).toBe('hi\n')

      expectOk(await stack.docker('alice', ['ps']))
      expectDenied(await stack.docker('alice', [...run, 'true']), stack.plugin.name)
      expectDenied(await stack.docker(null, ['ps']), stack.plugin.name)
    } finally {
      await stack.stop()
    }
    expect(pids.filter(isAlive)).toEqual([])
    expect(existsSync(stack.plugin.specFile)).toBe(false)
    expect(existsSync(stack.dir)).toBe(false)
  })
})
