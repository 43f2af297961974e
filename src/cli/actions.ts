// `portcullis actions`: the action table the plugin runs (every Engine API route and the action it is judged as),
// so a policy author can write allow and deny patterns without reading the source or docs/actions.md.

import { GlobSet } from '../core/glob.js'
import { ROUTES, type Route } from '../routes/table.js'
import { defineCommand } from './command.js'
import { OUTPUT_OPTION, outputHelp, wantsJson } from './output.js'

interface ActionRow {
  action: string
  /** Only unsafe roles may, on every route (whatever the patterns say). */
  unsafeOnly: boolean
  routes: Array<{ method: string, path: string, target?: string, body?: string, unsafeOnly?: true }>
}

export const actionsCommand = defineCommand({
  name: 'actions',
  summary: 'List the actions allow and deny patterns match, each with the Docker API routes it covers. ' +
    'PATTERN (a glob such as \'container.*\') keeps the actions it matches.',
  usage: 'actions [PATTERN] [-o table|json]',
  options: { ...OUTPUT_OPTION },
  help: { PATTERN: 'show only actions this allow/deny pattern matches, e.g. \'container.*\'', ...outputHelp('one JSON object per action') },
  async run (values, positionals) {
    const pattern = positionals[0]
    const rows = actionRows().filter((row) => pattern === undefined || new GlobSet([pattern]).matches(row.action))
    if (rows.length === 0) {
      process.stderr.write(`portcullis actions: no action matches ${JSON.stringify(pattern)}; run \`portcullis actions\` for all of them\n`)
      return 1
    }
    if (wantsJson(values, 'actions')) {
      for (const row of rows) process.stdout.write(JSON.stringify(row) + '\n')
    } else {
      const width = Math.max(6, ...rows.map((r) => r.action.length)) + 2
      process.stdout.write(`${'ACTION'.padEnd(width)}ROUTES\n`)
      for (const row of rows) {
        const routes = row.routes.map((r) => `${r.method} ${r.path}${r.unsafeOnly === true && !row.unsafeOnly ? ' [unsafe roles only]' : ''}`).join(', ')
        process.stdout.write(`${row.action.padEnd(width)}${routes}${row.unsafeOnly ? '  [unsafe roles only]' : ''}\n`)
      }
    }
    return 0
  }
})

/** One row per action, in name order; routes in dockerd's matching order. */
function actionRows (): ActionRow[] {
  const rows = new Map<string, ActionRow>()
  for (const route of ROUTES) {
    let row = rows.get(route.action)
    if (row === undefined) {
      row = { action: route.action, unsafeOnly: true, routes: [] }
      rows.set(route.action, row)
    }
    if (route.hostReaching !== true) row.unsafeOnly = false
    row.routes.push(describe(route))
  }
  return [...rows.values()].sort((a, b) => a.action.localeCompare(b.action))
}

function describe (route: Route): ActionRow['routes'][number] {
  const out: ActionRow['routes'][number] = { method: route.method === '*' ? 'any' : route.method, path: route.pattern }
  if (route.target !== undefined) out.target = `${route.target.kind} ${route.target.from === 'path' ? `{${route.target.name}}` : `?${route.target.name}=`}`
  if (route.body !== undefined) out.body = route.body
  if (route.hostReaching === true) out.unsafeOnly = true
  return out
}
