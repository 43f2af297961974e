// The stack most bridge tests need: the bridge on a free loopback port, a known_hosts file that trusts its host key,
// and a running container `pay-1` of project payments to log in to.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { expectOk, startStack, TEST_IMAGE, type Stack, type StackOptions } from './index.js'
import { knownHostsFile } from './ssh.js'

export interface BridgeStackOptions extends StackOptions {
  /** Where the known_hosts file is written. */
  dir: string
  /** The bridge's port (from freeTcpPort). */
  port: number
  /** More `bridge` settings than enabled/listen/hostname. */
  bridge?: Record<string, unknown>
  /** Who runs pay-1 (a user with a role that may run containers in payments). Default: carol. */
  runAs?: string
}

export interface BridgeStack {
  stack: Stack
  knownHosts: string
  /** The `ssh_host_ed25519_key.pub` line. */
  hostKeyLine: string
}

export async function startBridgeStack (options: BridgeStackOptions): Promise<BridgeStack> {
  const { dir, port, bridge, runAs = 'carol', ...stackOptions } = options
  const policy = stackOptions.policy as { bridge?: unknown }
  policy.bridge = { enabled: true, listen: `127.0.0.1:${port}`, hostname: 'dockerhost', ...bridge }
  const stack = await startStack(stackOptions)
  const hostKeyLine = (await readFile(path.join(stack.keysDir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim()
  const knownHosts = await knownHostsFile(dir, port, hostKeyLine)
  expectOk(await stack.docker(runAs, ['run', '-d', '--network', 'none', '--label', 'portcullis.project=payments', '--name', 'pay-1', TEST_IMAGE, 'sleep', '3600']))
  return { stack, knownHosts, hostKeyLine }
}
