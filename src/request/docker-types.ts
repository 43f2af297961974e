// TypeScript views of the request bodies portcullis judges (Docker 20.10, API 1.41), as `decodeAs` produces
// them from the field tables in fields/ (the Go shapes, reduced to the fields portcullis looks at). Field names are
// the JSON names from moby's api/types (`json:"Dns"` and the like). `null` is Go's nil; `undefined` is "never set".

type Nil<T> = T | null | undefined
export type StringMap = Record<string, string>

interface DeviceMapping { PathOnHost?: string, PathInContainer?: string, CgroupPermissions?: string }
interface DeviceRequest { Driver?: string, Count?: number, DeviceIDs?: Nil<string[]> }

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

type ContainerUpdateBody = ResourcesBody

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
