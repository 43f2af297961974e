// The recording digest under its old module name, for src/audit/bundle-verify.ts (being split in parallel): new code
// imports cast-digest.js. Remove this file once bundle-verify.ts does.
export { CastDigester, isCastSummary, type CastSummary } from './cast-digest.js'
