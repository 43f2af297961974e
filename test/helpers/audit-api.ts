// The auditors' audit API (docs/audit-access.md) in tests: a serve with its elevation API on a free loopback port,
// tokens issued from the workspace's keys, and the trail read back through the admin socket.
import { existsSync } from 'node:fs'
import { portcullisCliOk } from './index.js'
import type { ServePaths, ServeWorkspace, StartedServe } from './serve-workspace.js'
import { freeTcpPort } from './tls.js'
import { waitUntil } from './wait.js'

/** Starts serve with `--elevation-listen` on a free port; resolves once its admin socket and API answer. */
export async function startServeWithApi (workspace: ServeWorkspace, paths: ServePaths): Promise<{ serve: StartedServe, port: number, url: string }> {
  const port = await freeTcpPort()
  const url = `http://127.0.0.1:${port}`
  const serve = await workspace.startServe(paths.dir, paths.data, { extra: ['--elevation-listen', `127.0.0.1:${port}`] })
  await waitUntil('the admin socket', () => existsSync(paths.admin), { timeoutMs: 30_000 })
  // Any answer will do; a path no route takes, so the probe is no refused sign-in on the record.
  await waitUntil('the API', () => fetch(`${url}/ready`).then(() => true, () => false), { timeoutMs: 30_000 })
  return { serve, port, url }
}

/** A token for `user` from the workspace's key, and its ID (jti) as records name it. */
export async function issueUserToken (workspace: ServeWorkspace, user: string): Promise<{ token: string, id: string }> {
  const token = (await portcullisCliOk(['token', 'issue', '--keys', workspace.keysDir, '--user', user, '--ttl', '1h'])).trim()
  return { token, id: JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).jti as string }
}
