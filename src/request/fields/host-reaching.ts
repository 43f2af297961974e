// Body fields of routes that already need an unsafe role as a whole (`hostReaching` in src/routes/table.ts) and
// of POST /auth (the daemon never forwards that body to plugins). They are not judged field by field: the route
// decides. They are listed so that a field Docker adds shows up in the coverage test
// (test/unit/request-allowlist-coverage.test.ts). Names as in Engine API v1.41 (`A.B`, `A[].B`, `A.*.B`).

/** swarm.ServiceSpec: the body of service create and of service update. */
const SERVICE_SPEC: readonly string[] = [
    'EndpointSpec', 'EndpointSpec.Mode', 'EndpointSpec.Ports', 'EndpointSpec.Ports[].Name',
    'EndpointSpec.Ports[].Protocol', 'EndpointSpec.Ports[].PublishMode', 'EndpointSpec.Ports[].PublishedPort',
    'EndpointSpec.Ports[].TargetPort', 'Labels', 'Mode', 'Mode.Global', 'Mode.GlobalJob', 'Mode.Replicated',
    'Mode.Replicated.Replicas', 'Mode.ReplicatedJob', 'Mode.ReplicatedJob.MaxConcurrent',
    'Mode.ReplicatedJob.TotalCompletions', 'Name', 'Networks', 'Networks[].Aliases', 'Networks[].DriverOpts',
    'Networks[].Target', 'RollbackConfig', 'RollbackConfig.Delay', 'RollbackConfig.FailureAction',
    'RollbackConfig.MaxFailureRatio', 'RollbackConfig.Monitor', 'RollbackConfig.Order', 'RollbackConfig.Parallelism',
    'TaskTemplate', 'TaskTemplate.ContainerSpec', 'TaskTemplate.ContainerSpec.Args',
    'TaskTemplate.ContainerSpec.CapabilityAdd', 'TaskTemplate.ContainerSpec.CapabilityDrop',
    'TaskTemplate.ContainerSpec.Command', 'TaskTemplate.ContainerSpec.Configs',
    'TaskTemplate.ContainerSpec.Configs[].ConfigID', 'TaskTemplate.ContainerSpec.Configs[].ConfigName',
    'TaskTemplate.ContainerSpec.Configs[].File', 'TaskTemplate.ContainerSpec.Configs[].File.GID',
    'TaskTemplate.ContainerSpec.Configs[].File.Mode', 'TaskTemplate.ContainerSpec.Configs[].File.Name',
    'TaskTemplate.ContainerSpec.Configs[].File.UID', 'TaskTemplate.ContainerSpec.Configs[].Runtime',
    'TaskTemplate.ContainerSpec.DNSConfig', 'TaskTemplate.ContainerSpec.DNSConfig.Nameservers',
    'TaskTemplate.ContainerSpec.DNSConfig.Options', 'TaskTemplate.ContainerSpec.DNSConfig.Search',
    'TaskTemplate.ContainerSpec.Dir', 'TaskTemplate.ContainerSpec.Env', 'TaskTemplate.ContainerSpec.Groups',
    'TaskTemplate.ContainerSpec.HealthCheck', 'TaskTemplate.ContainerSpec.HealthCheck.Interval',
    'TaskTemplate.ContainerSpec.HealthCheck.Retries', 'TaskTemplate.ContainerSpec.HealthCheck.StartPeriod',
    'TaskTemplate.ContainerSpec.HealthCheck.Test', 'TaskTemplate.ContainerSpec.HealthCheck.Timeout',
    'TaskTemplate.ContainerSpec.Hostname', 'TaskTemplate.ContainerSpec.Hosts', 'TaskTemplate.ContainerSpec.Image',
    'TaskTemplate.ContainerSpec.Init', 'TaskTemplate.ContainerSpec.Isolation', 'TaskTemplate.ContainerSpec.Labels',
    'TaskTemplate.ContainerSpec.Mounts', 'TaskTemplate.ContainerSpec.Mounts[].BindOptions',
    'TaskTemplate.ContainerSpec.Mounts[].BindOptions.NonRecursive',
    'TaskTemplate.ContainerSpec.Mounts[].BindOptions.Propagation', 'TaskTemplate.ContainerSpec.Mounts[].Consistency',
    'TaskTemplate.ContainerSpec.Mounts[].ReadOnly', 'TaskTemplate.ContainerSpec.Mounts[].Source',
    'TaskTemplate.ContainerSpec.Mounts[].Target', 'TaskTemplate.ContainerSpec.Mounts[].TmpfsOptions',
    'TaskTemplate.ContainerSpec.Mounts[].TmpfsOptions.Mode',
    'TaskTemplate.ContainerSpec.Mounts[].TmpfsOptions.SizeBytes', 'TaskTemplate.ContainerSpec.Mounts[].Type',
    'TaskTemplate.ContainerSpec.Mounts[].VolumeOptions',
    'TaskTemplate.ContainerSpec.Mounts[].VolumeOptions.DriverConfig',
    'TaskTemplate.ContainerSpec.Mounts[].VolumeOptions.DriverConfig.Name',
    'TaskTemplate.ContainerSpec.Mounts[].VolumeOptions.DriverConfig.Options',
    'TaskTemplate.ContainerSpec.Mounts[].VolumeOptions.Labels',
    'TaskTemplate.ContainerSpec.Mounts[].VolumeOptions.NoCopy', 'TaskTemplate.ContainerSpec.OpenStdin',
    'TaskTemplate.ContainerSpec.Privileges', 'TaskTemplate.ContainerSpec.Privileges.CredentialSpec',
    'TaskTemplate.ContainerSpec.Privileges.CredentialSpec.Config',
    'TaskTemplate.ContainerSpec.Privileges.CredentialSpec.File',
    'TaskTemplate.ContainerSpec.Privileges.CredentialSpec.Registry',
    'TaskTemplate.ContainerSpec.Privileges.SELinuxContext',
    'TaskTemplate.ContainerSpec.Privileges.SELinuxContext.Disable',
    'TaskTemplate.ContainerSpec.Privileges.SELinuxContext.Level',
    'TaskTemplate.ContainerSpec.Privileges.SELinuxContext.Role',
    'TaskTemplate.ContainerSpec.Privileges.SELinuxContext.Type',
    'TaskTemplate.ContainerSpec.Privileges.SELinuxContext.User', 'TaskTemplate.ContainerSpec.ReadOnly',
    'TaskTemplate.ContainerSpec.Secrets', 'TaskTemplate.ContainerSpec.Secrets[].File',
    'TaskTemplate.ContainerSpec.Secrets[].File.GID', 'TaskTemplate.ContainerSpec.Secrets[].File.Mode',
    'TaskTemplate.ContainerSpec.Secrets[].File.Name', 'TaskTemplate.ContainerSpec.Secrets[].File.UID',
    'TaskTemplate.ContainerSpec.Secrets[].SecretID', 'TaskTemplate.ContainerSpec.Secrets[].SecretName',
    'TaskTemplate.ContainerSpec.StopGracePeriod', 'TaskTemplate.ContainerSpec.StopSignal',
    'TaskTemplate.ContainerSpec.Sysctls', 'TaskTemplate.ContainerSpec.TTY', 'TaskTemplate.ContainerSpec.Ulimits',
    'TaskTemplate.ContainerSpec.Ulimits[].Hard', 'TaskTemplate.ContainerSpec.Ulimits[].Name',
    'TaskTemplate.ContainerSpec.Ulimits[].Soft', 'TaskTemplate.ContainerSpec.User', 'TaskTemplate.ForceUpdate',
    'TaskTemplate.LogDriver', 'TaskTemplate.LogDriver.Name', 'TaskTemplate.LogDriver.Options',
    'TaskTemplate.NetworkAttachmentSpec', 'TaskTemplate.NetworkAttachmentSpec.ContainerID', 'TaskTemplate.Networks',
    'TaskTemplate.Networks[].Aliases', 'TaskTemplate.Networks[].DriverOpts', 'TaskTemplate.Networks[].Target',
    'TaskTemplate.Placement', 'TaskTemplate.Placement.Constraints', 'TaskTemplate.Placement.MaxReplicas',
    'TaskTemplate.Placement.Platforms', 'TaskTemplate.Placement.Platforms[].Architecture',
    'TaskTemplate.Placement.Platforms[].OS', 'TaskTemplate.Placement.Preferences',
    'TaskTemplate.Placement.Preferences[].Spread', 'TaskTemplate.Placement.Preferences[].Spread.SpreadDescriptor',
    'TaskTemplate.PluginSpec', 'TaskTemplate.PluginSpec.Disabled', 'TaskTemplate.PluginSpec.Name',
    'TaskTemplate.PluginSpec.PluginPrivilege', 'TaskTemplate.PluginSpec.PluginPrivilege[].Description',
    'TaskTemplate.PluginSpec.PluginPrivilege[].Name', 'TaskTemplate.PluginSpec.PluginPrivilege[].Value',
    'TaskTemplate.PluginSpec.Remote', 'TaskTemplate.Resources', 'TaskTemplate.Resources.Limits',
    'TaskTemplate.Resources.Limits.MemoryBytes', 'TaskTemplate.Resources.Limits.NanoCPUs',
    'TaskTemplate.Resources.Limits.Pids', 'TaskTemplate.Resources.Reservations',
    'TaskTemplate.Resources.Reservations.GenericResources',
    'TaskTemplate.Resources.Reservations.GenericResources[].DiscreteResourceSpec',
    'TaskTemplate.Resources.Reservations.GenericResources[].DiscreteResourceSpec.Kind',
    'TaskTemplate.Resources.Reservations.GenericResources[].DiscreteResourceSpec.Value',
    'TaskTemplate.Resources.Reservations.GenericResources[].NamedResourceSpec',
    'TaskTemplate.Resources.Reservations.GenericResources[].NamedResourceSpec.Kind',
    'TaskTemplate.Resources.Reservations.GenericResources[].NamedResourceSpec.Value',
    'TaskTemplate.Resources.Reservations.MemoryBytes', 'TaskTemplate.Resources.Reservations.NanoCPUs',
    'TaskTemplate.RestartPolicy', 'TaskTemplate.RestartPolicy.Condition', 'TaskTemplate.RestartPolicy.Delay',
    'TaskTemplate.RestartPolicy.MaxAttempts', 'TaskTemplate.RestartPolicy.Window', 'TaskTemplate.Runtime',
    'UpdateConfig', 'UpdateConfig.Delay', 'UpdateConfig.FailureAction', 'UpdateConfig.MaxFailureRatio',
    'UpdateConfig.Monitor', 'UpdateConfig.Order', 'UpdateConfig.Parallelism'
]

