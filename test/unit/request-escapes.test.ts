import { describe, expect, it } from 'vitest'
import { extractFacts, readBody, type BodyKind, type BodyTypes } from '../../src/request/facts.js'
import type { Escape } from '../../src/core/types.js'
import { bindLikeOptions, turnsOnNoNewPrivileges } from '../../src/request/escapes.js'

const json = { 'Content-Type': 'application/json' }

function decoded<K extends BodyKind> (kind: K, body: string): BodyTypes[K] {
  const result = readBody(kind, Buffer.from(body, 'utf8').toString('base64'), json)
  if ('problem' in result) throw new Error(`${result.problem}: ${result.detail}`)
  return result.value
}

function escapesOf (kind: BodyKind, body: string): Escape[] {
  return extractFacts(kind, decoded(kind, body)).escapes
}

const settingsOf = (kind: BodyKind, body: string): string[] => escapesOf(kind, body).map((e) => e.setting)

// Host settings (JSON members of a HostConfig) and the escape each one must raise.
const hostEscapes: Array<[string, string]> = [
  ['"Privileged": true', 'privileged'],
  ['"CapAdd": ["SYS_ADMIN"]', 'cap-add'],
  ['"CapAdd": "SYS_ADMIN"', 'cap-add'],
  ['"Capabilities": ["CAP_SYS_ADMIN"]', 'capabilities'],
  ['"NetworkMode": "host"', 'network-namespace'],
  ['"NetworkMode": "container:other"', 'network-namespace'],
  ['"PidMode": "host"', 'pid-namespace'],
  ['"PidMode": "container:other"', 'pid-namespace'],
  ['"IpcMode": "host"', 'ipc-namespace'],
  ['"IpcMode": "container:other"', 'ipc-namespace'],
  ['"UTSMode": "host"', 'uts-namespace'],
  ['"UsernsMode": "host"', 'user-namespace'],
  ['"CgroupnsMode": "host"', 'cgroup-namespace'],
  ['"Cgroup": "container:other"', 'cgroup'],
  ['"Binds": ["/:/host"]', 'bind-mount'],
  ['"Binds": ["/var/run/docker.sock:/var/run/docker.sock:ro"]', 'bind-mount'],
  ['"Binds": ["./data:/data"]', 'bind-mount'],
  ['"Mounts": [{"Type": "bind", "Source": "/etc", "Target": "/etc"}]', 'bind-mount'],
  ['"Mounts": [{"Type": "npipe", "Source": "\\\\\\\\.\\\\pipe\\\\docker_engine", "Target": "/p"}]', 'bind-mount'],
  ['"Mounts": [{"Type": "BIND", "Source": "/etc", "Target": "/etc"}]', 'bind-mount'],
  ['"Mounts": [{"Type": "volume", "Target": "/d", "VolumeOptions": {"DriverConfig": {"Options": {"type": "none", "o": "bind", "device": "/etc"}}}}]', 'bind-like-volume'],
  ['"Mounts": [{"Type": "volume", "Source": "v", "Target": "/d", "VolumeOptions": {"DriverConfig": {"Options": {"device": "/dev/sda1", "type": "ext4"}}}}]', 'bind-like-volume'],
  ['"Mounts": [{"Type": "volume", "Source": "v", "Target": "/d", "VolumeOptions": {"DriverConfig": {"Options": {"o": "rbind,ro"}}}}]', 'bind-like-volume'],
  ['"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}]', 'devices'],
  ['"DeviceCgroupRules": ["b 8:* rmw"]', 'device-cgroup-rules'],
  ['"DeviceRequests": [{"Driver": "nvidia", "Count": -1}]', 'device-requests'],
  ['"SecurityOpt": ["seccomp=unconfined"]', 'security-opt'],
  ['"SecurityOpt": ["apparmor=unconfined"]', 'security-opt'],
  ['"SecurityOpt": ["label=disable"]', 'security-opt'],
  ['"SecurityOpt": ["label:disable"]', 'security-opt'],
  ['"SecurityOpt": ["disable"]', 'security-opt'],
  ['"SecurityOpt": ["systempaths=unconfined"]', 'security-opt'],
  ['"SecurityOpt": ["seccomp={\\"defaultAction\\":\\"SCMP_ACT_ALLOW\\"}"]', 'security-opt'],
  ['"SecurityOpt": ["no-new-privileges=false"]', 'security-opt'],
  ['"MaskedPaths": []', 'masked-paths'],
  ['"ReadonlyPaths": []', 'readonly-paths'],
  ['"MaskedPaths": ["/proc/kcore"]', 'masked-paths'],
  ['"Sysctls": {"kernel.core_pattern": "|/tmp/x"}', 'sysctls'],
  ['"CgroupParent": "/"', 'cgroup-parent']
]

