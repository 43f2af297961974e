// Container bodies (Docker 20.10, API 1.41): create (runconfig ContainerConfigWrapper), update (UpdateConfig),
// commit (container.Config). Go names and types from moby api/types/container and api/types/network.

import {
  bool, escape, fieldTable, harmless, keySet, nested, number, numbers, raw, ruled, string, stringMap, strings,
  strslice, unsafe, type FieldSpec, type FieldTable
} from './table.js'
import { sliceOf } from '../godecode.js'

const healthConfig = fieldTable('HealthConfig', {
  Test: harmless(strings), Interval: harmless(number), Timeout: harmless(number), StartPeriod: harmless(number), Retries: harmless(number)
})

/** api/types/container/config.go Config: the portable part, also the body of POST /commit. */
const configFields: Record<string, FieldSpec> = {
  Hostname: harmless(string),
  Domainname: harmless(string),
  User: harmless(string, 'A user inside the container.'),
  AttachStdin: ruled('interactive', bool),
  AttachStdout: harmless(bool),
  AttachStderr: harmless(bool),
  ExposedPorts: harmless(keySet, 'Only metadata; publishing is PortBindings/PublishAllPorts.'),
  Tty: ruled('interactive', bool),
  OpenStdin: ruled('interactive', bool),
  StdinOnce: ruled('interactive', bool),
  Env: harmless(strings),
  Cmd: harmless(strslice),
  Healthcheck: nested('harmless', healthConfig, 'pointer', { note: 'Runs inside the container.' }),
  ArgsEscaped: harmless(bool),
  Image: ruled('registry', string),
  Volumes: harmless(keySet, 'Anonymous volumes of the local driver.'),
  WorkingDir: harmless(string),
  Entrypoint: harmless(strslice),
  NetworkDisabled: harmless(bool),
  MacAddress: harmless(string),
  OnBuild: harmless(strings),
  Labels: ruled('project-label', stringMap),
  StopSignal: harmless(string),
  StopTimeout: harmless(number),
  Shell: harmless(strslice)
}

const weightDevice = fieldTable('WeightDevice', { Path: harmless(string), Weight: harmless(number) })
const throttleDevice = fieldTable('ThrottleDevice', { Path: harmless(string), Rate: harmless(number) })
const deviceMapping = fieldTable('DeviceMapping', { PathOnHost: harmless(string), PathInContainer: harmless(string), CgroupPermissions: harmless(string) })
const deviceRequest = fieldTable('DeviceRequest', {
  Driver: harmless(string), Count: harmless(number), DeviceIDs: harmless(strings), Capabilities: harmless(sliceOf(strings)), Options: harmless(stringMap)
})
const ulimit = fieldTable('Ulimit', { Name: harmless(string), Hard: harmless(number), Soft: harmless(number) })
const HOST_DEVICE = 'Names a host block device whose I/O the container then throttles or weighs.'

/** api/types/container/host_config.go Resources: embedded in HostConfig and UpdateConfig. */
const resourcesFields: Record<string, FieldSpec> = {
  CpuShares: harmless(number),
  Memory: harmless(number),
  NanoCpus: harmless(number),
  CgroupParent: escape('cgroup-parent', string),
  BlkioWeight: harmless(number),
  BlkioWeightDevice: nested('unsafe', weightDevice, 'slice', { note: HOST_DEVICE }),
  BlkioDeviceReadBps: nested('unsafe', throttleDevice, 'slice', { note: HOST_DEVICE }),
  BlkioDeviceWriteBps: nested('unsafe', throttleDevice, 'slice', { note: HOST_DEVICE }),
  BlkioDeviceReadIOps: nested('unsafe', throttleDevice, 'slice', { note: HOST_DEVICE }),
  BlkioDeviceWriteIOps: nested('unsafe', throttleDevice, 'slice', { note: HOST_DEVICE }),
  CpuPeriod: harmless(number),
  CpuQuota: harmless(number),
  CpuRealtimePeriod: unsafe(number, { note: 'Real-time CPU time taken from the host\'s real-time budget.' }),
  CpuRealtimeRuntime: unsafe(number, { note: 'Real-time CPU time taken from the host\'s real-time budget.' }),
  CpusetCpus: harmless(string),
  CpusetMems: harmless(string),
  Devices: nested('escape', deviceMapping, 'slice', { setting: 'devices' }),
  DeviceCgroupRules: escape('device-cgroup-rules', strings),
  DeviceRequests: nested('escape', deviceRequest, 'slice', { setting: 'device-requests' }),
  KernelMemory: harmless(number),
  KernelMemoryTCP: harmless(number),
  MemoryReservation: harmless(number),
  MemorySwap: harmless(number),
  MemorySwappiness: harmless(number),
  OomKillDisable: unsafe(bool, { note: 'A container the OOM killer spares makes the kernel kill host processes instead.' }),
  PidsLimit: harmless(number),
  Ulimits: nested('harmless', ulimit, 'slice'),
  CpuCount: harmless(number, 'Windows only.'),
  CpuPercent: harmless(number, 'Windows only.'),
  IOMaximumIOps: harmless(number, 'Windows only.'),
  IOMaximumBandwidth: harmless(number, 'Windows only.')
}

