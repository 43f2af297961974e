// Assembles the daemon: policy, identity, Docker look-ups, audit store, the plugin socket and the admin socket;
// and takes them down in the reverse order so every pending audit write lands before exit.

import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type http from 'node:http'
import type { Logger } from 'pino'
import { recoverInterruptedSessions } from './audit/sessions.js'
import { AuditStore } from './audit/store.js'
import { AuditUpkeep, loadAuditSigningKey } from './audit/upkeep.js'
import { Authorizer } from './authz/authorizer.js'
import { createAdminApp, listenAdmin, type BridgeStatus } from './admin/server.js'
import { ensureHostKey } from './bridge/host-key.js'
import { BridgeServer } from './bridge/server.js'
import { BridgeTargets } from './bridge/targets.js'
import { DockerClient, parseDockerHost } from './docker/client.js'
import { GrantSessions } from './elevation/grant-sessions.js'
import { createElevationApp, DEFAULT_ELEVATION_LISTEN, isLoopback, listenElevation, parseListen } from './elevation/http-api.js'
import { ElevationService } from './elevation/service.js'
import { ResourceResolver } from './docker/resolver.js'
import { Adoption } from './ownership/adopt.js'
import { OwnershipRegistry } from './ownership/registry.js'
import { BridgeGrants } from './identity/bridge-grants.js'
import { readKey, readTokenSettings } from './identity/keys.js'
import { IdentityResolver } from './identity/resolve.js'
import { TokenVerifier } from './identity/tokens.js'
import { PolicySource } from './policy/source.js'
import { createPluginServer, shutdownPluginServer } from './protocol/server.js'
import { prepareSocketPath } from './protocol/unix-socket.js'
import { KNOWN_ACTIONS } from './routes/table.js'
import { VERSION } from './version.js'

export interface ServeOptions {
  config: string
  socket: string
  data: string
  adminSocket: string
  keys: string
  dockerHost: string
  pluginName: string
  /** Where the elevation API for users listens (`HOST:PORT`), or `off`. Default 127.0.0.1:2224. */
  elevationListen?: string
}

export interface RunningDaemon {
  close: () => Promise<void>
}