describe('container create escapes', () => {
  it.each(hostEscapes)('finds %s under HostConfig', (member, setting) => {
    expect(settingsOf('container-create', `{"Image":"alpine","HostConfig":{${member}}}`)).toContain(setting)
  })

  it.each(hostEscapes)('finds %s at the top level (deprecated embedded HostConfig)', (member, setting) => {
    expect(settingsOf('container-create', `{"Image":"alpine",${member}}`)).toContain(setting)
  })

  it('finds top-level host settings even when a HostConfig key is present', () => {
    expect(settingsOf('container-create', '{"Privileged":true,"HostConfig":{"Memory":1}}')).toEqual(['privileged'])
  })

  it('finds nothing in an ordinary body', () => {
    const body = JSON.stringify({
      Image: 'nginx:1.25',
      Cmd: ['nginx', '-g', 'daemon off;'],
      Env: ['A=1'],
      Labels: { 'portcullis.project': 'web' },
      HostConfig: {
        Binds: ['data:/data', 'cache:/cache:ro', '/anonymous'],
        NetworkMode: 'web-net',
        Mounts: [
          { Type: 'volume', Source: 'v', Target: '/v' },
          { Type: 'tmpfs', Target: '/tmp' },
          { Type: 'volume', Target: '/t', VolumeOptions: { DriverConfig: { Options: { type: 'tmpfs', device: 'tmpfs', o: 'size=64m' } } } }
        ],
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges', 'no-new-privileges:true', 'no-new-privileges=1'],
        MaskedPaths: null,
        Sysctls: {},
        Devices: [],
        PidMode: '',
        IpcMode: 'shareable',
        Privileged: false,
        CapAdd: null
      },
      NetworkingConfig: { EndpointsConfig: { 'web-net': { Aliases: ['web'] } } }
    })
    expect(escapesOf('container-create', body)).toEqual([])
  })

  it('flags host as an EndpointsConfig network', () => {
    expect(settingsOf('container-create', '{"NetworkingConfig":{"EndpointsConfig":{"host":{}}}}')).toEqual(['network-namespace'])
  })

  it('says what was asked for', () => {
    expect(escapesOf('container-create', '{"HostConfig":{"Binds":["/etc:/etc"],"CapAdd":["NET_ADMIN","SYS_ADMIN"]}}')).toEqual([
      { setting: 'cap-add', detail: 'CapAdd: NET_ADMIN, SYS_ADMIN' },
      { setting: 'bind-mount', detail: 'Binds: /etc:/etc' }
    ])
  })

  it('reports an escape asked for in both places once', () => {
    expect(escapesOf('container-create', '{"Privileged":true,"HostConfig":{"Privileged":true}}')).toHaveLength(1)
  })

  it('keeps details short', () => {
    const long = 'x'.repeat(5000)
    const [escape] = escapesOf('container-create', `{"HostConfig":{"SecurityOpt":["seccomp=${long}"]}}`)
    expect(escape?.detail.length).toBeLessThanOrEqual(200)
  })
})

