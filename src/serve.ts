// Assembles the daemon from components that start in order and stop in reverse order (src/daemon/lifecycle.ts):
// a start that fails at any step undoes the steps before it and exits with the failure's code, and a stop drains
// each part before the parts it relies on go (the plugin socket before the look-ups it needs, every record before
// the store closes).

import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type http from 'node:http'
import type { Logger } from 'pino'
import { recoverInterruptedSessions } from './audit/sessions.js'
import { startDamagedError, verifyAtStart, type StartVerification } from './audit/start-verify.js'
import type { AuditSigningKey } from './audit/signing-key.js'
import { AuditStore } from './audit/store.js'
import { outputSource, recordingShipSource, shipSource } from './audit/ship-source.js'
import { AuditError } from './audit/errors.js'
import { RefusalRecords } from './audit/refusal-records.js'
import { fleetTarget } from './fleet/connection.js'
import { hostIdentity } from './fleet/host-identity.js'
import { RecordingShipper } from './fleet/recording-shipper.js'
import { FleetShipper } from './fleet/shipper.js'
import { PolicyFollower, POLICY_COPY_FILE, startingPolicy, type PolicyFollowerOptions, type StartingPolicy } from './fleet/policy-follower.js'
import { readPolicyPublicKey } from './policy/signed.js'
import { AuditUpkeep, loadAuditSigningKey, type CheckpointOutcome } from './audit/upkeep.js'
import { PeriodicVerify } from './audit/periodic-verify.js'
import { Alerts } from './alerts/alerts.js'
import { AlertMonitors } from './alerts/monitors.js'
import { noteHead } from './audit/head-file.js'
import { Authorizer } from './authz/authorizer.js'
import { auditReadRouter } from './admin/audit-read-routes.js'
import { refusedReadsSummary } from './admin/audit-read-record.js'
import { auditorStanding, identifyAuditor } from './admin/auditor-identity.js'
import { OpenAuditReads } from './admin/open-audit-reads.js'
import { createAdminApp, listenAdmin, type BridgeStatus } from './admin/server.js'
import { ensureHostKey } from './bridge/host-key.js'
import { BridgeServer } from './bridge/server.js'
import { BridgeTargets } from './bridge/targets.js'
import { logAllocator } from './daemon/allocator.js'
import { startInOrder, type Component, type StopCause } from './daemon/lifecycle.js'
import { loadTokenVerifier } from './daemon/token-key.js'
import { DaemonHealth } from './docker/daemon-health.js'
import { DockerClient, parseDockerHost } from './docker/client.js'
import { ResourceResolver } from './docker/resolver.js'
import { GrantSessions } from './elevation/grant-sessions.js'
import { createElevationApp, DEFAULT_ELEVATION_LISTEN, isLoopback, listenElevation, parseListen } from './elevation/http-api.js'
import { ElevationService } from './elevation/service.js'
import { hasPortcullisCode, PortcullisError } from './errors.js'
import { BridgeGrants } from './identity/bridge-grants.js'
import { IdentityResolver } from './identity/resolve.js'
import type { TokenVerifier } from './identity/tokens.js'
import { Adoption } from './docker/adopt.js'
import { OwnershipRegistry } from './ownership/registry.js'
import { PolicySource, type ReloadOutcome } from './policy/source.js'
import { recordedChanges, summarizeChanges } from './policy/policy-diff.js'
import { createPluginServer, shutdownPluginServer } from './protocol/server.js'
import { listenUnixSocket } from './protocol/unix-socket.js'
import { KNOWN_ACTIONS } from './routes/table.js'
import { startOutputs } from './siem/outputs.js'
import type { RecordOutput } from './siem/record-output.js'
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
  /** Start without a token key: every caller without a TLS identity is anonymous. Recorded in `portcullis.start`. */
  allowAnonymous?: boolean
  /** Start even when the start verification finds the audit store damaged. Recorded, with the damage, in `portcullis.start`. */
  acceptDamagedAudit?: boolean
  /** Ship the audit chain to this fleet database (postgresql://…, no password in it). */
  fleetUrl?: string
  /** The fleet database password, else $PORTCULLIS_FLEET_PASSWORD. */
  fleetPasswordFile?: string
  /** The name `fleet status` shows for this host; default the machine's host name. */
  fleetHostName?: string
  /** `fleet`: run the fleet's signed policy revisions (needs fleetUrl and policyKey) instead of the --config file. */
  policyFrom?: 'file' | 'fleet'
  /** The pinned policy public key (policy_ed25519.pub). */
  policyKey?: string
  /** With policyFrom fleet: no policy revision below this one is ever taken. */
  policyMinRevision?: number
}

