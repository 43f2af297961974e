// What compilePolicy refuses in a document, as `path: message` lines; empty when it compiles.
import { compilePolicy, PolicyValidationError } from '../../src/policy/compile.js'

export function policyProblems (doc: unknown, knownActions?: readonly string[]): string[] {
  try {
    compilePolicy(doc, knownActions)
  } catch (err) {
    if (err instanceof PolicyValidationError) return err.problems.map((p) => `${p.path}: ${p.message}`)
    throw err
  }
  return []
}
