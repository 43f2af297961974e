// One registry of every error portcullis raises: its code, its message and (HTTP_STATUS) the status an HTTP API
// answers it with. Every class of ours extends PortcullisError. Users match on `err.code`, never on message text;
// test/unit/errors.test.ts checks that every code thrown in src/ is declared here.

export const ERRORS = {
  PORTCULLIS_USAGE: 'Bad command line: %s. Run `portcullis %s --help` for the options.',
  PORTCULLIS_POLICY_READ: 'Cannot read the policy file %s: %s.',
  PORTCULLIS_POLICY_INVALID: 'The policy %s is invalid:\n%s\nFix these and run `portcullis policy validate --config %s`.',
  PORTCULLIS_KEYS_MISSING: 'No token key at %s. Run `portcullis keys init --keys %s` first.',
  PORTCULLIS_KEYS_EXIST: 'Keys already exist in %s. Remove them first if you really want new ones (every issued token stops working).',
  PORTCULLIS_TOKEN_TTL: 'Cannot read the TTL %s: use a number of seconds or a duration like 30m, 8h, 7d.',
  PORTCULLIS_TOKEN_TTL_TOO_LONG: 'A token may be valid for at most %s (tokens.maxLifetime in %s); pass --ttl %s or less, or raise tokens.maxLifetime in the policy.',
  PORTCULLIS_TOKEN_USER: 'Cannot issue a token for %s: a user name is letters, digits and _ . @ - starting with a letter or digit, as in the policy.',
  PORTCULLIS_TOKEN_DAEMON_CONFIG: 'token issue --admin-socket uses the running daemon\'s keys and policy (its tokens.maxLifetime); drop %s, or drop --admin-socket to issue offline from the key file (which the daemon cannot record).',
  PORTCULLIS_URI_INVALID: 'The request URI cannot be decoded: %s.',
  PORTCULLIS_ADMIN_UNREACHABLE: 'Cannot reach the portcullis admin socket %s (%s). Is `portcullis serve` running? If it listens elsewhere, pass --admin-socket, set $PORTCULLIS_ADMIN_SOCKET or adminSocket in the profile (`portcullis config` shows which is used).',
  PORTCULLIS_ADMIN_REQUEST: 'The admin socket answered %s: %s',
  PORTCULLIS_DOCKER_LOOKUP: 'Looking up %s %s in the Docker daemon failed: %s.',
  PORTCULLIS_SOCKET_IN_USE: 'Another process is already listening on %s. Stop it, or pass --socket/--admin-socket with another path.',
  PORTCULLIS_SOCKET_LISTEN: 'Cannot listen on the socket %s: %s. Check that its directory can be created and written by portcullis and that the path is short enough (108 bytes), or pass --socket/--admin-socket with another path.',
  PORTCULLIS_DOCKER_HOST_INVALID: 'The Docker host %s cannot be used: %s. Pass --docker-host (or set DOCKER_HOST) as unix:///var/run/docker.sock or tcp://127.0.0.1:2375.',
  PORTCULLIS_TOKEN_KEY_MISSING: 'No token verification key at %s, so every caller without a TLS identity would be treated as anonymous. Pass the directory `portcullis keys init --keys DIR` made with --keys, or start with --allow-anonymous if callers without TLS really should be anonymous.',
  PORTCULLIS_TOKEN_KEY_INVALID: 'The token key %s cannot be used (%s). Restore token.pub and token.json from the keys directory that signs your users\' tokens, or make new ones with `portcullis keys init` (every issued token then stops working).',
  PORTCULLIS_START_FAILED: 'portcullis could not start its %s: %s. Everything it had started is stopped again; fix the cause (the log has the details) and start it again.',
  PORTCULLIS_POLICY_NOT_FILE: 'The policy path %s is %s, not a regular file: portcullis reads its policy only from a regular file (a FIFO or a device could stall every decision). Point --config at the policy file itself.',
  PORTCULLIS_INPUT: 'Cannot read %s: %s.',
  PORTCULLIS_SSH_KEY_INVALID: '%s',
  PORTCULLIS_SSH_HOST_KEY_INVALID: 'The SSH host key %s cannot be read (%s). Move it away and run `portcullis keys init` to make a new one (users must then update known_hosts).',
  PORTCULLIS_SSH_LISTEN: 'The SSH bridge cannot listen on %s: %s. Set bridge.listen in the policy to a free address and port, or bridge.required to false to let the plugin run without the bridge.',
  PORTCULLIS_EXEC_FAILED: 'The daemon refused or failed the exec (%s): %s',
  PORTCULLIS_CAST_INVALID: 'Line %s of the recording is not valid asciicast v2: %s.',
  PORTCULLIS_AUDIT_LOCKED: 'The audit store %s is locked by another process: a running `portcullis serve` owns it. Use the admin socket commands (`portcullis audit tail|export|verify|sessions|replay`) while it runs, or stop the daemon to open the store directly.',
  PORTCULLIS_AUDIT_OPEN_FAILED: 'Cannot open the audit store %s: %s. Check that the directory is writable by portcullis and not damaged.',
  PORTCULLIS_AUDIT_DAMAGED: 'The audit store %s has no CURRENT file but still holds LevelDB files (%s), so portcullis will not open it: making a new store there would delete the records in them. Restore the directory (CURRENT included) from a backup, or move it away (keep it for investigation) and start again with an empty directory.',
  PORTCULLIS_AUDIT_NOT_A_STORE: 'The directory %s is not an audit store and is not empty (%s), so portcullis will not make a store in it. Pass an empty or new directory to --data, or the directory that holds the store.',
  PORTCULLIS_AUDIT_NO_ACCESS: 'Cannot read the audit store %s: %s. The store is private to the user `portcullis serve` runs as (directory 0700, files 0600): run this as that user, or use the admin socket commands while the daemon runs.',
  PORTCULLIS_AUDIT_LAYOUT_NEWER: 'The audit store %s has key layout %s, which this portcullis (layout %s) does not know: a newer portcullis wrote it. Upgrade portcullis to the version that wrote the store, or newer: this one neither reads nor changes it.',
  PORTCULLIS_AUDIT_NOT_FOUND: 'There is no audit store at %s. Pass the data directory that `portcullis serve --data` uses.',
  PORTCULLIS_AUDIT_HEAD_MISMATCH: 'The audit store %s does not match its own head (%s), so portcullis will not add to it. Run `portcullis audit verify --data %s` to find the first bad record, and keep a copy of the directory for investigation.',
  PORTCULLIS_AUDIT_WRITE_FAILED: 'Writing to the audit store failed: %s. Every call waiting for it was denied, and every call is denied until a write works again; free disk space (or file descriptors): portcullis reopens the store by itself within a second once it can, no restart needed. `portcullis status` shows the failure.',
  PORTCULLIS_AUDIT_UNAVAILABLE: 'The audit store refuses new records since a write failed at %s (%s). Free disk space (or file descriptors): portcullis retries every second and takes records again once a write works; `portcullis status` shows the failure.',
  PORTCULLIS_AUDIT_RECOVERY_REFUSED: 'After a failed write, the audit store %s no longer holds what portcullis had written (%s), so it will not add to it and denies every call. Stop `portcullis serve`, run `portcullis audit verify --data %s` and keep a copy of the directory for investigation.',
  PORTCULLIS_AUDIT_CLOSED: 'The audit store is closed; no more records can be added.',
  PORTCULLIS_AUDIT_INVALID_INPUT: 'This audit record cannot be stored: %s.',
  PORTCULLIS_AUDIT_CORRUPT: 'The audit record under key %s cannot be read (%s). Run `portcullis audit verify` to check the whole chain.',
  PORTCULLIS_AUDIT_JOURNAL: 'The audit journal %s cannot be used: %s. It is where each record is made durable before its call is answered, so portcullis takes no call without it: a start exits, a running serve denies calls and retries by itself. Check the file system the store is on (free space, permissions, errors in the kernel log).',
  PORTCULLIS_AUDIT_EMPTIED: 'The audit store %s was emptied: its HEAD.json names %s, but none of the store\'s files are left, so every record is gone. portcullis will not make a new store over it. Restore the directory from a backup, or move it away (keep it for investigation) and start again with an empty directory.',
  PORTCULLIS_AUDIT_STORAGE: 'LevelDB cannot read the audit store %s (%s%s): %s. Keep a copy of the directory for investigation, run `portcullis audit verify --data %s` (with `portcullis serve` stopped) to find the first record it cannot read, and restore the damaged file from a backup.',
  PORTCULLIS_AUDIT_RESOURCES: 'The audit store %s cannot open or grow its files: %s. Nothing is damaged: the system ran out of %s. Free disk space on the store\'s file system, or raise serve\'s limit on open files (systemd: LimitNOFILE=; `prlimit --pid PID --nofile=N:N` on a running serve); portcullis retries by itself and `portcullis status` shows the failure.',
  PORTCULLIS_AUDIT_START_DAMAGED: 'The audit store %s is damaged: %s. portcullis will not add records to it. Keep a copy of the directory for investigation and restore it from a backup, or, to run on it anyway (the damage found and your choice are recorded in portcullis.start), start `portcullis serve --accept-damaged-audit`.',
  PORTCULLIS_AUDIT_FILTER_INVALID: 'Cannot select audit records by %s: %s.',
  PORTCULLIS_AUDIT_EXPORT_CUT: 'The export stopped after %s records (%s): the output is incomplete. The portcullis log says why; run the export again.',
  PORTCULLIS_OUTPUT: 'Cannot write %s: %s.',
  PORTCULLIS_OUTPUT_EXISTS: '%s already exists: add --force to overwrite it, or give --out a new file.',
  PORTCULLIS_AUDIT_CAST_WRITE_FAILED: 'Writing the recording of session %s to the audit store failed: %s. The session is ended; free disk space: new sessions start again once the audit store takes records (`portcullis status` shows when).',
  PORTCULLIS_AUDIT_RECORDING_INVALID: 'The session recording %s is not a portcullis recording from byte %s on (%s). Run `portcullis audit verify` to check it against the digest its session.end holds, and keep a copy of the store for investigation.',
  PORTCULLIS_AUDIT_RECORDING_UNSAFE: 'The recordings directory %s cannot be used (%s): portcullis writes session recordings only into a private directory of its own. Move it away (keep it for investigation) and start portcullis again; it makes a new one.',
  PORTCULLIS_AUDIT_KEY_MISSING: 'No audit signing key at %s. `portcullis serve` makes one when it starts (so does `portcullis keys init --keys %s` in a new keys directory); offline, pass the public key with --public-key FILE.',
  PORTCULLIS_AUDIT_KEY_INVALID: 'The audit key file %s cannot be read (%s). It must be an Ed25519 key as `portcullis keys init` writes it: audit_ed25519.key, or audit_ed25519.pub for --public-key. Restore it from a backup rather than making a new one: the checkpoints already stored were signed with it.',
  PORTCULLIS_AUDIT_NO_RECORD: 'There is no audit record %s to sign (the store holds records %s). Pass a seq in that range, or leave --seq out to sign the newest record.',
  PORTCULLIS_AUDIT_CHAIN_BROKEN: 'Will not sign a checkpoint at record %s: the chain is broken at record %s (%s). Run `portcullis audit verify`, and keep a copy of the store for investigation.',
  PORTCULLIS_AUDIT_NO_SIGNING_KEY: 'The daemon has no audit signing key, so it cannot sign checkpoints (%s). Check the keys directory given to `portcullis serve --keys` and restart it.',
  PORTCULLIS_AUDIT_BUNDLE_EMPTY: 'No audit records to bundle (%s; the store holds records %s). Widen --since/--until, or check them with `portcullis audit tail`.',
  PORTCULLIS_AUDIT_BUNDLE_DIR_NOT_EMPTY: 'The bundle directory %s is not empty. Pass a new directory (or FILE.tar.gz) to --out: a bundle must hold only its own files.',
  PORTCULLIS_AUDIT_BUNDLE_CHAIN_BROKEN: 'Cannot bundle records %s to %s: record %s does not check out (%s). Run `portcullis audit verify`, and keep a copy of the store for investigation.',
  PORTCULLIS_AUDIT_BUNDLE_UNREADABLE: 'Cannot read the bundle %s: %s. Pass the directory or the .tar.gz that `portcullis audit bundle` wrote.',
  PORTCULLIS_AUDIT_BUNDLE_FLEET_KEY: '%s is a fleet bundle: each host\'s part carries the key that host registered, so one --public-key cannot stand for them all. Run verify-bundle without --public-key and compare each host\'s key ID it prints with the one published for that host.',
  PORTCULLIS_AUDIT_BUNDLE_OUT_EXISTS: '%s already exists. Pass a new path to --out: a bundle never overwrites one.',
  PORTCULLIS_AUDIT_REPORT_ASSETS: 'The asciinema-player files report.html embeds cannot be read (%s). Reinstall portcullis with its dependencies (npm ci).',
  PORTCULLIS_SESSION_ID_INVALID: '%s is not a session ID: they look like s-3f9a0c1b2d4e5f60. Run `portcullis audit sessions` to list them.',
  PORTCULLIS_SESSION_NOT_FOUND: 'There is no session %s in the audit trail. Run `portcullis audit sessions` to list the recorded sessions.',
  PORTCULLIS_SESSION_NO_RECORDING: 'Session %s has no recording: portcullis stopped before any of it was written. `portcullis audit sessions` shows how it ended.',
  PORTCULLIS_ELEVATION_BAD_INPUT: 'Cannot take this elevation request: %s.',
  PORTCULLIS_ELEVATION_UNAUTHENTICATED: 'Not signed in: %s. Send your portcullis token (the X-Portcullis-Token of your ~/.docker/config.json) as `Authorization: Bearer <token>`; `portcullis token issue --user YOU` makes one.',
  PORTCULLIS_ELEVATION_UNKNOWN_PROJECT: 'You cannot ask for a role in %s: you are not a member of a project by that name, or there is none (%s). Ask an admin of the project to add you.',
  PORTCULLIS_ELEVATION_PROJECT_GONE: 'Request %s is for the project %s, which is no longer in the policy; deny it, or let it expire.',
  PORTCULLIS_ELEVATION_RATE_LIMITED: 'You made %s elevation requests in the last hour, the most elevation.requestsPerHour allows; try again in %s seconds.',
  PORTCULLIS_ELEVATION_TOO_MANY_PENDING: 'You have %s undecided requests (%s), the most elevation.maxPending allows. Withdraw one with `portcullis request revoke ID`, or wait for an approver.',
  PORTCULLIS_ELEVATION_UNKNOWN_ROLE: 'There is no role %s in the policy (roles are: %s).',
  PORTCULLIS_ELEVATION_ALREADY_HELD: 'You already hold %s in %s, which covers %s: there is nothing to ask for.',
  PORTCULLIS_ELEVATION_NOT_ABOVE: '%s is not above your role %s in %s, so it cannot be asked for. %s',
  PORTCULLIS_ELEVATION_TOO_FAR: '%s in %s is %s steps above %s, and requests there may reach %s. %s',
  PORTCULLIS_ELEVATION_TTL_TOO_LONG: 'A grant of %s in %s may last at most %s; ask again with --ttl %s or less.',
  PORTCULLIS_ELEVATION_LEVEL_TOO_LOW: '%s in %s needs clearance level %s and %s has %s; a policy admin can raise users.%s.level.',
  PORTCULLIS_ELEVATION_DUPLICATE: 'You already have %s (%s) for %s in %s. Wait for it, or withdraw it with `portcullis request revoke %s`.',
  PORTCULLIS_ELEVATION_NOT_FOUND: 'There is no elevation request %s that you may see. Run `portcullis request list` for yours and those you may decide.',
  PORTCULLIS_ELEVATION_NOT_PENDING: 'Request %s is %s, so it can no longer be %s.',
  PORTCULLIS_ELEVATION_SELF_APPROVAL: 'You cannot %s your own request %s: another approver of %s must decide it (%s).',
  PORTCULLIS_ELEVATION_NOT_APPROVER: '%s may not %s requests in %s. Approvers there: %s.',
  PORTCULLIS_ELEVATION_NOT_REVOCABLE: '%s is %s, so there is nothing to revoke.',
  PORTCULLIS_ELEVATION_UNAVAILABLE: 'The elevation request could not be recorded (%s), so nothing changed. An operator must check the portcullis log.',
  PORTCULLIS_ELEVATION_LISTEN: 'The elevation API cannot listen on %s: %s. Pass `portcullis serve --elevation-listen HOST:PORT` with a free address, or `off`.',
  PORTCULLIS_ELEVATION_UNREACHABLE: 'Cannot reach the elevation API at %s (%s). Is `portcullis serve` running with --elevation-listen? If it listens elsewhere, pass --url, set $PORTCULLIS_URL or url in the profile (`portcullis config` shows which is used).',
  PORTCULLIS_ELEVATION_NO_TOKEN: 'No token to send: pass --token, set $PORTCULLIS_TOKEN, or put it in %s as {"HttpHeaders": {"X-Portcullis-Token": "<token>"}} (`portcullis token issue --user YOU` makes one). Root on the host may use --admin-socket PATH --as USER instead.',
  PORTCULLIS_ELEVATION_API: 'The elevation API answered %s: %s',
  PORTCULLIS_ELEVATION_NO_ROUTE: 'There is no elevation API route %s. The routes are %s.',
  PORTCULLIS_FLEET_URL_INVALID: 'The fleet database URL %s cannot be used: %s. Pass --fleet postgresql://USER@HOST:PORT/DATABASE (a socket directory as ?host=/path).',
  PORTCULLIS_FLEET_URL_PASSWORD: 'The fleet database URL holds a password (%s): command lines are visible to every user of the host, and the URL is logged and recorded. Give the URL without it, and put the login password in a file only portcullis can read (--fleet-password-file FILE) or in PORTCULLIS_FLEET_PASSWORD; a client key (sslkey) must be one without a passphrase, readable only by portcullis.',
  PORTCULLIS_FLEET_PASSWORD_FILE: 'Cannot read the fleet database password file %s: %s.',
  PORTCULLIS_FLEET_UNREACHABLE: 'Cannot reach the fleet database %s: %s. Check that PostgreSQL runs and that the URL names it; a running serve keeps its records and ships them once it can.',
  PORTCULLIS_FLEET_LOGIN: 'The fleet database %s refused the login: %s. Check the user and database in the URL, the password (--fleet-password-file or PORTCULLIS_FLEET_PASSWORD) and pg_hba.conf.',
  PORTCULLIS_FLEET_PRIVILEGE: 'The fleet database %s refused: %s. Hosts log in as members of portcullis_ingest and reviewers as members of portcullis_reader; `portcullis fleet init-db` needs a role that may create schemas and roles.',
  PORTCULLIS_FLEET_SCHEMA_MISSING: 'The fleet database %s has no portcullis tables. Run `portcullis fleet init-db --fleet URL` as its owner first.',
  PORTCULLIS_FLEET_SCHEMA_NEWER: 'The fleet database %s is at schema version %s, newer than this portcullis knows (%s). Upgrade portcullis on this host.',
  PORTCULLIS_FLEET_SCHEMA_OLDER: 'The fleet database %s is at schema version %s; this portcullis needs %s. Run `portcullis fleet init-db --fleet URL` from this version to upgrade it.',
  PORTCULLIS_FLEET_HOST_ID: 'The fleet host ID file %s cannot be used: %s. Restore it from a backup of %s (the host\'s shipped history is filed under its ID), or move it away to give this host a new identity.',
  PORTCULLIS_FLEET_ALARM: 'Fleet shipping stopped on an integrity alarm: %s. Compare the host\'s store with the database (`portcullis fleet verify`), keep copies of both, and restart serve once the cause is found.',
  PORTCULLIS_FLEET_BUNDLE_HOST: 'Cannot bundle host %s from the fleet database: %s. Run `portcullis fleet verify --fleet URL --host %s` to find the first bad row, keep a copy of the database, and bundle the other hosts with --host meanwhile.',
  PORTCULLIS_FLEET_NO_HOST: 'The fleet database %s has no host %s. Run `portcullis fleet status --fleet URL` to list the hosts.',
  PORTCULLIS_OUTPUT_DIR: 'The SIEM output directory %s cannot be used: %s. Give outputs.files.dir a directory the user serve runs as owns and may write (not a symlink), or change it in the policy.',
  PORTCULLIS_OUTPUT_GROUP: 'The group %s (outputs.files.group in the policy) is not on this host: %s. Create it (the SIEM agent\'s group), or give its number.',
  PORTCULLIS_OUTPUT_ALARM: 'The SIEM output %s stopped: %s. Check what it wrote with `portcullis audit verify-files DIR`, keep a copy of the directory and the store, and restart serve once the cause is found.',
  PORTCULLIS_POLICY_KEY_EXISTS: 'A policy-signing key already exists in %s. Keep it (every host pins its public half); to replace it, move it away first and pin the new policy_ed25519.pub on every host (serve --policy-key).',
  PORTCULLIS_POLICY_KEY_MISSING: 'Cannot read the policy key %s: %s. Make a pair with `portcullis policy keygen --out DIR`: publishers sign with policy_ed25519.key, hosts pin policy_ed25519.pub.',
  PORTCULLIS_POLICY_KEY_INVALID: 'The policy key %s cannot be used (%s). It must be an Ed25519 key in PEM as `portcullis policy keygen` writes it: policy_ed25519.key for publish --key, policy_ed25519.pub for serve --policy-key.',
  PORTCULLIS_POLICY_SIGNATURE: 'Policy revision %s is not signed by the pinned policy key %s, so it is refused and the policy in force stays. Find out who wrote that row (only `portcullis policy publish` with the right key makes valid ones), then publish a good revision.',
  PORTCULLIS_POLICY_ENVELOPE: 'Policy revision %s is refused, the policy in force stays: %s. Publish it again with `portcullis policy publish`.',
  PORTCULLIS_POLICY_BYTES_MISMATCH: 'Policy revision %s is refused, the policy in force stays: its bytes do not match the sha256 its signed envelope binds (the row was changed after it was signed). Publish a good revision with `portcullis policy publish`.',
  PORTCULLIS_POLICY_REVISION_MISMATCH: 'Policy revision %s is refused, the policy in force stays: its envelope was signed for revision %s (the row was relabelled). Publish a good revision with `portcullis policy publish`.',
  PORTCULLIS_POLICY_REVISION_LOWER: 'Policy revision %s is refused: it is not newer than revision %s, which is in force, and it is not a signed rollback. To go back to an older policy, publish it with `portcullis policy publish --rollback`.',
  PORTCULLIS_POLICY_REVISION_BELOW_MINIMUM: 'Policy revision %s is refused: it is below --policy-min-revision %s. Newer revisions may have been deleted from the fleet database: check `portcullis.policy_revisions` and publish the current policy again (`portcullis policy publish`), or lower --policy-min-revision if the pin is wrong.',
  PORTCULLIS_POLICY_FLEET_UNAVAILABLE: 'No policy to start with: the fleet database gave none (%s) and there is no last good copy at %s. Start serve once while the fleet database is reachable and holds a revision (`portcullis policy publish`), or serve from a file with --config.',
  PORTCULLIS_POLICY_COPY_INVALID: 'The last good fleet policy copy %s cannot be used: %s. Move it away and start serve while the fleet database is reachable: it fetches the newest revision and writes a new copy.',
  PORTCULLIS_POLICY_PUBLISH: 'Publishing to the fleet database %s failed: %s. Nothing was published; run `portcullis policy publish` again.',
  PORTCULLIS_INTERNAL: 'portcullis failed on this request (%s); an operator must check its log.',
  PORTCULLIS_SYSLOG_ADDRESS: 'The syslog address %s cannot be used: write tcp:HOST:PORT (tcp:127.0.0.1:514, tcp:[::1]:514) or unix:/absolute/path of a stream socket; outputs.syslog.address also takes relp:HOST:PORT (a RELP receiver, for acknowledged delivery).',
  PORTCULLIS_SYSLOG_ADDRESS_RELP: 'The syslog address %s is a RELP receiver, which only outputs.syslog.address speaks: alerts.syslog sends plain syslog. Write tcp:HOST:PORT or unix:/path for alerts.syslog.address (alerts are audit records too, so a RELP output carries them acknowledged).',
  PORTCULLIS_RELP_PROTOCOL: 'The RELP receiver %s broke the protocol: %s. portcullis dropped the session and opens a new one, sending again from the last record the receiver acknowledged; check the receiver (rsyslog: imrelp) and that the address is a RELP listener, not plain syslog.',
  PORTCULLIS_RELP_REFUSED: 'The RELP receiver %s refused %s: it answered "%s". portcullis opens a new session and sends it again from the last record acknowledged, until the receiver takes it; check the receiver\'s log (size limits, rate limits, full queues).',
  PORTCULLIS_SYSLOG_DATAGRAM_SOCKET: 'The syslog socket %s is a datagram socket (like /dev/log), which portcullis cannot write (Node has no unix datagram sockets): nothing is sent there. Give the receiver a stream socket (rsyslog: imptcp with path=; syslog-ng: unix-stream()) or a TCP listener on loopback, and point alerts.syslog.address (or outputs.syslog.address) at it.',
  PORTCULLIS_ALERT_CHECKPOINT_KEY: 'The audit signing key file %s %s. Checkpoints are still signed with the key this serve read at start, but a restart would find no key (and make a new one that no reviewer has): restore the file from a backup now.',
  PORTCULLIS_UNKNOWN_COMMAND: 'Unknown command "%s"%s. Run `portcullis%s --help` for the list.',
  PORTCULLIS_PROFILE_INVALID: 'The profile %s cannot be used: %s. Fix or remove it: it may hold only adminSocket, url, dockerConfig and tokenFile, each a string (`portcullis config` shows where each value comes from).',
  PORTCULLIS_DOCKER_CONFIG_INVALID: 'The docker CLI config %s cannot be updated: %s. Fix the file (it must be a JSON object), or pass --docker-config with another directory; nothing was written.',
  PORTCULLIS_ADMIN_PEER_UNKNOWN: 'portcullis cannot tell which process is on the other end of the admin socket (%s), so it will not hand out audit records it could not say were read by whom. Install iproute2 (`ss`) on the host (in the managed plugin it is bundled), and call from a process that stays until the answer comes.',
  PORTCULLIS_AUDIT_UNAUTHENTICATED: 'Not signed in to read the audit trail: %s. Send your portcullis token as `Authorization: Bearer <token>` (`portcullis audit tail --url URL --token-file FILE`, and the same for export, sessions, replay, verify and bundle); an admin issues one with `portcullis token issue --user YOU --admin-socket …`.',
  PORTCULLIS_AUDIT_NOT_AUDITOR: '%s does not hold the auditor role, so the audit trail is not theirs to read through the API; the refusal is recorded. An admin adds auditors in the policy (audit.auditors); root on the host reads through the admin socket.',
  PORTCULLIS_AUDIT_READS_BUSY: 'Too many audit reads at once: %s. Wait for one to end (stop an `audit tail -f` you no longer watch) and try again; the refusal is recorded. Root on the host reads through the admin socket without this limit.'
} as const

