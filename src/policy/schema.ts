// The policy file's JSON Schema: the single source of truth for validation, defaults and the policy reference (docs/policy.md)
// (`portcullis policy schema` prints it). Checks a schema cannot express (role references, cycles) live in
// compile.ts.

import { POLICY_DURATION_PATTERN } from '../core/duration.js'
import { PROJECT_LABEL } from '../core/project-label.js'

const actionPattern = {
  type: 'string',
  pattern: '^[a-z*][a-z0-9*.-]*$',
  description: 'An action name such as `container.start`, or a glob: `container.*`, `*`.'
}

const commandPattern = {
  type: 'string',
  minLength: 1,
  description: 'A glob matched against the whole exec command line (arguments joined by one space); `*` matches anything. ' +
    'It matches the words of the command, never what a shell or interpreter makes of a string (`sh -c \'n""senter\'`): see exec.commandStrings.'
}

const name = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.@-]*$' }

const duration = { type: 'string', pattern: POLICY_DURATION_PATTERN }

// Just-in-time elevation (`portcullis request create`). The top level carries the defaults; projects and roles
// carry overrides, so only the top level has `default`s (ajv would otherwise fill them in and hide the level below).
const elevationFields = {
  maxTtl: { ...duration, description: 'The longest grant a request may ask for (`30m`, `8h`, `2d`).' },
  maxSteps: {
    type: 'integer',
    minimum: 0,
    description: 'How far above the role a user holds in the project a request may reach: 1 = a role that inherits it directly. ' +
      'A user with no role there counts from below the roles that inherit nothing. 0: no requests.'
  },
  requestTtl: { ...duration, description: 'A request nobody approves or denies within this long expires.' },
  autoApprove: {
    type: 'boolean',
    description: 'Grant a request at once, with no approver, when it is within maxSteps and the user\'s level (users.<name>.level) reaches the role\'s minLevel.'
  }
}

const elevationSettings = {
  ...elevationFields,
  minLevel: {
    type: 'object',
    propertyNames: name,
    additionalProperties: { type: 'integer', minimum: 0 },
    description: 'role name → the clearance (users.<name>.level) a user needs to be granted that role. Unset: 0.'
  },
  webhook: {
    type: 'string',
    pattern: '^https?://',
    description: 'An http(s) URL that gets a JSON POST for every new request and every approval, denial, expiry and revocation.'
  },
  approvers: {
    type: 'array',
    items: name,
    uniqueItems: true,
    description: 'Roles whose members approve requests in their project (global members: in every project; global unsafe roles always may). ' +
      'Default: the roles that are unsafe or allow `*`.'
  }
}

// Host-reaching features a project may use without an unsafe role (src/core/project-grants.ts).
const projectGrants = {
  type: 'object',
  additionalProperties: false,
  description: `Host-reaching features the project's containers and networks may use without an unsafe role (the object's \`${PROJECT_LABEL}\` label names the project). Unsafe roles need no grant.`,
  properties: {
    ports: {
      type: 'array',
      description: 'Published ports (`-p`, `-P`; root\'s docker-proxy listens on the host): each binding\'s host address and port must fall in one entry. A random port (`-p 80`, `-P`) needs the range 32768-60999.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['hostIp', 'ports'],
        properties: {
          hostIp: {
            type: 'string',
            description: 'The host address: `127.0.0.1`, `::1`; `0.0.0.0`/`::` cover every address of their family; `""` covers every address, and is the only grant for bindings without an address (which listen on all).'
          },
          ports: { type: 'string', pattern: '^[0-9]{1,5}(-[0-9]{1,5})?$', description: 'A host port or range, e.g. `8080` or `8000-8099`.' }
        }
      }
    },
    logDrivers: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      uniqueItems: true,
      description: 'Log drivers besides `json-file`, `local` and `none` (always allowed), by exact name, e.g. `syslog`, `fluentd`, `gelf`: the daemon, root in the host network, connects where their options say, and a grant allows every option of the driver (any address).'
    },
    subnets: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      uniqueItems: true,
      description: 'CIDR ranges (`10.210.0.0/16`) the subnets of the project\'s networks (`docker network create --subnet`) must lie in; a subnet installs a route on the host.'
    }
  }
}