export const HOST_REACHING_BODIES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'POST /auth': [
    'email', 'password', 'serveraddress', 'username'
  ],
  'POST /nodes/{}/update': [
    'Availability', 'Labels', 'Name', 'Role'
  ],
  'POST /plugins/pull': [
    '[].Description', '[].Name', '[].Value'
  ],
  'POST /plugins/{}/upgrade': [
    '[].Description', '[].Name', '[].Value'
  ],
  'POST /services/create': SERVICE_SPEC,
  'POST /services/{}/update': SERVICE_SPEC,
  'POST /swarm/init': [
    'AdvertiseAddr', 'DataPathAddr', 'DataPathPort', 'DefaultAddrPool', 'ForceNewCluster', 'ListenAddr', 'Spec',
    'Spec.CAConfig', 'Spec.CAConfig.ExternalCAs', 'Spec.CAConfig.ExternalCAs[].CACert',
    'Spec.CAConfig.ExternalCAs[].Options', 'Spec.CAConfig.ExternalCAs[].Protocol', 'Spec.CAConfig.ExternalCAs[].URL',
    'Spec.CAConfig.ForceRotate', 'Spec.CAConfig.NodeCertExpiry', 'Spec.CAConfig.SigningCACert',
    'Spec.CAConfig.SigningCAKey', 'Spec.Dispatcher', 'Spec.Dispatcher.HeartbeatPeriod', 'Spec.EncryptionConfig',
    'Spec.EncryptionConfig.AutoLockManagers', 'Spec.Labels', 'Spec.Name', 'Spec.Orchestration',
    'Spec.Orchestration.TaskHistoryRetentionLimit', 'Spec.Raft', 'Spec.Raft.ElectionTick', 'Spec.Raft.HeartbeatTick',
    'Spec.Raft.KeepOldSnapshots', 'Spec.Raft.LogEntriesForSlowFollowers', 'Spec.Raft.SnapshotInterval',
    'Spec.TaskDefaults', 'Spec.TaskDefaults.LogDriver', 'Spec.TaskDefaults.LogDriver.Name',
    'Spec.TaskDefaults.LogDriver.Options', 'SubnetSize'
  ],
  'POST /swarm/join': [
    'AdvertiseAddr', 'DataPathAddr', 'JoinToken', 'ListenAddr', 'RemoteAddrs'
  ],
  'POST /swarm/unlock': [
    'UnlockKey'
  ],
  'POST /swarm/update': [
    'CAConfig', 'CAConfig.ExternalCAs', 'CAConfig.ExternalCAs[].CACert', 'CAConfig.ExternalCAs[].Options',
    'CAConfig.ExternalCAs[].Protocol', 'CAConfig.ExternalCAs[].URL', 'CAConfig.ForceRotate',
    'CAConfig.NodeCertExpiry', 'CAConfig.SigningCACert', 'CAConfig.SigningCAKey', 'Dispatcher',
    'Dispatcher.HeartbeatPeriod', 'EncryptionConfig', 'EncryptionConfig.AutoLockManagers', 'Labels', 'Name',
    'Orchestration', 'Orchestration.TaskHistoryRetentionLimit', 'Raft', 'Raft.ElectionTick', 'Raft.HeartbeatTick',
    'Raft.KeepOldSnapshots', 'Raft.LogEntriesForSlowFollowers', 'Raft.SnapshotInterval', 'TaskDefaults',
    'TaskDefaults.LogDriver', 'TaskDefaults.LogDriver.Name', 'TaskDefaults.LogDriver.Options'
  ]
})