export type ErrorCode = keyof typeof ERRORS

/** The HTTP status the admin socket and the elevation API answer an error with; 500 for a code not named here. */
export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  PORTCULLIS_TOKEN_TTL: 400,
  PORTCULLIS_TOKEN_TTL_TOO_LONG: 400,
  PORTCULLIS_TOKEN_USER: 400,
  PORTCULLIS_SESSION_ID_INVALID: 400,
  PORTCULLIS_SESSION_NOT_FOUND: 404,
  PORTCULLIS_SESSION_NO_RECORDING: 404,
  PORTCULLIS_AUDIT_UNAVAILABLE: 503,
  PORTCULLIS_AUDIT_CLOSED: 503,
  PORTCULLIS_ELEVATION_BAD_INPUT: 400,
  PORTCULLIS_ELEVATION_UNKNOWN_PROJECT: 400,
  PORTCULLIS_ELEVATION_PROJECT_GONE: 409,
  PORTCULLIS_ELEVATION_RATE_LIMITED: 429,
  PORTCULLIS_ELEVATION_TOO_MANY_PENDING: 409,
  PORTCULLIS_ELEVATION_UNKNOWN_ROLE: 400,
  PORTCULLIS_ELEVATION_TTL_TOO_LONG: 400,
  PORTCULLIS_ELEVATION_UNAUTHENTICATED: 401,
  PORTCULLIS_ELEVATION_NOT_ABOVE: 403,
  PORTCULLIS_ELEVATION_TOO_FAR: 403,
  PORTCULLIS_ELEVATION_LEVEL_TOO_LOW: 403,
  PORTCULLIS_ELEVATION_SELF_APPROVAL: 403,
  PORTCULLIS_ELEVATION_NOT_APPROVER: 403,
  PORTCULLIS_ELEVATION_NOT_FOUND: 404,
  PORTCULLIS_ELEVATION_NO_ROUTE: 404,
  PORTCULLIS_ELEVATION_ALREADY_HELD: 409,
  PORTCULLIS_ELEVATION_DUPLICATE: 409,
  PORTCULLIS_ELEVATION_NOT_PENDING: 409,
  PORTCULLIS_ELEVATION_NOT_REVOCABLE: 409,
  PORTCULLIS_ELEVATION_UNAVAILABLE: 503,
  PORTCULLIS_ADMIN_PEER_UNKNOWN: 403,
  PORTCULLIS_AUDIT_UNAUTHENTICATED: 401,
  PORTCULLIS_AUDIT_NOT_AUDITOR: 403,
  PORTCULLIS_AUDIT_READS_BUSY: 429
}

