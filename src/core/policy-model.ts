// What the decision core reads of a compiled policy (src/policy/compile.ts compiles a document into it): roles
// with their patterns, who holds which role where, the image rules and what the elevation hint needs.

import type { GlobSet } from './glob.js'
import type { ImageRules } from './image-rules.js'
import type { ProjectGrantsDocument } from './project-grants.js'

export type Interactive = 'allow' | 'deny' | 'bridge-only'
export type CommandStrings = 'allow' | 'deny' | 'bridge-only'


export interface CompiledRole {
  readonly name: string
  readonly unsafe: boolean
  /** Roles this one inherits from directly. */
  readonly parents: readonly string[]
  /** Roles this one inherits from, directly or not. */
  readonly ancestors: ReadonlySet<string>
  readonly allow: GlobSet
  readonly deny: GlobSet
  readonly interactive: Interactive
  /** null: any command. */
  readonly allowCommands: GlobSet | null
  readonly denyCommands: GlobSet
  /** Command text (`sh -c`, `python -c`, stdin shells): see policy/command-text.ts. */
  readonly commandStrings: CommandStrings
  allows (action: string): boolean
  /** The deny pattern that refuses `action` and the role (this one or an ancestor) it is written in; null: none does. */
  deniedBy (action: string): DenySource | null
}

/** A deny pattern and the role it is written in. */
export interface DenySource {
  readonly pattern: string
  readonly role: string
}

/** Where a user holds a role: a project, or `null` for a global membership. */
export interface Membership {
  readonly project: string | null
  readonly role: CompiledRole
}

/** The elevation settings the refusal's hint quotes (src/policy/elevation.ts has them all). */
interface ElevationLimits {
  readonly maxTtlMs: number
  readonly maxSteps: number
  readonly minLevel: number
}

/** The compiled policy as the core reads it; src/policy/compile.ts's CompiledPolicy is one. */
export interface PolicyView {
  readonly document: { readonly projects: Readonly<Record<string, { grants?: ProjectGrantsDocument }>> }
  readonly roles: ReadonlyMap<string, CompiledRole>
  readonly projects: ReadonlyMap<string, ReadonlyMap<string, CompiledRole>>
  readonly global: ReadonlyMap<string, CompiledRole>
  readonly anonymous: GlobSet
  /** Image repositories by project and the registry allowlist (image-rules.ts). */
  readonly images: ImageRules
  /** Where the SSH bridge listens, for the hint a `bridge-only` refusal gives. */
  readonly bridge: { readonly port: number, readonly hostname: string | null, readonly enabled: boolean }
  /** Every membership a user holds, project ones first. */
  membershipsOf (user: string): readonly Membership[]
  heldRoleIn (user: string, project: string): string | null
  firstRoleFor (held: string | null, allowsCall: (role: CompiledRole) => boolean): CompiledRole | null
  elevationFor (project: string | null, role: string): ElevationLimits
  stepsBetween (held: string | null, requested: string): number
  levelOf (user: string): number
  approversOf (project: string): readonly string[]
}