export interface RunningDaemon {
  close: () => Promise<void>
}

/** Starts every part or none: on a failure, what started is stopped again and the error (with its code) is thrown. */
export async function startDaemon (options: ServeOptions, logger: Logger): Promise<RunningDaemon> {
  const started = await startInOrder(daemonComponents(options, logger), logger)
  logger.info({ socket: options.socket, admin: options.adminSocket, data: options.data, policy: options.config }, 'portcullis is serving')
  logAllocator(logger)
  return { close: started.stop }
}

/**
 * The parts of the daemon, in start order. Each later part may use the earlier ones; each is stopped before
 * them. Values flow between parts through the variables below, set by the part that makes them.
 */
function daemonComponents (options: ServeOptions, logger: Logger): Component[] {
  const elevationListen = parseListen(options.elevationListen ?? DEFAULT_ELEVATION_LISTEN)
  // A fresh secret per process marks portcullis's own look-ups; nobody else can know it.
  const internalSecret = randomBytes(32).toString('hex')
  const grants = new BridgeGrants()

  let policy!: PolicySource
  let follower: PolicyFollower | null = null
  let followerOptions: PolicyFollowerOptions | null = null
  let policyStart: StartingPolicy | null = null
  let tokens: TokenVerifier | null = null
  let docker!: DockerClient
  let resolver!: ResourceResolver
  let audit!: AuditStore
  let auditKey: AuditSigningKey | null = null
  let upkeep: AuditUpkeep | null = null
  let shipper: FleetShipper | null = null
  let recordingShipper: RecordingShipper | null = null
  let outputs: RecordOutput[] = []
  let verified: StartVerification | null = null
  let alerts!: Alerts
  let monitors!: AlertMonitors
  let periodicVerify: PeriodicVerify | null = null
  let owners!: OwnershipRegistry
  let adoption!: Adoption
  let elevation!: ElevationService
  let grantSessions!: GrantSessions
  let authorizer!: Authorizer
  let bridge: BridgeServer | null = null
  let bridgeStatus: BridgeStatus | null = null
  const onHup = (): void => { policy.reload() }

  /** The elevation API, with the auditors' audit routes: their refusals through the limiter (summaries written at
   * stop), their open reads limited and ended by a reload that takes an auditor out (docs/audit-access.md). */
  const elevationApi = (): Component => {
    let server: http.Server | null = null
    let refusals: RefusalRecords | null = null
    let onReload: ((outcome: ReloadOutcome) => void) | null = null
    return {
      name: 'elevation API',
      start: async () => {
        if (elevationListen === null) return
        refusals = new RefusalRecords({ audit, logger, summary: refusedReadsSummary })
        const reads = new OpenAuditReads(auditorStanding(policy))
        onReload = (outcome) => {
          if (!outcome.ok) return
          const ended = reads.recheck()
          if (ended > 0) logger.warn({ ended }, 'ended open audit reads of users no longer in audit.auditors')
        }
        policy.on('reload', onReload)
        const auditRoutes = auditReadRouter({ audit, logger, version: VERSION, auditKey, refusals, reads }, identifyAuditor(tokens, policy))
        const listening = await listenElevation(createElevationApp(elevation, tokens, logger, auditRoutes), elevationListen.host, elevationListen.port)
        server = listening.server
        logger.info({ address: listening.address.address, port: listening.address.port }, 'elevation API listening')
        if (!isLoopback(elevationListen.host)) logger.warn({ host: elevationListen.host }, 'the elevation API listens beyond loopback over plain HTTP: tokens would cross the network in clear; put TLS in front of it or listen on 127.0.0.1')
      },
      stop: async () => {
        if (onReload !== null) policy.off('reload', onReload)
        if (server !== null) await closeServer(server)
        // After the last request: every refusal counted so far is in a summary before the store closes.
        await refusals?.close()
      }
    }
  }

  return [
    {
      name: 'policy',
      start: async () => {
        if (options.policyFrom !== 'fleet') {
          policy = new PolicySource(options.config, KNOWN_ACTIONS)
          return
        }
        // The last good copy lives beside --config (which this mode does not read).
        followerOptions = {
          target: fleetTarget(options.fleetUrl ?? '', options.fleetPasswordFile),
          key: readPolicyPublicKey(options.policyKey ?? ''),
          copyPath: join(dirname(resolve(options.config)), POLICY_COPY_FILE),
          knownActions: KNOWN_ACTIONS,
          logger,
          ...(options.policyMinRevision !== undefined ? { minRevision: options.policyMinRevision } : {})
        }
        const starting = await startingPolicy(followerOptions)
        policy = starting.source
        policyStart = starting
      }
    },
    {
      name: 'token key',
      start: () => { tokens = loadTokenVerifier(options.keys, options.allowAnonymous === true, logger, () => policy.current.tokens.maxLifetimeMs) }
    },
    {
      name: 'Docker client',
      start: () => {
        docker = new DockerClient(parseDockerHost(options.dockerHost), internalSecret)
        docker.reportTo(new DaemonHealth(logger))
        resolver = new ResourceResolver(docker, { logger })
      },
      // Last of what talks to the daemon: the plugin socket has drained by now.
      stop: () => docker.close()
    },
    {
      name: 'audit store',
      start: async () => { audit = await AuditStore.open(options.data, { logger }) },
      stop: () => audit.close()
    },
    {
      name: 'audit verification',
      // Before anything is added: a damaged store is refused (or, when the operator accepts it, run on knowingly).
      start: async () => {
        auditKey = loadAuditSigningKey(options.keys, logger)
        verified = await verifyAtStart(audit, auditKey === null ? undefined : [auditKey])
        const accepted = !verified.ok && options.acceptDamagedAudit === true
        if (!verified.ok) logger.error({ damage: verified.damage, firstBad: verified.firstBad, accepted }, accepted ? 'the audit store is damaged; starting anyway (--accept-damaged-audit)' : 'the audit store is damaged; refusing to start')
        if (verified.ok || accepted) return // the result goes into portcullis.start
        // A refused start leaves its reason in the chain too, so the next start (or a reviewer) sees it.
        await audit.append({
          kind: 'system',
          action: 'audit.start-verify',
          reason: `start refused: the audit store is damaged (${verified.damage.length} finding(s)); ${verified.damage[0] ?? ''}`,
          code: 'PORTCULLIS_AUDIT_START_DAMAGED',
          fields: startVerifyFields(verified)
        }).catch((err: unknown) => logger.error({ err }, 'could not record the refused start'))
        throw startDamagedError(options.data, verified)
      }
    },
    {
      name: 'alerts',
      // Before anything that raises one; stopped after every record, so the stop alert has time to go out.
      start: () => {
        alerts = new Alerts({ audit, settings: () => policy.current.alerts, logger, host: hostname() })
        monitors = new AlertMonitors({ alerts, audit, policy, logger })
        monitors.start()
        // No key (it could be neither read nor made): no checkpoint will ever be signed in this run.
        if (auditKey === null) alerts.raise('checkpoint-failed', `no audit signing key in ${options.keys}: no checkpoint is signed while this serve runs; see the log for why, fix it and restart`, { code: 'PORTCULLIS_AUDIT_NO_SIGNING_KEY' })
      },
      stop: async (cause: StopCause) => {
        monitors.stop()
        // A start that failed never reached the stop alert's part (the last one): say it here.
        if (cause.failedAt !== undefined) raiseStopped(alerts, `the start failed at the ${cause.failedAt} (${describe(cause.error)})`)
        await alerts.close(STOP_ALERT_WAIT_MS)
      }
    },
    {
      name: 'fleet shipping',
      // Before anything else appends, so it stops after them all: its stop ships what is left, the stop record too.
      start: () => {
        if (options.fleetUrl === undefined) return
        const target = fleetTarget(options.fleetUrl, options.fleetPasswordFile)
        if (auditKey === null) throw new AuditError('PORTCULLIS_AUDIT_KEY_MISSING', [options.keys, options.keys])
        const identity = hostIdentity(options.keys, auditKey, options.fleetHostName)
        if (identity.created) logger.info({ hostId: identity.hostId, keys: options.keys }, 'made this host\'s fleet host ID')
        shipper = new FleetShipper({
          target,
          identity,
          source: shipSource(audit),
          logger,
          version: VERSION,
          policyDigest: () => policy.current.digest,
          policyRevision: () => policy.revision?.revision ?? null
        })
        shipper.start()
        // Beside it, on its own connection: a long recording never holds up the records.
        recordingShipper = new RecordingShipper({ target, identity, source: recordingShipSource(audit), logger })
        recordingShipper.start()
      },
      stop: async () => { await Promise.all([shipper?.stop(), recordingShipper?.stop()]) }
    },
    {
      name: 'SIEM outputs',
      // Like fleet shipping: before anything else appends, so its stop writes what is left, the stop record too.
      start: async () => { outputs = await startOutputs(policy, outputSource(audit), logger) },
      stop: async () => { await Promise.all(outputs.map(async (output) => { await output.stop() })) }
    },
    {
      name: 'audit checkpoints',
      start: () => {
        upkeep = auditKey === null ? null : new AuditUpkeep({ store: audit, key: auditKey, settings: () => policy.current.audit, logger, onCheckpoint: (outcome) => checkpointAlerts(alerts, outcome, auditKey!.path) })
        upkeep?.start()
      },
      // Signs the stop record too, so the trail ends on a signature.
      stop: async () => { await upkeep?.close() }
    },
    {
      name: 'ownership registry',
      start: async () => {
        owners = await OwnershipRegistry.open(audit.keySpace('ownership'), logger)
        // Adopting existing objects (first start only) needs the plugin serving: it starts once the socket listens.
        adoption = new Adoption(owners, docker, audit, logger)
        resolver.useOwnership(owners, () => adoption.inFlight)
      }
    },
    {
      name: 'start record',
      start: async () => {
        const head = audit.head()
        await audit.append({
          kind: 'system',
          action: 'portcullis.start',
          reason: `portcullis ${VERSION} started with policy ${policy.path}${policy.revision !== null ? ` revision ${policy.revision.revision}` : ''}${startedFrom(policyStart)}${tokens === null ? '; no token key: callers without TLS are anonymous (--allow-anonymous)' : ''}` +
            (verified?.ok === false ? `; the audit store is damaged and the operator accepted it (--accept-damaged-audit): ${verified.damage[0] ?? ''}` : ''),
          fields: {
            head,
            policyDigest: policy.current.digest,
            ...(policy.revision !== null ? { policyRevision: policy.revision.revision, policyPublisher: policy.revision.publisher } : {}),
            ...(policyStart !== null ? { policyStartedFrom: policyStart.from, policyMinRevision: options.policyMinRevision ?? null } : {}),
            ...(policyStart?.copyBelowMinimum !== undefined ? { policyCopyBelowMinimum: policyStart.copyBelowMinimum } : {}),
            pid: process.pid,
            allowAnonymous: options.allowAnonymous === true,
            tokenKey: tokens !== null,
            ...(audit.madePrivate.length > 0 ? { storeMadePrivate: [...audit.madePrivate] } : {}),
            ...(audit.journalReplay.restored.length > 0 ? { journalRestored: audit.journalReplay.restored } : {}),
            ...(audit.journalReplay.problems.length > 0 ? { journalProblems: audit.journalReplay.problems } : {}),
            ...(verified !== null ? { startVerify: startVerifyFields(verified) } : {}),
            ...(verified?.ok === false ? { acceptedDamagedAudit: true } : {})
          }
        })
        noteHead(audit.dir, audit.head(), 'start', logger)
      },
      stop: async (cause: StopCause) => {
        const failed = cause.failedAt === undefined ? '' : `: the start failed at the ${cause.failedAt} (${describe(cause.error)})`
        await audit.append({ kind: 'system', action: 'portcullis.stop', reason: `portcullis stopped${failed}`, fields: { head: audit.head() }, ...(hasPortcullisCode(cause.error) ? { code: cause.error.code } : {}) })
          .catch((err: unknown) => logger.error({ err }, 'could not record the stop'))
        // The stop checkpoint (when there is a signing key) writes it again, signed.
        noteHead(audit.dir, audit.head(), 'stop', logger)
      }
    },
    {
      name: 'periodic verify',
      // After the start record and stopped before the stop record, so no run lands after it.
      start: () => {
        periodicVerify = new PeriodicVerify({
          store: audit,
          keys: auditKey === null ? undefined : [auditKey],
          intervalMs: () => policy.current.audit.verifyIntervalMs,
          logger,
          onResult: (result) => {
            if (result.ok) alerts.resolve('verify-failed', `records ${result.from} to ${result.to} verify`)
            else alerts.raise('verify-failed', result.damage.join('; '), { fields: { from: result.from, to: result.to, ...(result.firstBad !== undefined ? { firstBadSeq: result.firstBad.seq } : {}) } })
          }
        })
        periodicVerify.start()
      },
      stop: async () => { await periodicVerify?.close() }
    },
    {
      name: 'elevation store',
      start: async () => {
        elevation = await ElevationService.open({ audit, policy, logger })
        authorizer = new Authorizer(policy, new IdentityResolver(tokens, internalSecret, grants), resolver, audit, logger, {
          pluginName: options.pluginName,
          grantsFor: (user, now) => elevation.activeGrants(user, now),
          owners,
          // Asked only once the plugin serves, after the bridge part ran: a bridge that failed to bind is off too.
          bridgeListening: () => bridgeStatus !== null && bridgeStatus.error === undefined
        })
      },
      stop: () => elevation.close()
    },
    {
      name: 'elevation grants',
      // After the start record: what ran out while portcullis was stopped is recorded in this run.
      start: async () => {
        await elevation.start()
        grantSessions = new GrantSessions(elevation)
      },
      stop: () => grantSessions.close()
    },
    {
      name: 'policy watch',
      start: async () => {
        policy.on('reload', (outcome) => {
          // An unchanged reload is not a policy.reload; one asked for on the admin socket still says who asked.
          const unchanged = outcome.ok && !outcome.changed
          if (unchanged && outcome.requestedBy === undefined) return
          const revision = outcome.revision !== undefined ? { policyRevision: outcome.revision, policyPublisher: outcome.publisher } : {}
          if (outcome.ok && !unchanged) logger.info({ digest: outcome.digest, ...revision }, 'policy reloaded')
          if (!outcome.ok) logger.error({ error: outcome.error, code: outcome.code, ...revision }, 'policy reload refused; keeping the last good policy')
          audit.append({
            kind: 'system',
            action: unchanged ? 'policy.reload-requested' : outcome.ok ? 'policy.reload' : 'policy.reload-failed',
            reason: reloadReason(policy, outcome),
            ...(outcome.code !== undefined ? { code: outcome.code } : {}),
            fields: { policyDigest: outcome.digest, ...revision, ...(outcome.ok ? recordedChanges(outcome.changes ?? []) : {}), ...(outcome.requestedBy !== undefined ? { requestedBy: outcome.requestedBy } : {}) }
          }).catch((err: unknown) => logger.error({ err }, 'could not record the policy reload'))
        })
        if (followerOptions !== null) {
          follower = new PolicyFollower(policy, {
            ...followerOptions,
            onOutage: (err) => {
              audit.append({
                kind: 'system',
                action: err === null ? 'policy.fleet-reachable' : 'policy.fleet-unreachable',
                reason: err === null
                  ? 'the fleet database is reachable again; following its policy revisions'
                  : `the fleet database is unreachable (${err.message}); the policy in force (revision ${policy.revision?.revision ?? '?'}) stays`,
                ...(err !== null ? { code: err.code } : {}),
                fields: { policyDigest: policy.current.digest, policyRevision: policy.revision?.revision }
              }).catch((e: unknown) => logger.error({ err: e }, 'could not record the fleet outage'))
            }
          })
          // Before the plugin socket listens: a newer revision than the copy started from is in force for the first call.
          await follower.start()
        }
        // Sessions the last run could not close (it crashed or was killed) get their end record now.
        const interrupted = await recoverInterruptedSessions(audit, logger)
        if (interrupted.length > 0) logger.warn({ sessions: interrupted }, 'recorded SSH sessions that the previous run left open as interrupted')
        policy.watch()
        process.on('SIGHUP', onHup)
      },
      stop: async () => {
        process.off('SIGHUP', onHup)
        policy.close()
        await follower?.stop()
      }
    },
    serverComponent('admin socket', async () => await listenAdmin(createAdminApp({
      audit,
      policy,
      logger,
      auditKey,
      startedAt: new Date(),
      version: VERSION,
      bridge: () => bridgeStatus === null ? null : { ...bridgeStatus, sessions: bridge?.sessions ?? 0 },
      fleet: () => shipper?.status() ?? null,
      fleetRecordings: () => recordingShipper?.status() ?? null,
      outputs: () => outputs.map((output) => output.status()),
      elevation,
      keys: options.keys,
      alerts: () => alerts.status()
    }), options.adminSocket)),
    {
      name: 'look-ups',
      start: () => {},
      // Stopped only once the plugin socket has drained: a call in flight may still need a look-up (with the event
      // feed gone, every name would need a fresh one, through the daemon, which asks a plugin that is leaving).
      stop: () => {
        adoption.stop()
        resolver.stop()
      }
    },
    pluginSocketComponent(options.socket, () => authorizer, logger),
    {
      name: 'event feed',
      // The daemon asks the plugin about the feed's own calls, so they start once the plugin socket listens.
      start: () => {
        resolver.start()
        adoption.start()
      }
    },
    {
      name: 'SSH bridge',
      start: async () => {
        const settings = policy.current.bridge
        if (!settings.enabled) return
        try {
          const { key, created } = ensureHostKey(options.keys)
          if (created) logger.info({ fingerprint: key.fingerprint, path: key.path }, 'made the SSH bridge host key')
          bridgeStatus = { listen: `${settings.host}:${settings.port}`, hostKey: key.fingerprint, sessions: 0 }
          bridge = new BridgeServer({
            policy,
            audit,
            recordings: audit,
            targets: new BridgeTargets(authorizer, docker),
            grants,
            docker,
            logger,
            host: settings.hostname ?? hostname(),
            port: settings.port,
            live: new Set(),
            grantSessions
          }, key)
          const address = await bridge.listen(settings.host, settings.port)
          bridgeStatus = { ...bridgeStatus, listen: `${address.address}:${address.port}` }
          logger.info({ address: address.address, port: address.port, fingerprint: key.fingerprint }, 'SSH bridge listening')
        } catch (err) {
          await bridge?.close()
          bridge = null
          if (settings.required) throw err
          // bridge.required: false: the plugin keeps deciding without the bridge, and says so.
          bridgeStatus = { listen: `${settings.host}:${settings.port}`, hostKey: bridgeStatus?.hostKey ?? '', sessions: 0, error: describe(err) }
          logger.error({ err }, 'the SSH bridge could not start; the plugin runs without it (bridge.required is false)')
          await audit.append({ kind: 'system', action: 'bridge.failed', reason: describe(err), ...(hasPortcullisCode(err) ? { code: err.code } : {}) })
        }
        policy.on('reload', (outcome) => {
          const now = policy.current.bridge
          if (outcome.ok && outcome.changed && (now.enabled !== settings.enabled || now.host !== settings.host || now.port !== settings.port)) {
            logger.warn('bridge.enabled or bridge.listen changed: restart portcullis to apply it (the other bridge settings apply to new sessions now)')
          }
        })
      },
      // Sessions end first, while the daemon and the plugin socket can still stop their processes and judge calls.
      stop: async () => { await bridge?.close() }
    },
    elevationApi(),
    {
      name: 'stop alert',
      // Stopped first: the sinks hear of the stop at once, and the alerts part waits (bounded) for it to go out.
      // Its record is portcullis.stop.
      start: () => {},
      stop: () => { raiseStopped(alerts, 'a stop signal (docker plugin disable, systemctl stop, SIGTERM)') }
    }
  ]
}

