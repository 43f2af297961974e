// The Go shapes (Docker 20.10, API 1.41) of the request bodies portcullis judges, reduced to the
// fields it looks at, with TypeScript views of what `decodeAs` produces from them. Field names are
// the JSON names from moby's api/types (`json:"Dns"` and the like); matching is case-insensitive.
// Absent fields are Go zero values; `null` means Go's nil (set explicitly by the body).

import {
  embed, goBool, goNumber, goRaw, goStrSlice, goString, goStruct, mapOf, pointerTo, sliceOf, structOf,
  type GoStruct
} from './godecode.js'

const strings = sliceOf(goString)
const stringMap = mapOf(goString)

// api/types/container/config.go: Config (portable part of a container's configuration).
const configFields = {
  Hostname: goString,
  User: goString,
  AttachStdin: goBool,
  Tty: goBool,
  OpenStdin: goBool,
  Env: strings,
  Cmd: goStrSlice,
  Image: goString,
  WorkingDir: goString,
  Entrypoint: goStrSlice,
  Labels: stringMap
}

// api/types/container/host_config.go: Resources (embedded in HostConfig and UpdateConfig).
const deviceMapping = goStruct('DeviceMapping', { PathOnHost: goString, PathInContainer: goString, CgroupPermissions: goString })
const deviceRequest = goStruct('DeviceRequest', { Driver: goString, Count: goNumber, DeviceIDs: strings })
const resourcesFields = {
  CgroupParent: goString,
  Devices: sliceOf(structOf(deviceMapping)),
  DeviceCgroupRules: strings,
  DeviceRequests: sliceOf(structOf(deviceRequest))
}

// api/types/mount/mount.go
const driver = goStruct('Driver', { Name: goString, Options: stringMap })
const volumeOptions = goStruct('VolumeOptions', { DriverConfig: pointerTo(driver) })
const mount = goStruct('Mount', {
  Type: goString,
  Source: goString,
  Target: goString,
  ReadOnly: goBool,
  VolumeOptions: pointerTo(volumeOptions)
})

// api/types/container/host_config.go: HostConfig (non-portable part).
const hostConfigFields = {
  Binds: strings,
  NetworkMode: goString,
  VolumeDriver: goString,
  VolumesFrom: strings,
  CapAdd: goStrSlice,
  // Added in API 1.40 and gone again in 1.41 (20.10 ignores it); still treated as asked for.
  Capabilities: goRaw,
  CgroupnsMode: goString,
  IpcMode: goString,
  Cgroup: goString,
  Links: strings,
  PidMode: goString,
  Privileged: goBool,
  SecurityOpt: strings,
  UTSMode: goString,
  UsernsMode: goString,
  Sysctls: stringMap,
  Runtime: goString,
  ...resourcesFields,
  Mounts: sliceOf(structOf(mount)),
  MaskedPaths: strings,
  ReadonlyPaths: strings
}
const hostConfig = goStruct('HostConfig', hostConfigFields)

// api/types/network: EndpointSettings and NetworkingConfig.
const endpointSettings = goStruct('EndpointSettings', { Links: strings, Aliases: strings, NetworkID: goString })
const networkingConfig = goStruct('NetworkingConfig', { EndpointsConfig: mapOf(pointerTo(endpointSettings)) })

/**
 * runconfig/config_unix.go: ContainerConfigWrapper embeds *Config and (deprecated) *HostConfig, so
 * their fields are accepted at the top level too, next to the `HostConfig` and `NetworkingConfig` keys.
 */
export const containerCreateSchema: GoStruct = embed('ContainerConfigWrapper', configFields, hostConfigFields, {
  HostConfig: pointerTo(hostConfig),
  Cpuset: goString,
  NetworkingConfig: pointerTo(networkingConfig)
})

// api/types/configs.go: ExecConfig (Cmd is a plain []string here, not a StrSlice).
export const execCreateSchema: GoStruct = goStruct('ExecConfig', {
  User: goString,
  Privileged: goBool,
  Tty: goBool,
  AttachStdin: goBool,
  AttachStdout: goBool,
  AttachStderr: goBool,
  Detach: goBool,
  Env: strings,
  WorkingDir: goString,
  Cmd: strings
})

// api/types/container/host_config.go: UpdateConfig embeds Resources.
export const containerUpdateSchema: GoStruct = embed('UpdateConfig', resourcesFields)

// api/types/types.go: NetworkCreateRequest embeds NetworkCreate.
export const networkCreateSchema: GoStruct = goStruct('NetworkCreateRequest', {
  Name: goString,
  Driver: goString,
  Scope: goString,
  Internal: goBool,
  Attachable: goBool,
  Ingress: goBool,
  ConfigOnly: goBool,
  ConfigFrom: pointerTo(goStruct('ConfigReference', { Network: goString })),
  Options: stringMap,
  Labels: stringMap
})