export const POLICY_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://portcullis.dev/policy.schema.json',
  title: 'portcullis policy',
  type: 'object',
  additionalProperties: false,
  required: ['roles', 'projects'],
  properties: {
    $schema: { type: 'string', description: 'Editors may point this at the schema file; ignored by portcullis.' },
    version: { const: 1, default: 1, description: 'Policy format version. Only 1 exists.' },
    anonymous: {
      type: 'object',
      additionalProperties: false,
      default: { allow: ['system.ping', 'system.version'] },
      description: 'What callers without a token or TLS identity may do.',
      properties: {
        allow: { type: 'array', items: actionPattern, default: ['system.ping', 'system.version'] }
      }
    },
    roles: {
      type: 'object',
      minProperties: 1,
      description: 'Named roles. A user holds a role in a project (projects.*.members) or everywhere (global.members).',
      propertyNames: name,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          description: { type: 'string' },
          inherits: {
            description: 'Role(s) whose allow/deny patterns and exec rules this role starts from.',
            oneOf: [name, { type: 'array', items: name, uniqueItems: true }]
          },
          allow: { type: 'array', items: actionPattern, default: [], description: 'Actions this role may perform (`portcullis actions` lists them), unless a deny pattern takes them away.' },
          deny: {
            type: 'array',
            items: actionPattern,
            default: [],
            description: 'Actions refused even when an allow pattern matches. Deny wins over allow across inheritance: a deny of this role or of any role it inherits beats every allow, its own or inherited, so a role cannot allow again what a parent denies. `policy validate` warns about an allow a deny takes away; the refusal names the deny pattern and the role it is written in.'
          },
          unsafe: {
            type: 'boolean',
            default: false,
            description: 'Alone permits host-reaching settings (privileged, capabilities, host namespaces, bind mounts, devices…). Not inherited.'
          },
          exec: {
            type: 'object',
            additionalProperties: false,
            description: 'Rules for `docker exec` into the project\'s containers. Unset fields come from the inherited role.',
            properties: {
              interactive: {
                enum: ['allow', 'deny', 'bridge-only'],
                description: 'Every interactive stream: a TTY or a way to write to a process\'s stdin. It governs exec create and start ' +
                  '(`docker exec -i`/`-t`), container create with Tty/OpenStdin/AttachStdin (`docker run -it`, `docker create -ti`), ' +
                  'and attach with stdin (`docker attach`, `docker start -ai`, the websocket attach). `bridge-only` refuses them on the ' +
                  'Docker API and points to the recorded SSH bridge (or says it is off on this host); `docker attach --no-stdin` and `docker run -d` stay allowed.'
              },
              allowCommands: { type: 'array', items: commandPattern, description: 'When set, only matching commands may run.' },
              denyCommands: { type: 'array', items: commandPattern, description: 'Matching commands are refused.' },
              commandStrings: {
                enum: ['allow', 'deny', 'bridge-only'],
                description: 'Command text: a program that runs a string as code (`sh -c`, `bash -ec`, `python3 -c`, `perl -e`, `ruby -e`, ' +
                  '`node -e`, `php -r`, `lua -e`, awk and sed programs, `su -c`, `env -S`, `watch`…), behind any wrapper (`env`, `nice`, ' +
                  '`timeout`, `busybox`, `chroot`) or full path, or a shell or interpreter reading its commands from an attached stdin. ' +
                  'Command globs match the argv, not what a shell makes of a string (`sh -c \'n""senter\'` runs nsenter), so they cannot judge ' +
                  'command text. `deny` refuses it; `bridge-only` allows it only in the recorded SSH bridge (whose sessions are shells); ' +
                  '`allow` lets it through. Unset: `bridge-only` when the role has allowCommands or denyCommands, else `allow`.'
              }
            }
          },
          elevation: {
            type: 'object',
            additionalProperties: false,
            description: 'Overrides for requests of this role; they win over the project\'s and the top level `elevation`.',
            properties: {
              ...elevationFields,
              minLevel: { type: 'integer', minimum: 0, description: 'The clearance (users.<name>.level) a user needs to be granted this role.' }
            }
          }
        }
      }
    },
    projects: {
      type: 'object',
      description: `Projects own the containers, volumes and networks portcullis let them create (\`--label ${PROJECT_LABEL}=<name>\`), and images by repository name (\`images\`).`,
      propertyNames: name,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['members'],
        properties: {
          description: { type: 'string' },
          members: {
            type: 'object',
            description: 'user name → role name.',
            propertyNames: name,
            additionalProperties: { type: 'string' }
          },
          elevation: {
            type: 'object',
            additionalProperties: false,
            description: 'Overrides of the top level `elevation` for requests in this project.',
            properties: elevationSettings
          },
          grants: projectGrants,
          images: {
            type: 'array',
            items: { type: 'string', pattern: '^[a-z0-9*][a-z0-9*._:/\\[\\]-]*$' },
            description: 'Image repositories this project owns, as globs over normalized names (`payments/*` is `docker.io/payments/*`, ' +
              '`registry.example.com/payments/*`; tag and digest are not part of the name; `*` also matches `/`). Tag, push, remove, ' +
              'import, commit and build targets are judged in the owning project; a name no project matches (or several do) needs a global role. ' +
              'When no project sets `images`, images belong to no project and `policy validate` warns.'
          }
        }
      }
    },
    images: {
      type: 'object',
      additionalProperties: false,
      description: 'Where images may come from.',
      properties: {
        registries: {
          type: 'array',
          items: { type: 'string', pattern: '^[A-Za-z0-9.-]+(:[0-9]+)?$|^\\[[0-9A-Fa-f:]+\\](:[0-9]+)?$' },
          description: 'When set, every call that makes the daemon contact a registry is refused, for every role, unless the registry is listed ' +
            '(`docker.io` is Docker Hub, also for `busybox`): `docker pull`, `docker create`/`run` of a repository name (not an image ID), `docker push`, ' +
            '`docker search`, manifest look-ups (`GET /distribution/…`), plugin privilege look-ups, and a BuildKit build\'s `cachefrom` and ' +
            '`BUILDKIT_SYNTAX` frontend. Unset: any registry, except one on the host itself (loopback, `localhost`, link-local), which needs an ' +
            'unsafe role (the daemon would talk to the host\'s own services as root). A build\'s `FROM` pulls happen inside the build context and are not judged.'
        }
      }
    },
    global: {
      type: 'object',
      additionalProperties: false,
      default: { members: {} },
      description: 'Roles held across every project, and the only roles that may act on objects of no project.',
      properties: {
        members: { type: 'object', propertyNames: name, additionalProperties: { type: 'string' }, default: {} }
      }
    },
    bridge: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The SSH bridge: `ssh -p 2222 alice+web-1@dockerhost` opens a recorded shell in container web-1.',
      properties: {
        enabled: { type: 'boolean', default: false, description: 'Start the SSH server with `portcullis serve`. Changing it needs a restart.' },
        required: {
          type: 'boolean',
          default: true,
          description: 'When the bridge is enabled and cannot listen (port taken, bad host key), `portcullis serve` exits with the error. `false`: the plugin runs without the bridge, logs why and records `bridge.failed`.'
        },
        listen: {
          type: 'string',
          default: '127.0.0.1:2222',
          pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[0-9A-Za-z.-]+):[0-9]{1,5}$',
          description: 'Address and port to listen on, e.g. `0.0.0.0:2222` or `[::1]:2222`. Changing it needs a restart.'
        },
        shell: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          minItems: 1,
          default: ['/bin/sh'],
          description: 'What a login without a command runs; judged by the exec command rules like any command.'
        },
        env: {
          type: 'array',
          items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*\\*?$' },
          default: ['LANG', 'LC_*', 'TERM', 'TZ', 'COLORTERM'],
          description: 'Environment variables a client may pass (`SendEnv`); a trailing `*` matches a prefix. Others are dropped.'
        },
        idleTimeout: {
          ...duration,
          default: '15m',
          description: 'A session with no input and no output for this long is ended (`30s`, `15m`, `2h`).'
        },
        maxSession: {
          ...duration,
          default: '8h',
          description: 'A session is ended after this long whatever happens.'
        },
        hostname: {
          type: 'string',
          description: 'The host name users should type, shown in hints (default: the machine\'s host name).'
        },
        loginGraceTime: {
          ...duration,
          default: '30s',
          description: 'A connection that has not logged in this long after it was accepted is closed, whether or not it ever sent a byte (sshd\'s LoginGraceTime). ' +
            'Each such connection shuts its source out for 10 s more (refused while 15 s or more are left, at most 10 min), as sshd\'s PerSourcePenalties do.'
        },
        maxStartups: {
          type: 'string',
          pattern: '^[0-9]+(:[0-9]+:[0-9]+)?$',
          default: '20:30:100',
          description: 'Connections not yet logged in, counted from TCP accept (sshd\'s MaxStartups): from `start` of them on, a new one is refused with `rate`% ' +
            'probability, rising linearly to every one at `full`. A single number N is N:100:N. The default `start` is twice perSourceMaxStartups, ' +
            'so one flooding source alone never makes others\' logins a matter of chance.'
        },
        perSourceMaxStartups: {
          type: 'integer',
          minimum: 1,
          default: 10,
          description: 'Connections not yet logged in from one source block at once; more are refused, so one address cannot take every place (sshd\'s PerSourceMaxStartups).'
        },
        perSourceNetBlockSize: {
          type: 'string',
          pattern: '^[0-9]+(:[0-9]+)?$',
          default: '32:64',
          description: 'Leading bits of an IPv4:IPv6 address that make one source for perSourceMaxStartups (sshd\'s PerSourceNetBlockSize). ' +
            'The IPv6 default is a /64, the smallest network a site is given, unlike sshd\'s 128.'
        },
        maxConnectionsPerUser: {
          type: 'integer',
          minimum: 1,
          default: 64,
          description: 'Logged-in connections one user may hold at once; a login beyond them is closed and recorded, so one key holder cannot take every descriptor the bridge has.'
        },
        maxSessionsPerConnection: {
          type: 'integer',
          minimum: 1,
          default: 10,
          description: 'Session channels open at once on one connection (sshd\'s MaxSessions); more are refused. A logged-in connection with no session open for loginGraceTime is closed.'
        }
      }
    },
    tokens: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The tokens users send (`portcullis token issue`).',
      properties: {
        maxLifetime: {
          ...duration,
          default: '90d',
          description: 'The longest a token may be valid, from when it was issued to when it expires: `token issue` refuses a longer --ttl, and the daemon refuses any token (issued here or not) valid for longer, or with no issue time.'
        }
      }
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The audit trail\'s signed checkpoints and how long records are kept.',
      properties: {
        checkpointInterval: {
          ...duration,
          default: '5m',
          description: 'How often `portcullis serve` signs the newest record (when new records came in), with audit_ed25519.key. It also signs one when it stops.'
        },
        checkpointRecords: {
          type: 'integer',
          minimum: 1,
          default: 100000,
          description: 'Sign sooner than `checkpointInterval` once this many records came in since the last checkpoint, so that a busy host\'s trail is pinned (and its head logged) more often. Each checkpoint first verifies the records since the last one (measured at about 7 % of the CPU of the decisions themselves); fewer, larger checkpoints cost the same per record but less per checkpoint.'
        },
        retention: {
          ...duration,
          description: 'Records older than this (`400d`) are removed, 10,000 at a time and only once an `audit bundle` holds them (and a SIEM output, `outputs`, has written them); checked daily. Unset: kept forever.'
        },
        verifyInterval: {
          ...duration,
          default: '1h',
          description: 'How often `portcullis serve` verifies its own trail while it runs: from the newest signed checkpoint that still matches its record to the head (what changed since the last checkpoint, so it stays cheap), recorded as `audit.verify` when records came in since the last run. Damage found raises the `verify-failed` alert (see `alerts`).'
        },
        auditors: {
          type: 'array',
          items: name,
          uniqueItems: true,
          default: [],
          description: 'Users who hold the auditor role (separation of duties): with their own token they read, export, replay, verify and bundle the audit trail through the elevation API (`portcullis audit export --url URL`, and the other audit commands), without root on the host. The role grants nothing else: no policy change, no token, no approval, no removal of records. Every read, theirs or root\'s, is recorded (`audit.read`). See docs/audit-access.md.'
        }
      }
    },
    elevation: {
      type: 'object',
      additionalProperties: false,
      description: 'Just-in-time role elevation: users ask for a bigger role for a while (`portcullis request create`), approvers grant it.',
      properties: {
        maxTtl: { ...elevationSettings.maxTtl, default: '8h' },
        maxSteps: { ...elevationSettings.maxSteps, default: 1 },
        requestTtl: { ...elevationSettings.requestTtl, default: '1h' },
        autoApprove: { ...elevationSettings.autoApprove, default: false },
        minLevel: elevationSettings.minLevel,
        webhook: elevationSettings.webhook,
        approvers: elevationSettings.approvers,
        requestsPerHour: {
          type: 'integer',
          minimum: 1,
          default: 20,
          description: 'How many requests one user may make in any hour, in every project together; more are refused with a time to retry (withdrawn ones count).'
        },
        maxPending: {
          type: 'integer',
          minimum: 1,
          default: 5,
          description: 'How many undecided requests one user may have at once, in every project together.'
        },
        retention: {
          ...duration,
          default: '30d',
          description: 'Finished requests (denied, expired, withdrawn, or whose grant ended) are forgotten this long after they finished: `request list` stops showing them. Their audit records stay.'
        }
      }
    },
    users: {
      type: 'object',
      default: {},
      description: 'Per-user data used by the SSH bridge and access requests.',
      propertyNames: name,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          description: { type: 'string' },
          email: { type: 'string' },
          level: { type: 'integer', minimum: 0, description: 'Clearance level.' },
          sshKeys: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'OpenSSH authorized_keys lines, one key each. Options: from=, command=, expiry-time=, restrict, pty, no-pty, no-port-forwarding, no-agent-forwarding, no-X11-forwarding, no-user-rc; any other option is an error.' }
        }
      }
    },
    outputs: {
      type: 'object',
      additionalProperties: false,
      description: 'Copies of the audit records for a SIEM, written by `portcullis serve` from the chain in seq order, each record exactly as the store holds it (with its seq and hash), so the copy can be checked against the chain. Changing them needs a restart. See docs/siem.md.',
      properties: {
        files: {
          type: 'object',
          additionalProperties: false,
          required: ['dir'],
          description: 'Sealed files for a file-reading agent (Fluent Bit `tail`, Vector `file`): JSON lines appended to `<dir>/portcullis-open.tmp`, which is synced and renamed to `portcullis-<first seq>-<last seq>.jsonl` (20 digits each, so names sort in seq order) once it reaches maxBytes or maxAge, and at shutdown. Point the agent at `<dir>/*.jsonl` only. Retention keeps every record until it is in a sealed file.',
          properties: {
            dir: { type: 'string', pattern: '^/', description: 'An absolute directory path; made (0700, or 0750 with `group`) when missing. Give each serve its own directory.' },
            maxBytes: { type: 'integer', minimum: 4096, default: 16777216, description: 'Seal the open file before it would pass this many bytes (a single larger record gets a file of its own).' },
            maxAge: { ...duration, default: '1m', description: 'Seal the open file this long after its first record was written: the most a record waits before the agent can read it.' },
            group: {
              type: 'string',
              pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$',
              description: 'A group name or number that may read the files (the agent\'s, e.g. `fluent-bit`): the directory becomes 0750 and the files 0640, owned by that group. Unset: 0700 and 0600, readable only by the user serve runs as.'
            },
            keepFor: { ...duration, description: 'Remove sealed files older than this (by the time they were sealed). Unset: never; the agent or the operator removes them. The newest sealed file always stays.' },
            keepBytes: { type: 'integer', minimum: 1, description: 'Remove the oldest sealed files while all of them together are larger than this. Unset: no limit. The newest sealed file always stays.' }
          }
        },
        syslog: {
          type: 'object',
          additionalProperties: false,
          required: ['address'],
          description: 'A syslog receiver that gets every record as one RFC 5424 message, framed by octet counting (RFC 6587): MSG is the record exactly as the store holds it, structured data `portcullis@32473` carries its seq, hash, prevHash, kind and decision; severity: alert records their alert\'s, denials notice, the rest info. Its cursor is kept in the store and holds retention back; a restart resumes there. Over `tcp:` and `unix:` the cursor is the last record handed to the kernel: syslog has no acknowledgement, so what the receiver held in its own buffers when it crashed is lost to it. Over `relp:` (RELP, rsyslog\'s imrelp) the cursor is the last record the receiver acknowledged (`rsp 200`), and what was sent and not acknowledged when a session is lost is sent again (at least once: deduplicate on seq). See docs/siem.md.',
          properties: {
            address: { type: 'string', description: '`tcp:HOST:PORT` or `unix:/path` of a stream socket (as alerts.syslog.address; delivered means handed to the kernel), or `relp:HOST:PORT` of a RELP receiver (rsyslog imrelp; delivered means acknowledged: configure the receiver to acknowledge only what it wrote, docs/siem.md). A datagram socket such as /dev/log cannot be written (PORTCULLIS_SYSLOG_DATAGRAM_SOCKET).' },
            facility: { type: 'string', enum: ['auth', 'authpriv', 'daemon', 'security', 'syslog', 'user', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'], default: 'local0', description: 'The syslog facility of every record; the severity comes from the record.' },
            hostname: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$', description: 'HOSTNAME of every message. Unset: this host\'s name.' }
          }
        }
      }
    },
    alerts: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Where portcullis raises an alert when its auditing fails (PCI DSS 10.7.2): a write to the audit store failed, free disk space is low, a checkpoint could not be signed, a policy reload was refused, its periodic verify found damage, serve stopped, fleet shipping lags or raised an integrity alarm. Each alert is also an audit record (`alert.<kind>`); the same condition alerts once, then every `reminderInterval` while it lasts, and once more when it ends. See docs/alerts.md.',
      properties: {
        webhook: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          description: 'An http(s) URL that gets a JSON POST for each alert (`{event: "alert.<kind>", time, alert: {…}}`), retried with backoff like the elevation webhook.',
          properties: {
            url: { type: 'string', pattern: '^https?://', description: 'Where alerts are POSTed.' },
            retries: { type: 'integer', minimum: 0, maximum: 10, default: 4, description: 'Tries after the first, 1 s apart, then 2, 4, 8 … s.' },
            timeout: { ...duration, default: '5s', description: 'How long one try waits for an answer.' }
          }
        },
        syslog: {
          type: 'object',
          additionalProperties: false,
          required: ['address'],
          description: 'A syslog receiver that gets each alert as an RFC 5424 message (structured data `portcullis@32473`), framed by octet counting (RFC 6587).',
          properties: {
            address: { type: 'string', description: '`tcp:HOST:PORT` or `unix:/path` of a stream socket. A datagram socket such as /dev/log cannot be written (PORTCULLIS_SYSLOG_DATAGRAM_SOCKET). Alerts are plain syslog: `relp:` is for outputs.syslog (which carries the alert records too, acknowledged).' },
            facility: { type: 'string', enum: ['auth', 'authpriv', 'daemon', 'security', 'syslog', 'user', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'], default: 'local0', description: 'The syslog facility of every alert; the severity comes from the alert.' }
          }
        },
        diskFreeBelow: {
          type: 'string',
          pattern: '^[0-9]+(\\.[0-9]+)?(B|KiB|MiB|GiB|TiB|%)$',
          default: '1GiB',
          description: 'Raise `disk-low` when the free space of the audit store\'s file system falls below this (`1GiB`, `500MiB`, `5%`), before writes fail.'
        },
        diskCheckInterval: { ...duration, default: '30s', description: 'How often the free disk space is looked at (one statfs call).' },
        reminderInterval: { ...duration, default: '1h', description: 'While a condition lasts, it is alerted again this often.' }
      }
    }
  }
} as const

