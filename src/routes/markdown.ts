// Renders the route table for docs/actions.md, so the documentation is the table the plugin runs.

import { ROUTES, type Route } from './table.js'

const HEADER = [
  '| Method | Path | Action | Target | Body inspected | Unsafe only |',
  '| --- | --- | --- | --- | --- | --- |'
]

/** Every route as a Markdown table, in dockerd's matching order (the first matching row wins). */
export function routeTableMarkdown (): string {
  return [...HEADER, ...ROUTES.map(row)].join('\n') + '\n'
}

function row (route: Route): string {
  const method = route.method === '*' ? 'any' : code(route.method)
  const path = code(route.pattern) + (route.whenQuery === undefined ? '' : ` when ${code(route.whenQuery)} is non-empty`)
  return '| ' + [
    method,
    path,
    code(route.action),
    target(route),
    route.body === undefined ? '' : code(route.body),
    route.hostReaching === true ? 'yes' : ''
  ].join(' | ') + ' |'
}

function target (route: Route): string {
  const parts: string[] = []
  if (route.target !== undefined) {
    const source = route.target.from === 'path' ? `{${route.target.name}}` : `?${route.target.name}=`
    parts.push(`${route.target.kind} ${code(source)}`)
  }
  if (route.references !== undefined) {
    parts.push(`each ${route.references.kind} ${code(`?${route.references.query}=`)}`)
  }
  return parts.join(', ')
}

function code (text: string): string {
  // A `|` would end the cell even inside backticks.
  return '`' + text.replaceAll('|', '\\|') + '`'
}
