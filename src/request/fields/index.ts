// Every body table, by the route (method and pattern of src/routes/table.ts) whose body it describes.

import type { BodyKind } from '../docker-types.js'
import { commitTable, containerCreateTable, containerUpdateTable } from './container.js'
import { execCreateTable, execStartTable } from './exec.js'
import { networkConnectTable, networkCreateTable, networkDisconnectTable } from './network.js'
import { configSpecTable, secretSpecTable } from './swarm-objects.js'
import type { FieldTable } from './table.js'
import { volumeCreateTable } from './volume.js'

/** The tables of the bodies the route table marks as required (`body:`), by body kind. */
export const BODY_KIND_TABLES: Readonly<Record<BodyKind, FieldTable>> = Object.freeze({
  'container-create': containerCreateTable,
  'exec-create': execCreateTable,
  'container-update': containerUpdateTable,
  'network-create': networkCreateTable,
  'network-connect': networkConnectTable,
  'network-disconnect': networkDisconnectTable,
  'volume-create': volumeCreateTable
})

/**
 * Every body table by `METHOD pattern`. Routes with a body kind must send their body; the others are judged
 * whenever the daemon forwards one (it forwards JSON bodies under 1 MiB).
 */
export const BODY_TABLES: Readonly<Record<string, FieldTable>> = Object.freeze({
  'POST /containers/create': containerCreateTable,
  'POST /containers/{name:.*}/update': containerUpdateTable,
  'POST /containers/{name:.*}/exec': execCreateTable,
  'POST /exec/{name:.*}/start': execStartTable,
  'POST /commit': commitTable,
  'POST /networks/create': networkCreateTable,
  'POST /networks/{id:.*}/connect': networkConnectTable,
  'POST /networks/{id:.*}/disconnect': networkDisconnectTable,
  'POST /volumes/create': volumeCreateTable,
  'POST /secrets/create': secretSpecTable,
  'POST /secrets/{id}/update': secretSpecTable,
  'POST /configs/create': configSpecTable,
  'POST /configs/{id}/update': configSpecTable
})