describe('Go decoding tricks', () => {
  it('reads keys case-insensitively', () => {
    expect(settingsOf('container-create', '{"hostconfig":{"privileged":true}}')).toEqual(['privileged'])
    expect(settingsOf('container-create', '{"HOSTCONFIG":{"PRIVILEGED":true}}')).toEqual(['privileged'])
  })

  it('folds ſ and the Kelvin sign onto s and k', () => {
    expect(settingsOf('container-create', '{"HostConfig":{"Device\u017f":[{"PathOnHost":"/dev/sda"}]}}')).toEqual(['devices'])
    expect(settingsOf('container-create', '{"HostConfig":{"Networ\u212aMode":"host"}}')).toEqual(['network-namespace'])
    expect(settingsOf('container-create', '{"Ho\\u017ftConfig":{"Bind\\u017f":["/:/h"]}}')).toEqual(['bind-mount'])
    expect(settingsOf('container-create', '{"HostConfig":{"Lin\u212as":[]}}')).toEqual([])
  })

  it('lets the last duplicate win for scalars', () => {
    expect(settingsOf('container-create', '{"HostConfig":{"Privileged":true,"Privileged":false}}')).toEqual([])
    expect(settingsOf('container-create', '{"HostConfig":{"Privileged":false},"HostConfig":{"Privileged":true}}')).toEqual(['privileged'])
  })

  it('merges duplicate HostConfig objects', () => {
    expect(settingsOf('container-create', '{"HostConfig":{"Privileged":true},"HostConfig":{"Memory":1}}')).toEqual(['privileged'])
  })

  it('honours null resets', () => {
    expect(settingsOf('container-create', '{"HostConfig":{"Privileged":true},"HostConfig":null}')).toEqual([])
    expect(settingsOf('container-create', '{"HostConfig":{"Privileged":true,"Privileged":null}}')).toEqual(['privileged'])
    expect(settingsOf('container-create', '{"HostConfig":{"MaskedPaths":[],"MaskedPaths":null}}')).toEqual([])
    expect(settingsOf('container-create', '{"HostConfig":{"MaskedPaths":null,"MaskedPaths":[]}}')).toEqual(['masked-paths'])
    expect(settingsOf('container-create', '{"HostConfig":{"CapAdd":["ALL"],"CapAdd":null}}')).toEqual([])
  })

  it('sees slice elements that survive a shorter duplicate', () => {
    expect(settingsOf('container-create', '{"HostConfig":{"Binds":["/:/host"],"Binds":[null]}}')).toEqual(['bind-mount'])
    expect(settingsOf('container-create', '{"HostConfig":{"Binds":["a:/a","/:/host"],"Binds":["b:/b"],"Binds":["c:/c",null]}}'))
      .toEqual(['bind-mount'])
    expect(settingsOf('container-create', '{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/"}],"Mounts":[{"Target":"/x"}]}}'))
      .toEqual(['bind-mount'])
    expect(settingsOf('container-create', '{"HostConfig":{"Binds":["/:/host"],"Binds":[]}}')).toEqual([])
  })

  it('merges duplicate Sysctls maps', () => {
    expect(settingsOf('container-create', '{"HostConfig":{"Sysctls":{"net.ipv4.ip_forward":"1"},"Sysctls":{}}}')).toEqual(['sysctls'])
  })
})

describe('security options', () => {
  it('accepts only forms that turn no-new-privileges on', () => {
    for (const opt of ['no-new-privileges', 'no-new-privileges=true', 'no-new-privileges:true', 'no-new-privileges=1', 'no-new-privileges=True']) {
      expect(turnsOnNoNewPrivileges(opt), opt).toBe(true)
    }
    for (const opt of ['no-new-privileges=false', 'no-new-privileges=0', 'no-new-privileges=yes', 'NO-NEW-PRIVILEGES', ' no-new-privileges', 'seccomp=unconfined', 'disable', '']) {
      expect(turnsOnNoNewPrivileges(opt), opt).toBe(false)
    }
  })
})