// api/types/types.go: NetworkConnect and NetworkDisconnect.
export const networkConnectSchema: GoStruct = goStruct('NetworkConnect', {
  Container: goString,
  EndpointConfig: pointerTo(endpointSettings)
})
export const networkDisconnectSchema: GoStruct = goStruct('NetworkDisconnect', { Container: goString, Force: goBool })

// api/types/volume/volume_create.go: VolumeCreateBody.
export const volumeCreateSchema: GoStruct = goStruct('VolumeCreateBody', {
  Name: goString,
  Driver: goString,
  DriverOpts: stringMap,
  Labels: stringMap
})

// TypeScript views of the decoded values. `null` is Go's nil; `undefined` is "never set".

type Nil<T> = T | null | undefined
export type StringMap = Record<string, string>

export interface DeviceMapping { PathOnHost?: string, PathInContainer?: string, CgroupPermissions?: string }
export interface DeviceRequest { Driver?: string, Count?: number, DeviceIDs?: Nil<string[]> }

export interface ResourcesBody {
  CgroupParent?: string
  Devices?: Nil<DeviceMapping[]>
  DeviceCgroupRules?: Nil<string[]>
  DeviceRequests?: Nil<DeviceRequest[]>
}

export interface MountBody {
  Type?: string
  Source?: string
  Target?: string
  ReadOnly?: boolean
  VolumeOptions?: Nil<{ DriverConfig?: Nil<{ Name?: string, Options?: Nil<StringMap> }> }>
}

export interface HostConfigBody extends ResourcesBody {
  Binds?: Nil<string[]>
  NetworkMode?: string
  VolumeDriver?: string
  VolumesFrom?: Nil<string[]>
  CapAdd?: Nil<string[]>
  Capabilities?: unknown
  CgroupnsMode?: string
  IpcMode?: string
  Cgroup?: string
  Links?: Nil<string[]>
  PidMode?: string
  Privileged?: boolean
  SecurityOpt?: Nil<string[]>
  UTSMode?: string
  UsernsMode?: string
  Sysctls?: Nil<StringMap>
  Runtime?: string
  Mounts?: Nil<MountBody[]>
  MaskedPaths?: Nil<string[]>
  ReadonlyPaths?: Nil<string[]>
}

export interface EndpointSettingsBody { Links?: Nil<string[]>, Aliases?: Nil<string[]>, NetworkID?: string }

export interface ContainerCreateBody extends HostConfigBody {
  Hostname?: string
  User?: string
  AttachStdin?: boolean
  Tty?: boolean
  OpenStdin?: boolean
  Env?: Nil<string[]>
  Cmd?: Nil<string[]>
  Image?: string
  WorkingDir?: string
  Entrypoint?: Nil<string[]>
  Labels?: Nil<StringMap>
  HostConfig?: Nil<HostConfigBody>
  Cpuset?: string
  NetworkingConfig?: Nil<{ EndpointsConfig?: Nil<Record<string, Nil<EndpointSettingsBody>>> }>
}

export interface ExecCreateBody {
  User?: string
  Privileged?: boolean
  Tty?: boolean
  AttachStdin?: boolean
  AttachStdout?: boolean
  AttachStderr?: boolean
  Detach?: boolean
  Env?: Nil<string[]>
  WorkingDir?: string
  Cmd?: Nil<string[]>
}

export type ContainerUpdateBody = ResourcesBody

export interface NetworkCreateBody {
  Name?: string
  Driver?: string
  Scope?: string
  Internal?: boolean
  Attachable?: boolean
  Ingress?: boolean
  ConfigOnly?: boolean
  ConfigFrom?: Nil<{ Network?: string }>
  Options?: Nil<StringMap>
  Labels?: Nil<StringMap>
}

export interface NetworkConnectBody { Container?: string, EndpointConfig?: Nil<EndpointSettingsBody> }
export interface NetworkDisconnectBody { Container?: string, Force?: boolean }

export interface VolumeCreateBody {
  Name?: string
  Driver?: string
  DriverOpts?: Nil<StringMap>
  Labels?: Nil<StringMap>
}

/** The request bodies portcullis reads, by route kind. */
export interface BodyTypes {
  'container-create': ContainerCreateBody
  'exec-create': ExecCreateBody
  'container-update': ContainerUpdateBody
  'network-create': NetworkCreateBody
  'network-connect': NetworkConnectBody
  'network-disconnect': NetworkDisconnectBody
  'volume-create': VolumeCreateBody
}

export type BodyKind = keyof BodyTypes

export const bodySchemas: Record<BodyKind, GoStruct> = {
  'container-create': containerCreateSchema,
  'exec-create': execCreateSchema,
  'container-update': containerUpdateSchema,
  'network-create': networkCreateSchema,
  'network-connect': networkConnectSchema,
  'network-disconnect': networkDisconnectSchema,
  'volume-create': volumeCreateSchema
}
