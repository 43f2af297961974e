// Volume bodies (Docker 20.10, API 1.41): create (volume.VolumeCreateBody).

import { fieldTable, ruled, string, stringMap, unsafe, type FieldTable } from './table.js'

/** POST /volumes/create. */
export const volumeCreateTable: FieldTable = fieldTable('VolumeCreateBody', {
  Name: ruled('object-name', string),
  Driver: unsafe(string, { setting: 'volume-driver', defaults: ['local'], note: 'A volume plugin the daemon calls as root.' }),
  DriverOpts: ruled('volume-driver-opts', stringMap),
  Labels: ruled('project-label', stringMap)
})
