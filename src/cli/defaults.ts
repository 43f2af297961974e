// Where things live unless the command line says otherwise.

export const DEFAULTS = {
  config: '/etc/portcullis/policy.json',
  socket: '/run/docker/plugins/portcullis.sock',
  data: '/var/lib/portcullis',
  adminSocket: '/run/portcullis/admin.sock',
  keys: '/etc/portcullis/keys',
  dockerHost: 'unix:///var/run/docker.sock',
  pluginName: 'portcullis'
} as const