type DefaultsOf<P> = { readonly [K in keyof P as P[K] extends { default: unknown } ? K : never]: P[K] extends { default: infer D } ? D : never }

/** The `default` of each setting in one section of the schema: what a policy that leaves the setting out gets. The
 * compiled policy takes its defaults from here, so the schema (and the reference in docs/policy.md made from it) is their one source. */
function defaultsOf<P extends Record<string, object>> (properties: P): DefaultsOf<P> {
  return Object.freeze(Object.fromEntries(Object.entries(properties).flatMap(([key, setting]) => 'default' in setting ? [[key, setting.default]] : []))) as DefaultsOf<P>
}

export const BRIDGE_DEFAULTS = defaultsOf(POLICY_SCHEMA.properties.bridge.properties)
export const AUDIT_DEFAULTS = defaultsOf(POLICY_SCHEMA.properties.audit.properties)
export const TOKEN_DEFAULTS = defaultsOf(POLICY_SCHEMA.properties.tokens.properties)
export const ELEVATION_DEFAULTS = defaultsOf(POLICY_SCHEMA.properties.elevation.properties)
export const FILES_OUTPUT_DEFAULTS = defaultsOf(POLICY_SCHEMA.properties.outputs.properties.files.properties)
export const SYSLOG_OUTPUT_DEFAULTS = defaultsOf(POLICY_SCHEMA.properties.outputs.properties.syslog.properties)
export const ALERT_DEFAULTS = defaultsOf(POLICY_SCHEMA.properties.alerts.properties)
