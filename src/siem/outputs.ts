// The SIEM outputs the policy configures (`outputs`), started with serve: the sealed files and syslog, each a sink fed
// by a RecordOutput of its own. An output the policy no longer names gives up its
// delivered mark, so retention no longer keeps records for it.

import type { Logger } from 'pino'
import type { OutputSource } from '../audit/ship-source.js'
import { hasPortcullisCode } from '../errors.js'
import type { PolicySource } from '../policy/source.js'
import { RecordOutput } from './record-output.js'
import type { RecordSink } from './record-sink.js'
import { parseOutputAddress } from '../policy/syslog-address.js'
import { RelpRecordSink } from './relp-sink.js'
import { SealedFileSink } from './sealed-files.js'
import { SyslogRecordSink } from './syslog-sink.js'

/** Every output name a sink may have: an unconfigured one's mark is dropped at start. */
const OUTPUT_NAMES = ['files', 'syslog'] as const

export async function startOutputs (policy: PolicySource, source: OutputSource, logger: Logger): Promise<RecordOutput[]> {
  const settings = policy.current.outputs
  const sinks: RecordSink[] = []
  if (settings.files !== null) sinks.push(new SealedFileSink(settings.files, logger))
  // relp: and tcp:/unix: share the name (and so the delivered mark): switching one for the other resumes there.
  if (settings.syslog !== null) sinks.push(parseOutputAddress(settings.syslog.address).transport === 'relp' ? new RelpRecordSink(settings.syslog) : new SyslogRecordSink(settings.syslog))
  for (const name of OUTPUT_NAMES) {
    if (sinks.some((sink) => sink.name === name) || (await source.delivered(name)) === null) continue
    await source.forget(name)
    logger.info({ output: name }, 'SIEM output: no longer configured; retention no longer keeps records for it')
  }
  const started: RecordOutput[] = []
  try {
    for (const sink of sinks) {
      const output = new RecordOutput({ sink, source, logger })
      await output.start()
      started.push(output)
    }
  } catch (err) {
    await Promise.all(started.map(async (output) => { await output.stop(0) }))
    // The refused start is in the chain too, naming the output and why.
    await source.append({
      kind: 'system',
      action: 'output.failed',
      reason: `start refused: a SIEM output cannot start: ${err instanceof Error ? err.message : String(err)}`,
      ...(hasPortcullisCode(err) ? { code: err.code } : {}),
      fields: { output: sinks[started.length]?.name ?? null }
    }).catch((e: unknown) => logger.error({ err: e }, 'could not record the refused start of a SIEM output'))
    throw err
  }
  const configured = JSON.stringify(settings)
  policy.on('reload', (outcome) => {
    if (outcome.ok && outcome.changed && JSON.stringify(policy.current.outputs) !== configured) {
      logger.warn('outputs changed in the policy: restart portcullis to apply it (the outputs keep running as they started)')
    }
  })
  return started
}