/** How long a stopping serve waits for the stop alert (and any other) to reach the sinks. */
const STOP_ALERT_WAIT_MS = 3000

function raiseStopped (alerts: Alerts, why: string): void {
  alerts.raise('plugin-stopped', `portcullis serve (pid ${process.pid}) is stopping: ${why}; until it runs again Docker refuses every call (managed plugin) or stops asking (a host whose dockerd no longer names it)`, { record: false, fields: { pid: process.pid } })
}

/** A checkpoint run's outcome as alerts: the key file going away, and signing failing, each raised and resolved. */
function checkpointAlerts (alerts: Alerts, outcome: CheckpointOutcome, keyPath: string): void {
  if (outcome.keyProblem !== undefined) {
    const error = new PortcullisError('PORTCULLIS_ALERT_CHECKPOINT_KEY', keyPath, outcome.keyProblem)
    alerts.raise('checkpoint-key', error.message, { code: error.code, fields: { seq: outcome.seq } })
  } else {
    alerts.resolve('checkpoint-key', 'the audit signing key file holds the key in use again')
  }
  if (outcome.signed === null) alerts.raise('checkpoint-failed', `record ${outcome.seq}: ${describe(outcome.error)}`, { ...(hasPortcullisCode(outcome.error) ? { code: outcome.error.code } : {}), fields: { seq: outcome.seq } })
  else alerts.resolve('checkpoint-failed', `checkpoint signed at record ${outcome.signed.seq}`, { seq: outcome.signed.seq })
}

