import type { Logger } from 'pino'
import { PortcullisError } from '../errors.js'
import { createLogger } from '../log.js'
import { startDaemon } from '../serve.js'
import { DEFAULT_ELEVATION_LISTEN } from '../elevation/http-api.js'
import { defineCommand } from './command.js'
import { DEFAULTS } from './defaults.js'

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'Run the authorization plugin: answer the daemon on the plugin socket, record every decision, serve the admin socket.',
  usage: 'serve [--config FILE] [--socket PATH] [--data DIR] [--admin-socket PATH] [--keys DIR] [--allow-anonymous] [--accept-damaged-audit] [--docker-host URL] [--elevation-listen HOST:PORT|off] [--fleet URL [--fleet-password-file FILE]] [--policy-from file|fleet --policy-key FILE.pub [--policy-min-revision N]]',
  // Where the daemon listens is its unit file's business: no $PORTCULLIS_ADMIN_SOCKET or profile of whoever starts it.
  remembers: [],
  options: {
    config: { type: 'string', default: DEFAULTS.config },
    socket: { type: 'string', default: DEFAULTS.socket },
    data: { type: 'string', default: DEFAULTS.data },
    'admin-socket': { type: 'string', default: DEFAULTS.adminSocket },
    keys: { type: 'string', default: DEFAULTS.keys },
    'allow-anonymous': { type: 'boolean', default: false },
    'accept-damaged-audit': { type: 'boolean', default: false },
    'docker-host': { type: 'string', default: process.env.DOCKER_HOST ?? DEFAULTS.dockerHost },
    'plugin-name': { type: 'string', default: DEFAULTS.pluginName },
    'elevation-listen': { type: 'string', default: DEFAULT_ELEVATION_LISTEN },
    fleet: { type: 'string' },
    'fleet-password-file': { type: 'string' },
    'fleet-host-name': { type: 'string' },
    'policy-from': { type: 'string', default: 'file' },
    'policy-key': { type: 'string' },
    'policy-min-revision': { type: 'string' },
    'log-level': { type: 'string', default: process.env.PORTCULLIS_LOG_LEVEL ?? 'info' }
  },
  help: {
    '--config FILE': `the policy (default ${DEFAULTS.config}); reloaded on change and on SIGHUP`,
    '--socket PATH': `plugin socket the daemon calls (default ${DEFAULTS.socket})`,
    '--data DIR': `audit store directory (default ${DEFAULTS.data})`,
    '--admin-socket PATH': `admin socket for the audit and policy commands, root only (default ${DEFAULTS.adminSocket})`,
    '--keys DIR': `token keys made by \`portcullis keys init\` (default ${DEFAULTS.keys}); without token.pub, serve refuses to start`,
    '--allow-anonymous': 'start even without a token key: every caller without a TLS identity is anonymous (recorded in portcullis.start)',
    '--accept-damaged-audit': 'start even when the audit store fails its start verification (a broken chain, an unreadable table, a dropped log): the damage and this choice are recorded in portcullis.start',
    '--docker-host URL': `the daemon to look objects up in (default $DOCKER_HOST or ${DEFAULTS.dockerHost})`,
    '--plugin-name NAME': `the name the daemon knows this plugin by; managing it needs an unsafe role (default ${DEFAULTS.pluginName})`,
    '--elevation-listen ADDR': `where users ask for roles (\`portcullis request\`), with their token; loopback TCP, or off (default ${DEFAULT_ELEVATION_LISTEN})`,
    '--fleet URL': 'ship the audit chain to the fleet database postgresql://USER@HOST:PORT/DATABASE (made by `portcullis fleet init-db`); decisions never wait on it',
    '--fleet-password-file FILE': 'the fleet database password (default $PORTCULLIS_FLEET_PASSWORD); never put it in the URL',
    '--fleet-host-name NAME': 'the name `fleet status` shows for this host (default the machine\'s host name; the host ID in keys/host-id is what identifies it)',
    '--policy-from file|fleet': 'file (default): the --config file. fleet: the newest signed revision in the --fleet database (`portcullis policy publish`), followed as it changes; the last good one is kept beside --config (fleet-policy.json) and used when the database is unreachable',
    '--policy-key FILE': 'with --policy-from fleet: the pinned public key (policy_ed25519.pub from `portcullis policy keygen`) every revision must be signed with',
    '--policy-min-revision N': 'with --policy-from fleet: never take a revision below N (at start, from the last good copy or the database, or later, rollbacks too); serve refuses to start when the database\'s newest is below it',
    '--log-level LEVEL': 'trace, debug, info, warn, error (default info)'
  },
  async run (values) {
    const policyFrom = values['policy-from']
    if (policyFrom !== 'file' && policyFrom !== 'fleet') throw new PortcullisError('PORTCULLIS_USAGE', `--policy-from must be file or fleet, not ${policyFrom}`, 'serve')
    if (policyFrom === 'fleet' && values.fleet === undefined) throw new PortcullisError('PORTCULLIS_USAGE', '--policy-from fleet needs --fleet URL, the database the policy is published to', 'serve')
    if (policyFrom === 'fleet' && values['policy-key'] === undefined) throw new PortcullisError('PORTCULLIS_USAGE', '--policy-from fleet needs --policy-key FILE, the pinned policy_ed25519.pub', 'serve')
    if (policyFrom === 'file' && values['policy-key'] !== undefined) throw new PortcullisError('PORTCULLIS_USAGE', '--policy-key is for --policy-from fleet', 'serve')
    const minRevision = values['policy-min-revision']
    if (minRevision !== undefined && policyFrom !== 'fleet') throw new PortcullisError('PORTCULLIS_USAGE', '--policy-min-revision is for --policy-from fleet', 'serve')
    if (minRevision !== undefined && !/^[1-9][0-9]{0,14}$/.test(minRevision)) throw new PortcullisError('PORTCULLIS_USAGE', `--policy-min-revision must be a revision number (1 or more), not ${minRevision}`, 'serve')
    const logger = createLogger(values['log-level'])
    // Every file the daemon makes is its own alone, whatever umask it was started under: LevelDB keeps making
    // tables and logs (which hold what was typed in bridge sessions) long after the store was opened.
    process.umask(process.umask(0o077) | 0o077)
    // Listen for stop signals before anything starts: a SIGTERM that arrives while the last parts start (the
    // plugin socket already exists) would otherwise kill the process with its socket and store lock left behind.
    const stopSignal = firstStopSignal()
    // SIGHUP (reload) ends a process that has no handler for it; the policy watch adds the one that reloads.
    process.on('SIGHUP', () => {})
    let daemon
    try {
      daemon = await startDaemon({
        config: values.config,
        socket: values.socket,
        data: values.data,
        adminSocket: values['admin-socket'],
        keys: values.keys,
        allowAnonymous: values['allow-anonymous'],
        acceptDamagedAudit: values['accept-damaged-audit'],
        dockerHost: values['docker-host'],
        pluginName: values['plugin-name'],
        elevationListen: values['elevation-listen'],
        ...(values.fleet !== undefined ? { fleetUrl: values.fleet } : {}),
        ...(values['fleet-password-file'] !== undefined ? { fleetPasswordFile: values['fleet-password-file'] } : {}),
        ...(values['fleet-host-name'] !== undefined ? { fleetHostName: values['fleet-host-name'] } : {}),
        policyFrom,
        ...(values['policy-key'] !== undefined ? { policyKey: values['policy-key'] } : {}),
        ...(minRevision !== undefined ? { policyMinRevision: Number(minRevision) } : {})
      }, logger)
    } catch (err) {
      // Everything that started was stopped again; the caller prints the code and exits non-zero.
      exitSoon(logger)
      throw err
    }
    const signal = await stopSignal
    logger.info({ signal }, 'stopping')
    try {
      await daemon.close()
    } catch (err) {
      logger.error({ err }, 'error while stopping')
    }
    logger.flush()
    exitSoon(logger)
    return 0
  }
})

/** Resolves with the first SIGTERM or SIGINT from now on, whenever it comes. */
function firstStopSignal (): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      resolve(signal)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}

/**
 * Everything is closed, so the process ends by itself; if anything still holds it (a bug), it still ends: under
 * systemd a process that stays up after a failed start looks healthy.
 */
function exitSoon (logger: Logger): void {
  setTimeout(() => {
    logger.error('something kept portcullis running after it stopped; exiting anyway')
    logger.flush()
    process.exit(process.exitCode ?? 2)
  }, 5000).unref()
}