export async function startDaemon (options: ServeOptions, logger: Logger): Promise<RunningDaemon> {
  const policy = new PolicySource(options.config, KNOWN_ACTIONS)
  const elevationListen = parseListen(options.elevationListen ?? DEFAULT_ELEVATION_LISTEN)

  let tokens: TokenVerifier | null = null
  if (existsSync(join(options.keys, 'token.pub'))) {
    tokens = new TokenVerifier(readKey(options.keys, 'publicKey'), readTokenSettings(options.keys))
  } else {
    logger.warn({ keys: options.keys }, 'no token key: every caller without a TLS identity is anonymous. Run `portcullis keys init`.')
  }

  // A fresh secret per process marks portcullis's own look-ups; nobody else can know it.
  const internalSecret = randomBytes(32).toString('hex')
  const docker = new DockerClient(parseDockerHost(options.dockerHost), internalSecret)
  const resolver = new ResourceResolver(docker, { logger })
  const audit = await AuditStore.open(options.data, { logger })
  const auditKey = loadAuditSigningKey(options.keys, logger)
  const upkeep = auditKey === null ? null : new AuditUpkeep({ store: audit, key: auditKey, settings: () => policy.current.audit, logger })
  const owners = await OwnershipRegistry.open(audit.db, logger)
  // Adopting existing objects (first start only) needs the plugin serving: it starts once the socket listens.
  const adoption = new Adoption(owners, docker, audit, logger)
  resolver.useOwnership(owners, () => adoption.inFlight)
  const grants = new BridgeGrants()
  const elevation = await ElevationService.open({ audit, policy, logger })
  const authorizer = new Authorizer(policy, new IdentityResolver(tokens, internalSecret, grants), resolver, audit, logger, {
    pluginName: options.pluginName,
    grantsFor: (user, now) => elevation.activeGrants(user, now),
    owners,
    // Called only once the plugin serves, after bridgeStatus is declared: a bridge that failed to bind is off too.
    bridgeListening: () => bridgeStatus !== null && bridgeStatus.error === undefined
  })

  await audit.append({ kind: 'system', action: 'portcullis.start', reason: `portcullis ${VERSION} started with policy ${policy.path}`, fields: { policyDigest: policy.current.digest, pid: process.pid } })
  // After the start record: what ran out while portcullis was stopped is recorded in this run.
  await elevation.start()

  policy.on('reload', (outcome) => {
    if (outcome.ok && !outcome.changed) return
    if (outcome.ok) logger.info({ digest: outcome.digest }, 'policy reloaded')
    else logger.error({ error: outcome.error }, 'policy reload refused; keeping the last good policy')
    audit.append({
      kind: 'system',
      action: outcome.ok ? 'policy.reload' : 'policy.reload-failed',
      reason: outcome.ok ? `policy reloaded from ${policy.path}` : `policy edit refused, last good policy kept: ${outcome.error ?? ''}`,
      fields: { policyDigest: outcome.digest }
    }).catch((err: unknown) => logger.error({ err }, 'could not record the policy reload'))
  })
  // Sessions the last run could not close (it crashed or was killed) get their end record now.
  const interrupted = await recoverInterruptedSessions(audit, logger)
  if (interrupted.length > 0) logger.warn({ sessions: interrupted }, 'recorded SSH sessions that the previous run left open as interrupted')
  policy.watch()
  const onHup = (): void => { policy.reload() }
  process.on('SIGHUP', onHup)

  let bridge: BridgeServer | null = null
  let bridgeStatus: BridgeStatus | null = null
  const admin = await listenAdmin(createAdminApp({
    audit,
    policy,
    logger,
    auditKey,
    startedAt: new Date(),
    version: VERSION,
    bridge: () => bridgeStatus === null ? null : { ...bridgeStatus, sessions: bridge?.sessions ?? 0 },
    elevation
  }), await prepared(options.adminSocket, 0o700))

  const plugin = createPluginServer(authorizer, logger)
  await listen(plugin, await prepared(options.socket, 0o755))
  chmodSync(options.socket, 0o660)
  resolver.start()
  adoption.start()
  upkeep?.start()

  const grantSessions = new GrantSessions(elevation)
  const bridgeSettings = policy.current.bridge
  if (bridgeSettings.enabled) {
    const { key, created } = ensureHostKey(options.keys)
    if (created) logger.info({ fingerprint: key.fingerprint, path: key.path }, 'made the SSH bridge host key')
    bridge = new BridgeServer({
      policy,
      audit,
      targets: new BridgeTargets(authorizer, docker),
      grants,
      endpoint: docker.endpoint,
      logger,
      host: bridgeSettings.hostname ?? hostname(),
      port: bridgeSettings.port,
      live: new Set(),
      grantSessions
    }, key)
    try {
      const address = await bridge.listen(bridgeSettings.host, bridgeSettings.port)
      bridgeStatus = { listen: `${address.address}:${address.port}`, hostKey: key.fingerprint, sessions: 0 }
      logger.info({ address: address.address, port: address.port, fingerprint: key.fingerprint }, 'SSH bridge listening')
    } catch (err) {
      // The plugin keeps deciding: without it the daemon refuses every call, which is worse than no bridge.
      bridge = null
      bridgeStatus = { listen: `${bridgeSettings.host}:${bridgeSettings.port}`, hostKey: key.fingerprint, sessions: 0, error: (err as Error).message }
      logger.error({ err }, 'the SSH bridge could not start; the plugin runs without it')
      await audit.append({ kind: 'system', action: 'bridge.failed', reason: (err as Error).message })
    }
  }
  policy.on('reload', (outcome) => {
    const now = policy.current.bridge
    if (outcome.ok && outcome.changed && (now.enabled !== bridgeSettings.enabled || now.host !== bridgeSettings.host || now.port !== bridgeSettings.port)) {
      logger.warn('bridge.enabled or bridge.listen changed: restart portcullis to apply it (the other bridge settings apply to new sessions now)')
    }
  })
  let elevationServer: http.Server | null = null
  if (elevationListen !== null) {
    try {
      const listening = await listenElevation(createElevationApp(elevation, tokens, logger), elevationListen.host, elevationListen.port)
      elevationServer = listening.server
      logger.info({ address: listening.address.address, port: listening.address.port }, 'elevation API listening')
      if (!isLoopback(elevationListen.host)) logger.warn({ host: elevationListen.host }, 'the elevation API listens beyond loopback over plain HTTP: tokens would cross the network in clear; put TLS in front of it or listen on 127.0.0.1')
    } catch (err) {
      // As with the bridge: the plugin keeps deciding (grants keep counting and ending), only the API is missing.
      logger.error({ err }, 'the elevation API could not start; the plugin runs without it')
      await audit.append({ kind: 'system', action: 'elevation.failed', reason: (err as Error).message })
    }
  }
  logger.info({ socket: options.socket, admin: options.adminSocket, data: options.data, policy: policy.path }, 'portcullis is serving')

  return {
    async close () {
      process.off('SIGHUP', onHup)
      policy.close()
      // Sessions end first, while the daemon and the plugin socket can still stop their processes and judge calls.
      await bridge?.close()
      resolver.stop()
      adoption.stop()
      await shutdownPluginServer(plugin, options.socket)
      await closeServer(admin)
      if (elevationServer !== null) await closeServer(elevationServer)
      grantSessions.close()
      await elevation.close()
      docker.close()
      await audit.append({ kind: 'system', action: 'portcullis.stop', reason: 'portcullis stopped' }).catch(() => {})
      // Signs the stop record too, so the trail ends on a signature.
      await upkeep?.close()
      await audit.close()
    }
  }
}

async function prepared (path: string, dirMode: number): Promise<string> {
  await prepareSocketPath(path, dirMode)
  return path
}

function listen (server: http.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

function closeServer (server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeIdleConnections()
    setTimeout(() => server.closeAllConnections(), 2000).unref()
  })
}
