// Operational logs (pino), kept apart from the audit trail: these are for operators, not for reviewers.

import pino, { type Logger } from 'pino'

export type { Logger }

export function createLogger (level = process.env.PORTCULLIS_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: 'portcullis', level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }))
}
