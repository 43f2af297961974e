// A resource look-up that answers from a table instead of the daemon: the target's project (undefined: it does not
// exist) and each reference's by `kind:ref`, as `portcullis check --target-project/--ref` take them.
import type { RequestFacts, ResolvedResource, ResourceFacts, ResourceLookup, ResourceRef } from '../../src/core/types.js'

export class FixedResources implements ResourceLookup {
  constructor (private readonly target?: string | null, private readonly projects = new Map<string, string | null>()) {}

  async resolve (facts: RequestFacts): Promise<ResourceFacts> {
    const found = (ref: ResourceRef, project: string | null | undefined): ResolvedResource =>
      project === undefined ? { ref, exists: false, project: null } : { ref, exists: true, project }
    return {
      target: facts.target === undefined ? undefined : found(facts.target, this.target),
      references: facts.references.map((ref) => ref.kind === 'image' ? { ref, exists: true, project: null } : found(ref, this.projects.get(`${ref.kind}:${ref.ref}`)))
    }
  }
}
