// The policy's `outputs`: where serve writes copies of the audit records for a SIEM (src/siem), with defaults
// filled in and durations in milliseconds.

import { durationMs } from '../core/duration.js'
import { FILES_OUTPUT_DEFAULTS, SYSLOG_OUTPUT_DEFAULTS } from './schema.js'
import type { PolicyProblem } from './compile.js'
import { checkSyslogAddress, parseOutputAddress } from './syslog-address.js'

export interface OutputsDocument {
  files?: FilesOutputDocument
  syslog?: { address: string, facility?: SyslogOutputSettings['facility'], hostname?: string }
}

interface FilesOutputDocument {
  dir: string
  maxBytes?: number
  maxAge?: string
  group?: string
  keepFor?: string
  keepBytes?: number
}

/** The sealed-file output (src/siem/sealed-files.ts). */
export interface FilesOutputSettings {
  readonly dir: string
  readonly maxBytes: number
  readonly maxAgeMs: number
  /** A group name or number that may read the files; null: only the user serve runs as. */
  readonly group: string | null
  /** null: sealed files are never removed by serve. */
  readonly keepForMs: number | null
  readonly keepBytes: number | null
}

/** The syslog output (src/siem/syslog-sink.ts). */
export interface SyslogOutputSettings {
  readonly address: string
  readonly facility: 'auth' | 'authpriv' | 'daemon' | 'security' | 'syslog' | 'user' | 'local0' | 'local1' | 'local2' | 'local3' | 'local4' | 'local5' | 'local6' | 'local7'
  /** null: this host's name. */
  readonly hostname: string | null
}

export interface OutputSettings {
  /** null: no sealed files. */
  readonly files: FilesOutputSettings | null
  /** null: no syslog output. */
  readonly syslog: SyslogOutputSettings | null
}

export function checkOutputs (outputs: OutputsDocument | undefined, problems: PolicyProblem[]): void {
  for (const key of ['maxAge', 'keepFor'] as const) {
    const value = outputs?.files?.[key]
    if (value !== undefined && durationMs(value) <= 0) problems.push({ path: `$.outputs.files.${key}`, message: 'must be longer than 0' })
  }
  checkSyslogAddress(outputs?.syslog?.address, '$.outputs.syslog.address', problems, parseOutputAddress)
}

export function compileOutputs (outputs: OutputsDocument | undefined): OutputSettings {
  const files = outputs?.files
  const syslog = outputs?.syslog
  return Object.freeze({
    syslog: syslog === undefined
      ? null
      : Object.freeze({ address: syslog.address, facility: syslog.facility ?? SYSLOG_OUTPUT_DEFAULTS.facility, hostname: syslog.hostname ?? null }),
    files: files === undefined
      ? null
      : Object.freeze({
        dir: files.dir,
        maxBytes: files.maxBytes ?? FILES_OUTPUT_DEFAULTS.maxBytes,
        maxAgeMs: durationMs(files.maxAge ?? FILES_OUTPUT_DEFAULTS.maxAge),
        group: files.group ?? null,
        keepForMs: files.keepFor !== undefined ? durationMs(files.keepFor) : null,
        keepBytes: files.keepBytes ?? null
      })
  })
}
