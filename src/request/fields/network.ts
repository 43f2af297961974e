// Network bodies (Docker 20.10, API 1.41): create (NetworkCreateRequest), connect, disconnect.

import { endpointSettingsTable } from './container.js'
import { bool, fieldTable, harmless, nested, ruled, string, stringMap, unsafe, type FieldTable } from './table.js'

const ipamConfig = fieldTable('IPAMConfig', {
  Subnet: ruled('grant-subnet', string),
  IPRange: ruled('grant-subnet', string, { note: 'Must lie inside the Subnet.' }),
  Gateway: ruled('grant-subnet', string, { note: 'Must lie inside the Subnet.' }),
  AuxiliaryAddresses: ruled('grant-subnet', stringMap, { note: 'Each must lie inside the Subnet.' })
})
const ipam = fieldTable('IPAM', {
  Driver: unsafe(string, { setting: 'ipam-driver', defaults: ['default'], note: 'An IPAM plugin the daemon calls as root.' }),
  Options: unsafe(stringMap, { setting: 'ipam-options' }),
  Config: nested('grant-subnet', ipamConfig, 'slice')
})
const configReference = fieldTable('ConfigReference', { Network: ruled('reference', string) })

/** POST /networks/create: NetworkCreateRequest embeds NetworkCreate. */
export const networkCreateTable: FieldTable = fieldTable('NetworkCreateRequest', {
  Name: ruled('object-name', string),
  CheckDuplicate: harmless(bool),
  Driver: ruled('network-driver', string),
  Scope: harmless(string),
  EnableIPv6: harmless(bool),
  IPAM: nested('harmless', ipam, 'pointer'),
  Internal: harmless(bool),
  Attachable: harmless(bool),
  Ingress: unsafe(bool, { setting: 'ingress-network', note: 'The swarm routing mesh publishes service ports on every node.' }),
  ConfigOnly: harmless(bool, 'Its IPAM and options are judged here; networks created from it (ConfigFrom) reference it.'),
  ConfigFrom: nested('harmless', configReference, 'pointer'),
  Options: unsafe(stringMap, {
    setting: 'network-driver-options',
    note: 'Driver options such as com.docker.network.bridge.name or host_binding_ipv4 change the host\'s interfaces and where ports bind.'
  }),
  Labels: ruled('project-label', stringMap)
})

/** POST /networks/{id}/connect. */
export const networkConnectTable: FieldTable = fieldTable('NetworkConnect', {
  Container: ruled('reference', string),
  EndpointConfig: nested('harmless', endpointSettingsTable, 'pointer')
})

/** POST /networks/{id}/disconnect. */
export const networkDisconnectTable: FieldTable = fieldTable('NetworkDisconnect', {
  Container: ruled('reference', string),
  Force: harmless(bool)
})
