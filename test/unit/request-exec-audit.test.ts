import { describe, expect, it } from 'vitest'
import { extractFacts, readBody, type BodyKind, type BodyFacts } from '../../src/request/facts.js'
import { envName, envNames, redactDriverOptions, redactEnv } from '../../src/request/redact.js'

const json = { 'Content-Type': 'application/json' }

function factsOf (kind: BodyKind, body: string): BodyFacts {
  const result = readBody(kind, Buffer.from(body, 'utf8').toString('base64'), json)
  if ('problem' in result) throw new Error(`${result.problem}: ${result.detail}`)
  return extractFacts(kind, result.value)
}

describe('exec facts', () => {
  it('reads the exec settings the policy judges', () => {
    const facts = factsOf('exec-create', JSON.stringify({
      Cmd: ['sh', '-c', 'id'], Tty: true, AttachStdin: true, Privileged: true, User: 'root', Env: ['TOKEN=abc', 'DEBUG']
    }))
    expect(facts.exec).toEqual({
      cmd: ['sh', '-c', 'id'], tty: true, attachStdin: true, privileged: true, user: 'root', envNames: ['TOKEN', 'DEBUG']
    })
    expect(facts.references).toEqual([])
  })

  it('uses Go zero values for absent settings', () => {
    expect(factsOf('exec-create', '{}').exec).toEqual({
      cmd: [], tty: false, attachStdin: false, privileged: false, user: '', envNames: []
    })
  })

  it('follows Go duplicate rules for exec bodies too', () => {
    const facts = factsOf('exec-create', '{"Cmd":["sh","-c","rm -rf /"],"cmd":["ls"],"user":"root","User":null}')
    expect(facts.exec?.cmd).toEqual(['ls'])
    expect(facts.exec?.user).toBe('root')
    // Cmd is a plain []string in ExecConfig: the backing array keeps earlier elements.
    expect(factsOf('exec-create', '{"Cmd":["sh","-c"],"Cmd":["ls"],"Cmd":["ls",null]}').exec?.cmd).toEqual(['ls', '-c'])
  })
})

describe('redaction', () => {
  it('keeps names and drops values', () => {
    expect(envName('A=b=c')).toBe('A')
    expect(envName('BARE')).toBe('BARE')
    expect(redactEnv(['PASSWORD=hunter2', 'EMPTY=', 'BARE'])).toEqual(['PASSWORD=<redacted>', 'EMPTY=<redacted>', 'BARE'])
    expect(redactEnv(null)).toEqual([])
    expect(envNames(['A=1', 'B'])).toEqual(['A', 'B'])
    expect({ ...redactDriverOptions({ type: 'cifs', device: '//srv/share', o: 'username=u,password=p' }) })
      .toEqual({ type: 'cifs', device: '//srv/share', o: '<redacted>' })
  })
})

describe('audit fields', () => {
  it('summarizes a container create without env values', () => {
    const facts = factsOf('container-create', JSON.stringify({
      Image: 'alpine:3.19',
      Cmd: ['sh'],
      Entrypoint: ['/init'],
      User: '1000',
      Env: ['API_TOKEN=s3cr3t', 'MODE=prod'],
      Labels: { 'portcullis.project': 'web' },
      HostConfig: {
        NetworkMode: 'host',
        Binds: ['data:/data'],
        Mounts: [{ Type: 'tmpfs', Target: '/tmp' }, { Type: 'volume', Source: 'v', Target: '/v', ReadOnly: true }]
      },
      NetworkingConfig: { EndpointsConfig: { appnet: {} } }
    }))
    expect(facts.auditFields).toEqual({
      image: 'alpine:3.19',
      cmd: ['sh'],
      entrypoint: ['/init'],
      user: '1000',
      env: ['API_TOKEN=<redacted>', 'MODE=<redacted>'],
      labels: { 'portcullis.project': 'web' },
      networkMode: 'host',
      networks: ['appnet'],
      mounts: ['data:/data', 'tmpfs (anonymous) -> /tmp', 'volume v -> /v (ro)'],
      escapes: [{ setting: 'network-namespace', detail: 'NetworkMode: host' }]
    })
    expect(JSON.stringify(facts.auditFields)).not.toMatch(/s3cr3t|prod/)
  })

  it('summarizes an exec create without env values', () => {
    const facts = factsOf('exec-create', '{"Cmd":["env"],"Env":["SECRET=xyz"],"WorkingDir":"/app"}')
    expect(facts.auditFields).toEqual({
      cmd: ['env'], user: '', env: ['SECRET=<redacted>'], tty: false, attachStdin: false, privileged: false, workingDir: '/app', escapes: []
    })
  })

  it('summarizes volume and network creation without option secrets', () => {
    const volume = factsOf('volume-create', '{"Name":"v","Driver":"local","DriverOpts":{"type":"cifs","o":"password=pw","device":"//s/x"}}')
    expect(JSON.stringify(volume.auditFields)).not.toMatch(/password=pw/)
    expect(volume.auditFields).toMatchObject({ name: 'v', driver: 'local', escapes: [{ setting: 'bind-like-volume' }] })
    const network = factsOf('network-create', '{"Name":"n","Driver":"macvlan","Options":{"parent":"eth0"}}')
    expect(network.auditFields).toMatchObject({ name: 'n', driver: 'macvlan', options: { parent: 'eth0' } })
  })

  it('records escapes asked for by a container update', () => {
    const facts = factsOf('container-update', '{"Devices":[{"PathOnHost":"/dev/kmsg"}]}')
    expect(facts.auditFields).toEqual({ escapes: [{ setting: 'devices', detail: 'Devices: /dev/kmsg' }] })
  })
})
