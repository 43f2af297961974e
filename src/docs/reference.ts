// The reference sections of the docs/ pages, generated from the code that enforces them so the two cannot drift:
// `npm run docs` rewrites them, and test/unit/generated-docs.test.ts fails when a page is stale.

import { ERRORS } from '../errors.js'
import { DENY_CODES } from '../core/decision.js'
import { POLICY_SCHEMA } from '../policy/schema.js'
import { routeTableMarkdown } from '../routes/markdown.js'

interface SchemaNode {
  type?: string
  description?: string
  default?: unknown
  enum?: readonly unknown[]
  const?: unknown
  properties?: Record<string, SchemaNode>
  additionalProperties?: SchemaNode | boolean
  items?: SchemaNode
  oneOf?: readonly SchemaNode[]
  required?: readonly string[]
}

function policyReferenceMarkdown (): string {
  const rows: string[] = ['| Field | Type | Default | Meaning |', '| --- | --- | --- | --- |']
  const walk = (node: SchemaNode, path: string, required: boolean): void => {
    if (path !== '') {
      const def = node.default === undefined ? (required ? 'required' : '') : `\`${JSON.stringify(node.default)}\``
      rows.push(`| \`${path}\` | ${typeOf(node)} | ${def} | ${(node.description ?? '').replace(/\|/g, '\\|')} |`)
    }
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      if (key === '$schema') continue
      walk(child, path === '' ? key : `${path}.${key}`, node.required?.includes(key) === true)
    }
    if (typeof node.additionalProperties === 'object') {
      walk(node.additionalProperties, `${path}.<name>`, false)
    }
  }
  walk(POLICY_SCHEMA as unknown as SchemaNode, '', false)
  return rows.join('\n')
}

function typeOf (node: SchemaNode): string {
  if (node.enum !== undefined) return node.enum.map((v) => `\`${String(v)}\``).join(' \\| ')
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``
  if (node.oneOf !== undefined) return node.oneOf.map(typeOf).join(' or ')
  if (node.type === 'array') return `${typeOf(node.items ?? {})}[]`
  if (node.type === 'object' && typeof node.additionalProperties === 'object' && node.properties === undefined) return 'map'
  return node.type ?? 'any'
}

function errorCodesMarkdown (): string {
  return ['| Code | Message |', '| --- | --- |',
    ...Object.entries(ERRORS).map(([code, message]) => `| \`${code}\` | ${message.replace(/\n/g, ' ').replace(/\|/g, '\\|').replace(/%s/g, '…')} |`)].join('\n')
}

function denyCodesMarkdown (): string {
  return ['| Code | When |', '| --- | --- |', ...Object.entries(DENY_CODES).map(([code, text]) => `| \`${code}\` | ${text} |`)].join('\n')
}

export const GENERATED_SECTIONS: Record<string, () => string> = {
  actions: routeTableMarkdown,
  'policy-reference': policyReferenceMarkdown,
  'error-codes': errorCodesMarkdown,
  'deny-codes': denyCodesMarkdown
}

/** The pages that hold the generated sections, each section in exactly one of them. */
export const GENERATED_PAGES: Record<string, readonly string[]> = {
  'docs/actions.md': ['actions'],
  'docs/policy.md': ['policy-reference'],
  'docs/errors.md': ['error-codes', 'deny-codes']
}

/** Replace each `<!-- NAME:start -->…<!-- NAME:end -->` block with freshly generated text. */
export function renderGeneratedSections (page: string): string {
  let out = page
  for (const [name, render] of Object.entries(GENERATED_SECTIONS)) {
    const start = `<!-- ${name}:start -->`
    const end = `<!-- ${name}:end -->`
    const from = out.indexOf(start)
    const to = out.indexOf(end)
    if (from < 0 || to < from) continue
    out = out.slice(0, from + start.length) + '\n' + render().trimEnd() + '\n' + out.slice(to)
  }
  return out
}
