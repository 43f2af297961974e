// The closed list of ways a query parameter or body field is judged. Every parameter of every route and every
// field of every body the daemon reads carries one of these (src/request/query-params.ts, src/request/fields/*).
// Anything not listed is unknown: a query parameter is denied, a body field is denied unless its value is Go's
// zero value (null, false, 0, "", [], {}), which cannot ask the daemon for anything.

import { PROJECT_LABEL } from '../../core/project-label.js'

export const RULES = {
  harmless: 'Allowed at any value: it acts inside the container or only shapes the answer.',
  unsafe: 'Needs an `unsafe` role when set to anything but its Go zero value (or the listed defaults).',
  'route-unsafe': 'The whole route already needs an `unsafe` role (`hostReaching` in the route table); the name is listed so that it is known.',
  escape: 'Judged by the host-escape checks of src/request/escapes.ts under the setting named (bind-mount, privileged, …): those settings need an `unsafe` role.',
  'grant-ports': 'Published ports (root\'s docker-proxy listens on host addresses): allowed when the project\'s `grants.ports` cover every host address and port, or for an `unsafe` role.',
  'grant-log-driver': 'Log driver: `json-file`, `local`, `none` and the daemon default are harmless; any other driver (the daemon connects where it says, from the host network) needs the project\'s `grants.logDrivers` or an `unsafe` role.',
  'grant-subnet': 'Network address pools (a subnet installs a host route): each subnet must lie inside the project\'s `grants.subnets`, and its range, gateway and auxiliary addresses inside the subnet; otherwise an `unsafe` role.',
  'host-gateway': '`host-gateway` (the host itself) in an extra host entry needs an `unsafe` role; other entries only write /etc/hosts.',
  'network-driver': '`bridge`, `overlay` and the default are harmless; `macvlan`, `ipvlan` and `host` are the `host-network-driver` escape; any other driver (a plugin) needs an `unsafe` role.',
  'volume-driver-opts': 'Local volume driver options: none, or a `tmpfs` mount, are harmless; bind-like options are the `bind-like-volume` escape; anything else (nfs, cifs: the daemon mounts from the host network) needs an `unsafe` role.',
  'build-network-mode': 'Build network: default, `bridge` and `none` are harmless; `host` is the `net-namespace` escape; `container:<name>` and a user-defined network are references that must belong to the call\'s project.',
  'build-outputs': 'BuildKit exporters: `local`, `tar` and `cacheonly` send files to the client; `moby` writes the image names in `Attrs.name`, judged like `t`; any other exporter, or a value portcullis cannot read, needs an `unsafe` role.',
  'import-source': 'Import source: `-` (the body) is harmless; a URL makes the daemon download it (`import-from-url`, unsafe).',
  'checkpoint-dir': 'A host directory the daemon reads a checkpoint from (`checkpoint-dir`, unsafe).',
  interactive: 'Opens an interactive stream (stdin, TTY): judged by the role\'s `exec.interactive` rule.',
  'exec-command': 'The command an exec runs: judged by the role\'s exec command rules.',
  'object-name': 'The name of a new or renamed object: judged so that it cannot be read as another object\'s ID.',
  'prune-filters': 'Prune filters: must confine the prune to projects where the caller holds the action.',
  'image-repository': 'An image repository or tag the call writes: judged on the repository\'s project.',
  registry: 'An image the daemon fetches, pushes or asks a registry about (pull, create, push, search, manifest and plugin look-ups, a build\'s `cachefrom` and `BUILDKIT_SYNTAX` frontend): judged against `images.registries`; without that list, a registry on the host itself (loopback, link-local) needs an `unsafe` role.',
  'project-label': `Labels: \`${PROJECT_LABEL}\` says which project the new object belongs to.`,
  reference: 'Names another existing object (container, network, volume, image): it must belong to the call\'s project.'
} as const

export type Rule = keyof typeof RULES
