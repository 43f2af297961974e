// The options every audit command that reads the store shares: where the running daemon is, or which store to read.
import { DEFAULTS } from './defaults.js'

export const ADMIN_OPTION = { 'admin-socket': { type: 'string', default: DEFAULTS.adminSocket } } as const
export const ADMIN_HELP = { '--admin-socket PATH': `the running daemon's admin socket (default ${DEFAULTS.adminSocket})` }
export const DATA_HELP = { '--data DIR': 'read a store directly, when no daemon owns it (stopped daemon, copied store)' }