const restartPolicy = fieldTable('RestartPolicy', { Name: harmless(string), MaximumRetryCount: harmless(number) })
const logConfig = fieldTable('LogConfig', {
  Type: ruled('grant-log-driver', string),
  Config: ruled('grant-log-driver', stringMap, { note: 'Options of the driver named by Type (or of the daemon default when Type is empty).' })
})
const portBinding = fieldTable('PortBinding', { HostIp: ruled('grant-ports', string), HostPort: ruled('grant-ports', string) })

const bindOptions = fieldTable('BindOptions', { Propagation: harmless(string), NonRecursive: harmless(bool) })
const driverConfig = fieldTable('Driver', {
  Name: unsafe(string, { setting: 'volume-driver', defaults: ['local'], note: 'A volume plugin the daemon calls as root.' }),
  Options: ruled('volume-driver-opts', stringMap)
})
const volumeOptions = fieldTable('VolumeOptions', {
  NoCopy: harmless(bool), Labels: harmless(stringMap), DriverConfig: nested('harmless', driverConfig, 'pointer')
})
const tmpfsOptions = fieldTable('TmpfsOptions', { SizeBytes: harmless(number), Mode: harmless(number) })
const mount = fieldTable('Mount', {
  Type: escape('bind-mount', string, 'bind and npipe mounts, and types the daemon does not know, are bind-mount escapes.'),
  Source: escape('bind-mount', string, 'A host path is a bind-mount escape; a volume name is a reference.'),
  Target: harmless(string),
  ReadOnly: harmless(bool),
  Consistency: harmless(string),
  BindOptions: nested('harmless', bindOptions, 'pointer'),
  VolumeOptions: nested('harmless', volumeOptions, 'pointer'),
  TmpfsOptions: nested('harmless', tmpfsOptions, 'pointer')
})

/** api/types/container/host_config.go HostConfig: the non-portable part. */
const hostConfigFields: Record<string, FieldSpec> = {
  Binds: escape('bind-mount', strings, 'A host path is a bind-mount escape; a volume name is a reference.'),
  ContainerIDFile: harmless(string, 'Read by the CLI only.'),
  LogConfig: nested('grant-log-driver', logConfig, 'struct'),
  NetworkMode: escape('network-namespace', string, '`host` and `container:<x>` are escapes; a network name is a reference.'),
  PortBindings: nested('grant-ports', portBinding, 'map-slice'),
  RestartPolicy: nested('harmless', restartPolicy, 'struct'),
  AutoRemove: harmless(bool),
  VolumeDriver: unsafe(string, { setting: 'volume-driver', defaults: ['local'], note: 'A volume plugin the daemon calls as root.' }),
  VolumesFrom: ruled('reference', strings),
  CapAdd: escape('cap-add', strslice),
  CapDrop: harmless(strslice),
  Capabilities: escape('capabilities', raw, 'API 1.40 only; 20.10 ignores it, still treated as asked for.'),
  CgroupnsMode: escape('cgroup-namespace', string),
  Dns: harmless(strings),
  DnsOptions: harmless(strings),
  DnsSearch: harmless(strings),
  ExtraHosts: ruled('host-gateway', strings),
  GroupAdd: harmless(strings),
  IpcMode: escape('ipc-namespace', string),
  Cgroup: escape('cgroup', string),
  Links: ruled('reference', strings),
  OomScoreAdj: unsafe(number, { note: 'A negative score makes the kernel kill host processes first.' }),
  PidMode: escape('pid-namespace', string),
  Privileged: escape('privileged', bool),
  PublishAllPorts: ruled('grant-ports', bool, { note: 'Publishes every exposed port on every host address, on random ports (32768-60999).' }),
  ReadonlyRootfs: harmless(bool),
  SecurityOpt: escape('security-opt', strings, 'Only no-new-privileges (turning it on) is harmless.'),
  StorageOpt: unsafe(stringMap, { note: 'Storage-driver options (size) of the host\'s storage.' }),
  Tmpfs: harmless(stringMap),
  UTSMode: escape('uts-namespace', string),
  UsernsMode: escape('user-namespace', string),
  ShmSize: harmless(number),
  Sysctls: escape('sysctls', stringMap),
  Runtime: unsafe(string, { defaults: ['runc'], note: 'Another OCI runtime registered with the daemon (it runs as root on the host).' }),
  ConsoleSize: harmless(numbers),
  Isolation: unsafe(string, { defaults: ['default'], note: 'Windows isolation; Linux daemons refuse other values.' }),
  ...resourcesFields,
  Mounts: nested('escape', mount, 'slice', { setting: 'bind-mount' }),
  MaskedPaths: escape('masked-paths', strings),
  ReadonlyPaths: escape('readonly-paths', strings),
  Init: harmless(bool, 'Runs the daemon\'s docker-init as PID 1 inside the container.')
}

