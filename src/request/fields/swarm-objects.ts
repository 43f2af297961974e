// Bodies of swarm objects that are not host-reaching routes: secrets and configs (Docker 20.10, API 1.41).

import { fieldTable, harmless, nested, string, stringMap, ruled, type FieldTable } from './table.js'

const driver = fieldTable('Driver', { Name: harmless(string), Options: harmless(stringMap) })
const PLUGIN = 'A secret or templating plugin the managers call.'

/** POST /secrets/create and /secrets/{id}/update: swarm.SecretSpec. Data is base64. */
export const secretSpecTable: FieldTable = fieldTable('SecretSpec', {
  Name: ruled('object-name', string),
  Labels: ruled('project-label', stringMap),
  Data: harmless(string),
  Driver: nested('unsafe', driver, 'pointer', { setting: 'secret-driver', note: PLUGIN }),
  Templating: nested('unsafe', driver, 'pointer', { setting: 'templating-driver', note: PLUGIN })
})

/** POST /configs/create and /configs/{id}/update: swarm.ConfigSpec. */
export const configSpecTable: FieldTable = fieldTable('ConfigSpec', {
  Name: ruled('object-name', string),
  Labels: ruled('project-label', stringMap),
  Data: harmless(string),
  Templating: nested('unsafe', driver, 'pointer', { setting: 'templating-driver', note: PLUGIN })
})
