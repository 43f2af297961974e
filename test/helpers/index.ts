// One call gives an e2e test the whole stack: portcullis serving a policy, a private dockerd that asks it
// about every call, a token per user, and the busybox image imported.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createDocker, type DockerResult, type DockerRunOptions } from './docker-cli.js'
import { dockerdPaths, removeDirSync, startDockerd, type Dockerd } from './dockerd.js'
import { importBusyboxImage } from './image.js'
import { portcullisCliOk, startPortcullis, type Portcullis } from './portcullis.js'

export * from './docker-cli.js'
export * from './dockerd.js'
export * from './image.js'
export * from './portcullis.js'

export interface StackOptions {
  /** The policy document, written as JSON and passed to `serve --config`. */
  policy: object
  /** Users to issue tokens for. An `admin` token is added when the policy names `admin`. */
  users: string[]
  /** Who imports the test image; needs a role that allows `image.import`. Default: `admin` if present, else users[0]. */
  importAs?: string
  /** Legacy plugin name; unique per stack when omitted. */
  pluginName?: string
  tokenTtl?: string
  /** The plugin's audit store directory (e.g. a small tmpfs, to see what a full disk does); default in the stack's dir. */
  dataDir?: string
  /** `host:port` for the plugin's access-request API (`portcullis request …`); off when not given. */
  elevationListen?: string
  /** More `serve` options, e.g. `['--fleet', url]`. */
  extraArgs?: string[]
}

export interface Stack {
  dir: string
  policyFile: string
  keysDir: string
  dockerd: Dockerd
  plugin: Portcullis
  tokens: Record<string, string>
  /** Runs the docker CLI as `user` (with their token), or with no token when `user` is null. */
  docker(user: string | null, args: string[], options?: DockerRunOptions): Promise<DockerResult>
  /** Stops dockerd, then the plugin, and removes the stack's dir. */
  stop(): Promise<void>
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-stack-'))
  const policyFile = path.join(dir, 'policy.json')
  const keysDir = path.join(dir, 'keys')
  const dockerdDir = path.join(dir, 'dockerd')
  await mkdir(dockerdDir)
  await writeFile(policyFile, JSON.stringify(options.policy, null, 2))

  let plugin: Portcullis | undefined
  let dockerd: Dockerd | undefined
  const stop = async (): Promise<void> => {
    try {
      await dockerd?.stop()
    } finally {
      try {
        await plugin?.stop()
      } finally {
        removeDirSync(dir)
      }
    }
  }

  try {
    await portcullisCliOk(['keys', 'init', '--keys', keysDir])
    const tokens = await issueTokens(keysDir, usersToIssue(options), options.tokenTtl ?? '1h')

    plugin = await startPortcullis({
      dir: path.join(dir, 'plugin'),
      policyFile,
      keysDir,
      dockerSocket: dockerdPaths(dockerdDir).socket,
      name: options.pluginName,
      dataDir: options.dataDir,
      elevationListen: options.elevationListen,
      extraArgs: options.extraArgs,
    })
    dockerd = await startDockerd({ dir: dockerdDir, authorizationPlugin: plugin.name })

    const docker = createDocker({ socket: dockerd.socket, configRoot: path.join(dir, 'docker-config') })
    const tokenOf = (user: string): string => {
      const token = tokens[user]
      if (token === undefined) throw new Error(`no token for user ${user}; list them in startStack({ users })`)
      return token
    }

    const importer = options.importAs ?? (tokens.admin !== undefined ? 'admin' : options.users[0])
    await importBusyboxImage(docker, { token: importer === undefined ? undefined : tokenOf(importer) })

    return {
      dir,
      policyFile,
      keysDir,
      dockerd,
      plugin,
      tokens,
      docker: (user, args, runOptions = {}) => docker(args, { token: user === null ? undefined : tokenOf(user), ...runOptions }),
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

function usersToIssue(options: StackOptions): string[] {
  const users = new Set(options.users)
  if (mentions(options.policy, 'admin')) users.add('admin')
  return [...users]
}

/** True when `value` appears anywhere in the policy, as a key or a string. */
function mentions(node: unknown, value: string): boolean {
  if (typeof node === 'string') return node === value
  if (Array.isArray(node)) return node.some((item) => mentions(item, value))
  if (node !== null && typeof node === 'object') {
    return Object.entries(node).some(([key, child]) => key === value || mentions(child, value))
  }
  return false
}

async function issueTokens(keysDir: string, users: string[], ttl: string): Promise<Record<string, string>> {
  const tokens: Record<string, string> = {}
  for (const user of users) {
    const stdout = await portcullisCliOk(['token', 'issue', '--keys', keysDir, '--user', user, '--ttl', ttl])
    const token = stdout.trim().split('\n').pop()?.trim()
    if (!token) throw new Error(`token issue for ${user} printed nothing on stdout`)
    tokens[user] = token
  }
  return tokens
}