/** The base of every error portcullis raises: a declared code, the registry's message filled in, an HTTP status. */
export class PortcullisError extends Error {
  readonly code: ErrorCode
  /** What an HTTP API answers with (HTTP_STATUS). */
  readonly status: number
  /** Seconds until trying again makes sense: an HTTP API sends it as Retry-After. */
  retryAfterSeconds?: number

  constructor (code: ErrorCode, ...args: string[]) {
    let i = 0
    super(ERRORS[code].replace(/%s/g, () => args[i++] ?? ''))
    this.name = 'PortcullisError'
    this.code = code
    this.status = HTTP_STATUS[code] ?? 500
  }

  /** Names the error this one wraps, as Error's own `cause` option would (subclasses take ErrorOptions). */
  protected causedBy (options: ErrorOptions | undefined): void {
    if (options !== undefined && 'cause' in options) Object.defineProperty(this, 'cause', { value: options.cause, writable: true, configurable: true })
  }
}

/** An error a portcullis server (the admin socket, the elevation API) answered with: its code and status, and its
 * message as the server wrote it, never parsed into parts. */
export class AnsweredError extends PortcullisError {
  declare readonly status: number

  constructor (code: ErrorCode, message: string, status: number) {
    super(code)
    this.name = 'AnsweredError'
    this.message = message
    Object.defineProperty(this, 'status', { value: status, enumerable: true })
  }
}

/**
 * The error an answer other than the ones expected stands for: the server's own (code and message) when its body
 * is `{ error, code }` with a declared code, else `fallback` with the status and the raw text.
 */
export function errorFromAnswer (status: number, text: string, fallback: 'PORTCULLIS_ADMIN_REQUEST' | 'PORTCULLIS_ELEVATION_API' = 'PORTCULLIS_ADMIN_REQUEST'): PortcullisError {
  let body: { error?: unknown, code?: unknown } | null
  try {
    body = JSON.parse(text) as typeof body
  } catch {
    body = null
  }
  if (typeof body?.error === 'string' && typeof body.code === 'string' && body.code in ERRORS) return new AnsweredError(body.code as ErrorCode, body.error, status)
  return new PortcullisError(fallback, String(status), typeof body?.error === 'string' ? body.error : text.slice(0, 500))
}

/** Any error of ours, whichever class raised it: they all carry a declared `code`. */
export function hasPortcullisCode (err: unknown): err is Error & { code: ErrorCode } {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined
  return typeof code === 'string' && code in ERRORS
}