/** The plugin socket: 0660 from the first instant; on stop it drains (see shutdownPluginServer) before anything it uses goes. */
function pluginSocketComponent (socket: string, authorizer: () => Authorizer, logger: Logger): Component {
  let server: http.Server | null = null
  return {
    name: 'plugin socket',
    start: async () => {
      const created = createPluginServer(authorizer(), logger)
      await listenUnixSocket(created, socket, { mode: 0o660, dirMode: 0o755 })
      server = created
    },
    stop: async () => { if (server !== null) await shutdownPluginServer(server, socket) }
  }
}

/** An HTTP server as a component: `listen` returns it (or null when it is switched off); stop closes it. */
function serverComponent (name: string, listen: () => Promise<http.Server | null>): Component {
  let server: http.Server | null = null
  return {
    name,
    start: async () => { server = await listen() },
    stop: async () => { if (server !== null) await closeServer(server) }
  }
}

function reloadReason (policy: PolicySource, outcome: ReloadOutcome): string {
  const changed = `: ${summarizeChanges(outcome.changes ?? [])}`
  if (outcome.revision === undefined) return outcome.ok ? `policy reloaded from ${policy.path}${changed}` : `policy edit refused, last good policy kept: ${outcome.error ?? ''}`
  const published = `policy revision ${outcome.revision} (published by ${outcome.publisher ?? '?'})`
  return outcome.ok ? `${published} applied from the ${policy.path}${changed}` : `${published} refused, revision ${policy.revision?.revision ?? '?'} stays in force: ${outcome.error ?? ''}`
}

/** The start verification as a record's fields: the range and count checked, and what was found. */
function startVerifyFields (found: StartVerification): Record<string, unknown> {
  const { ok, from, to, records, checkpoint, firstBad, damage, tailCut } = found
  return { ok, from, to, records, ...(checkpoint !== undefined ? { checkpoint } : {}), ...(firstBad !== undefined ? { firstBad } : {}), ...(damage.length > 0 ? { damage } : {}), ...(tailCut !== undefined ? { tailCut } : {}) }
}

function describe (err: unknown): string {
  if (hasPortcullisCode(err)) return `${err.code}: ${err.message}`
  return err instanceof Error ? err.message : String(err)
}

function closeServer (server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeIdleConnections()
    setTimeout(() => server.closeAllConnections(), 2000).unref()
  })
}

/** How a fleet policy was taken at start, for the start record's reason. */
function startedFrom (start: StartingPolicy | null): string {
  if (start === null) return ''
  if (start.from === 'copy') return ' (from the last good copy)'
  return start.copyBelowMinimum !== undefined
    ? ` (from the fleet database: the last good copy, revision ${start.copyBelowMinimum}, is below --policy-min-revision)`
    : ' (from the fleet database: there was no last good copy)'
}