const hostConfigTable = fieldTable('HostConfig', hostConfigFields)

const endpointIpamConfig = fieldTable('EndpointIPAMConfig', {
  IPv4Address: harmless(string, 'A static address inside the network\'s own (judged) subnet.'),
  IPv6Address: harmless(string, 'A static address inside the network\'s own (judged) subnet.'),
  LinkLocalIPs: unsafe(strings)
})

/** api/types/network/network.go EndpointSettings: create's NetworkingConfig and network connect. */
export const endpointSettingsTable: FieldTable = fieldTable('EndpointSettings', {
  IPAMConfig: nested('harmless', endpointIpamConfig, 'pointer'),
  Links: ruled('reference', strings),
  Aliases: harmless(strings),
  NetworkID: ruled('reference', string),
  EndpointID: harmless(string, 'Operational data; ignored on create.'),
  Gateway: harmless(string, 'Operational data; ignored on create.'),
  IPAddress: harmless(string, 'Operational data; ignored on create.'),
  IPPrefixLen: harmless(number, 'Operational data; ignored on create.'),
  IPv6Gateway: harmless(string, 'Operational data; ignored on create.'),
  GlobalIPv6Address: harmless(string, 'Operational data; ignored on create.'),
  GlobalIPv6PrefixLen: harmless(number, 'Operational data; ignored on create.'),
  MacAddress: harmless(string),
  DriverOpts: unsafe(stringMap, { setting: 'endpoint-driver-opts', note: 'Options of the network driver for this endpoint.' })
})

const networkingConfig = fieldTable('NetworkingConfig', {
  EndpointsConfig: nested('reference', endpointSettingsTable, 'map-pointer', {
    note: 'Keys are network names: references; `host` is the network-namespace escape.'
  })
})

/**
 * POST /containers/create: runconfig ContainerConfigWrapper embeds *Config and (deprecated) *HostConfig, so
 * HostConfig's fields are read at the top level too, next to HostConfig, NetworkingConfig and Cpuset.
 */
export const containerCreateTable: FieldTable = fieldTable('ContainerConfigWrapper', configFields, hostConfigFields, {
  HostConfig: nested('harmless', hostConfigTable, 'pointer'),
  Cpuset: harmless(string, 'Deprecated alias of CpusetCpus.'),
  NetworkingConfig: nested('harmless', networkingConfig, 'pointer')
})

/** POST /containers/{id}/update: UpdateConfig embeds Resources. */
export const containerUpdateTable: FieldTable = fieldTable('UpdateConfig', resourcesFields, {
  RestartPolicy: nested('harmless', restartPolicy, 'struct'),
  Init: harmless(bool, 'Documented for update, but UpdateConfig has no such field: the daemon ignores it.')
})

/** POST /commit: the image's new config (container.Config). */
export const commitTable: FieldTable = fieldTable('Config', configFields)