describe('bind-like volume options', () => {
  it('finds options that mount host paths or devices', () => {
    expect(bindLikeOptions({ type: 'none', o: 'bind', device: '/etc' })).toBe('type=none, o containing bind, device=/etc')
    expect(bindLikeOptions({ Type: 'NONE' })).toBe('type=NONE')
    expect(bindLikeOptions({ o: 'addr=1.2.3.4,rbind' })).toBe('o containing bind')
    expect(bindLikeOptions({ type: 'nfs', o: 'addr=10.0.0.1', device: ':/export' })).toBe('device=:/export')
    expect(bindLikeOptions({ type: 'TMPFS', device: '/dev/sda' })).toBe('device=/dev/sda')
  })

  it('allows plain and tmpfs volumes', () => {
    expect(bindLikeOptions(null)).toBeNull()
    expect(bindLikeOptions({})).toBeNull()
    expect(bindLikeOptions({ type: 'tmpfs', device: 'tmpfs', o: 'size=100m,uid=1000' })).toBeNull()
  })

  it('does not repeat the o value, which may hold credentials', () => {
    expect(bindLikeOptions({ type: 'cifs', o: 'bind,password=hunter2' })).not.toMatch(/hunter2/)
  })
})

describe('other bodies', () => {
  it('container update: devices, device rules and requests, cgroup parent', () => {
    expect(settingsOf('container-update', '{"Devices":[{"PathOnHost":"/dev/mem"}],"DeviceCgroupRules":["a *:* rwm"],"DeviceRequests":[{}],"CgroupParent":"/x"}'))
      .toEqual(['devices', 'device-cgroup-rules', 'device-requests', 'cgroup-parent'])
    expect(settingsOf('container-update', '{"Memory":1048576,"RestartPolicy":{"Name":"always"}}')).toEqual([])
  })

  it('exec create: privileged', () => {
    expect(escapesOf('exec-create', '{"Cmd":["sh"],"Privileged":true}')).toEqual([{ setting: 'privileged', detail: 'exec Privileged: true' }])
    expect(settingsOf('exec-create', '{"Cmd":["sh"],"privileged":true,"Privileged":false}')).toEqual([])
  })

  it('network create: drivers that reach the host network', () => {
    for (const driver of ['macvlan', 'ipvlan', 'host', 'MacVlan']) {
      expect(settingsOf('network-create', `{"Name":"n","Driver":"${driver}"}`), driver).toEqual(['host-network-driver'])
    }
    for (const body of ['{"Name":"n"}', '{"Name":"n","Driver":"bridge"}', '{"Name":"n","Driver":"overlay"}']) {
      expect(settingsOf('network-create', body), body).toEqual([])
    }
    expect(settingsOf('network-create', '{"Driver":"bridge","driver":"macvlan"}')).toEqual(['host-network-driver'])
  })

  it('volume create: local driver options that bind host paths', () => {
    expect(settingsOf('volume-create', '{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/"}}')).toEqual(['bind-like-volume'])
    expect(settingsOf('volume-create', '{"Name":"v","DriverOpts":{"type":"none"},"DriverOpts":{"device":"/"}}')).toEqual(['bind-like-volume'])
    expect(settingsOf('volume-create', '{"Name":"v","Driver":"local"}')).toEqual([])
  })
})

describe('setting names', () => {
  it('only reports names from ESCAPE_SETTINGS', async () => {
    const { ESCAPE_SETTINGS } = await import('../../src/request/escapes.js')
    const known = new Set<string>(ESCAPE_SETTINGS)
    for (const [member] of hostEscapes) {
      for (const setting of settingsOf('container-create', `{"HostConfig":{${member}}}`)) expect(known.has(setting), setting).toBe(true)
    }
  })
})
